"""Name -> class registry of the pdeforge baseline models.

Usage::

    from pdeforge.baselines import build_model, list_models

    list_models()                      # ['deeponet', 'dilresnet', 'ffn', 'fno', 'resnet', 'unet']
    model = build_model("fno", c_in=2, c_out=1)                 # small default config
    model = build_model("fno", 2, 1, preset="full")             # paper-size config
    model = build_model("fno", 2, 1, width=32, modes=12)        # override keys
    model = build_model("unet", 2, 1, seed=0)                   # reproducible init

A model class registers itself with the :func:`register_model` decorator and
must subclass :class:`~pdeforge.baselines.common.BaselineModel`, i.e. take
``(c_in, c_out, **config)`` and declare ``default_config`` and ``full_config``
with identical keys.

:data:`MODELS` is a :class:`pdeforge.registry.Registry` like every other registry of the
project (dataset families, backends, executors): looking up an unknown name raises
:class:`~pdeforge.errors.UnknownNameError` (a ``ValueError``) listing the known ones.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import torch

from pdeforge.errors import UnknownNameError
from pdeforge.registry import Registry

from .common import BaselineModel

__all__ = [
    "MODELS",
    "register_model",
    "build_model",
    "list_models",
    "get_model_class",
    "count_parameters",
]

#: registry name -> model class
MODELS: Registry[type[BaselineModel]] = Registry("model")

_RESERVED_KEYS = frozenset({"name", "c_in", "c_out", "preset", "seed"})

T = TypeVar("T", bound=type)


def register_model(name: str) -> Callable[[T], T]:
    """Class decorator registering a :class:`BaselineModel` subclass under ``name``."""
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"model names must be non-empty lower-case strings, got {name!r}")

    def decorator(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, BaselineModel)):
            raise TypeError(f"@register_model({name!r}) needs a BaselineModel subclass, got {cls!r}")
        if name in MODELS:
            if MODELS.get(name) is cls:  # the same class twice: nothing to do
                return cls
            raise ValueError(f"model name {name!r} is already registered to {MODELS.get(name).__name__}")
        default_keys, full_keys = set(cls.default_config), set(cls.full_config)
        if default_keys != full_keys:
            raise TypeError(
                f"{cls.__name__}: default_config and full_config must have the same keys "
                f"(only in default: {sorted(default_keys - full_keys)}, "
                f"only in full: {sorted(full_keys - default_keys)})"
            )
        clash = sorted(default_keys & _RESERVED_KEYS)
        if clash:
            raise TypeError(f"{cls.__name__}: config keys {clash} are reserved by build_model")
        cls.model_name = name
        return MODELS.register(name)(cls)

    return decorator


def list_models() -> list[str]:
    """Sorted names of all registered models."""
    return MODELS.names()


def get_model_class(name: str) -> type[BaselineModel]:
    """The class registered under ``name`` (case-insensitive); an unknown name raises
    :class:`~pdeforge.errors.UnknownNameError` listing the registered models."""
    key = name.lower() if isinstance(name, str) else name
    if key not in MODELS:
        raise UnknownNameError("model", str(name), MODELS.names())
    return MODELS.get(key)


def build_model(
    name: str,
    c_in: int,
    c_out: int,
    *,
    preset: str = "default",
    seed: int | None = None,
    **config: Any,
) -> BaselineModel:
    """Instantiate the registered model ``name`` for ``c_in`` -> ``c_out`` fields.

    ``preset`` selects the base configuration, ``"default"`` (small, CPU-test
    size) or ``"full"`` (paper size); keyword arguments override single keys of
    it.  An unknown ``name`` (:class:`~pdeforge.errors.UnknownNameError`) or an
    unknown config key raises a ``ValueError`` naming the valid choices.  With ``seed`` given, parameters are initialised
    from ``torch.manual_seed(seed)`` inside a forked RNG, so the global RNG
    state is left untouched and the result does not depend on it.
    """
    cls = get_model_class(name)
    resolved = cls.resolve_config(config, preset=preset)
    if seed is None:
        return cls(c_in, c_out, **resolved)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return cls(c_in, c_out, **resolved)


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
