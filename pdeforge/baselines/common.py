"""Shared building blocks for the pdeforge baseline models.

Every baseline maps a batch of input fields ``(batch, c_in, nx, ny)`` to a
batch of output fields ``(batch, c_out, nx, ny)`` on the same 2-D grid.  This
module holds what the individual models have in common:

* :class:`BaselineModel` -- the ``nn.Module`` base class that stores the
  resolved configuration and validates configuration keys against the
  class-level ``default_config``;
* :func:`coordinate_grid` -- the ``(x, y)`` coordinates of an ``nx x ny`` grid
  on the unit square ``[0, 1]^2`` (node-based, both end points included, i.e.
  ``x_i = i / (nx - 1)``), used by the models that see coordinates (FNO, FFN,
  DeepONet's trunk);
* :func:`make_activation` / :func:`make_norm` -- small factories so that the
  activation and normalisation are plain, serialisable config strings.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

__all__ = [
    "BaselineModel",
    "coordinate_grid",
    "make_activation",
    "make_norm",
    "ACTIVATIONS",
    "NORMS",
]


ACTIVATIONS = ("gelu", "relu", "silu", "tanh", "elu", "identity")
NORMS = ("none", "group", "instance", "layer", "batch")


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module for the config string ``name``."""
    key = str(name).lower()
    if key == "gelu":
        return nn.GELU()
    if key == "relu":
        return nn.ReLU()
    if key == "silu":
        return nn.SiLU()
    if key == "tanh":
        return nn.Tanh()
    if key == "elu":
        return nn.ELU()
    if key == "identity":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}; choose one of {list(ACTIVATIONS)}")


def _num_groups(channels: int, max_groups: int = 8) -> int:
    """Largest divisor of ``channels`` that is at most ``max_groups``."""
    for g in range(min(max_groups, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1


def make_norm(name: str, channels: int) -> nn.Module:
    """Return a 2-D normalisation layer for ``channels`` feature maps.

    ``"group"`` uses up to 8 groups (the largest divisor of ``channels`` that is
    at most 8), ``"layer"`` is GroupNorm with a single group (normalises over
    channels and space), ``"instance"`` is an affine InstanceNorm2d,
    ``"batch"`` is BatchNorm2d and ``"none"`` is the identity.
    """
    key = str(name).lower()
    if key == "none":
        return nn.Identity()
    if key == "group":
        return nn.GroupNorm(_num_groups(channels), channels)
    if key == "layer":
        return nn.GroupNorm(1, channels)
    if key == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if key == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm {name!r}; choose one of {list(NORMS)}")


def coordinate_grid(
    nx: int,
    ny: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Coordinates of an ``nx x ny`` grid on ``[0, 1]^2`` as a ``(2, nx, ny)`` tensor.

    Channel 0 is ``x`` (varies along dim ``nx``), channel 1 is ``y`` (varies
    along dim ``ny``).  The grid is node-based: ``x_i = i / (nx - 1)`` with both
    end points included (a single point sits at 0).
    """
    x = torch.linspace(0.0, 1.0, nx, device=device, dtype=dtype)
    y = torch.linspace(0.0, 1.0, ny, device=device, dtype=dtype)
    gx, gy = torch.meshgrid(x, y, indexing="ij")
    return torch.stack([gx, gy], dim=0)


def check_field_input(x: torch.Tensor, c_in: int, model_name: str) -> None:
    """Raise a clear error unless ``x`` is a ``(batch, c_in, nx, ny)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model_name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{model_name}: expected input of shape (batch, c_in, nx, ny), got {tuple(x.shape)}"
        )
    if x.shape[1] != c_in:
        raise ValueError(
            f"{model_name}: expected {c_in} input channels, got {x.shape[1]} "
            f"(input shape {tuple(x.shape)})"
        )


class BaselineModel(nn.Module):
    """Base class of all baselines: ``(batch, c_in, nx, ny) -> (batch, c_out, nx, ny)``.

    Subclasses declare two class attributes with the *same* keys:

    ``default_config``
        a small configuration that runs in seconds on a CPU (used by the tests);
    ``full_config``
        the documented full-size configuration used in the reference papers.

    The constructor signature is ``Model(c_in, c_out, **config)``; missing keys
    are taken from ``default_config`` and unknown keys raise ``ValueError``.
    The resolved configuration is stored in ``self.config`` (a plain dict) so a
    model can be rebuilt with ``build_model(name, c_in, c_out, **model.config)``.
    """

    #: registry name, filled in by :func:`pdeforge.baselines.registry.register_model`
    model_name: ClassVar[str] = ""
    default_config: ClassVar[dict[str, Any]] = {}
    full_config: ClassVar[dict[str, Any]] = {}

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__()
        for label, value in (("c_in", c_in), ("c_out", c_out)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}: {label} must be a positive int, got {value!r}")
        self.c_in = int(c_in)
        self.c_out = int(c_out)
        self.config = self.resolve_config(config)

    @classmethod
    def config_keys(cls) -> tuple[str, ...]:
        return tuple(cls.default_config)

    @classmethod
    def resolve_config(
        cls, overrides: Mapping[str, Any] | None = None, preset: str = "default"
    ) -> dict[str, Any]:
        """Merge ``overrides`` into the ``preset`` ("default" or "full") config.

        Raises ``ValueError`` naming the offending and the valid keys when an
        override is not a known configuration key.
        """
        overrides = dict(overrides or {})
        if preset == "default":
            base = cls.default_config
        elif preset == "full":
            base = cls.full_config
        else:
            raise ValueError(f"unknown config preset {preset!r}; choose 'default' or 'full'")
        name = cls.model_name or cls.__name__
        unknown = sorted(set(overrides) - set(cls.default_config))
        if unknown:
            raise ValueError(
                f"unknown config key(s) {unknown} for model {name!r}; "
                f"valid keys are {sorted(cls.default_config)}"
            )
        cfg = copy.deepcopy(dict(base))
        cfg.update(copy.deepcopy(overrides))
        return cfg

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) scalar parameters; a complex weight counts as 2."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def extra_repr(self) -> str:
        return f"c_in={self.c_in}, c_out={self.c_out}"
