"""What defines a training run: :class:`TrainConfig` and its validation.

Every field has a default; :meth:`TrainConfig.validate` checks names against their registries
(model, preset, schedule, loss, device: an unknown one raises
:class:`~pdeforge.errors.UnknownNameError` listing the valid ones) and ranges (an out-of-range
value raises :class:`~pdeforge.errors.InvalidValueError`):

* ``epochs``, ``batch_size``: integers >= 1; ``n_train``, ``eval_batch_size``: ``None`` or an
  integer >= 1; ``num_workers``: an integer >= 0 (``True``/``False`` are not integers here);
* ``lr``: a finite number > 0; ``weight_decay``: a number >= 0;
* ``model_config``: a dict whose keys are configuration keys of the chosen model.

``online``: ``None`` (default) trains on the stored train split; a dict of online-training
settings (:data:`pdeforge.baselines.online.ONLINE_DEFAULTS`, e.g. ``{"buffer": 512}``; ``{}`` =
all defaults) trains on samples streamed from the solvers instead. :meth:`TrainConfig.validate`
completes it with the defaults (:func:`pdeforge.baselines.online.validate_online`). It is a field
(not a subclass) so that everything that records, rebuilds or compares a run -- run.json's
``train_config``, a leaderboard ``[training]`` table, ``pdeforge reproduce --retrain`` -- handles
online and offline runs alike: ``TrainConfig(**recorded)`` is the run again, online when the
record says so (its seed range and buffer settings included).

``pdeforge train`` (:mod:`pdeforge.baselines.commands`) builds a TrainConfig from ``key=value``
words; a leaderboard submission's ``[training]`` table is a TrainConfig without ``root``,
``out_dir`` and ``progress`` (:mod:`pdeforge.contracts.training`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from pdeforge.baselines.registry import get_model_class, list_models
from pdeforge.errors import InvalidValueError, UnknownNameError

__all__ = ["TrainConfig", "PRESETS", "SCHEDULES", "LOSSES", "DEVICES"]

PRESETS = ("default", "full")
SCHEDULES = ("cosine", "onecycle")
LOSSES = ("rel_l2", "mse")
DEVICES = ("auto", "cpu", "cuda")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class TrainConfig:
    """Everything that defines a training run (see :func:`pdeforge.baselines.train.train`)."""

    #: dataset name (or a config directory with a manifest)
    dataset: str = "condiff"
    #: config name; ``None`` works when the dataset has exactly one generated config
    config: str | None = None
    #: registry name of the model (:func:`pdeforge.baselines.list_models`)
    model: str = "fno"
    #: base model configuration, ``"default"`` (small) or ``"full"`` (paper size)
    preset: str = "default"
    #: overrides of single model configuration keys, e.g. ``{"width": 32, "modes": 12}``
    model_config: dict[str, Any] = field(default_factory=dict)
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    #: per-step learning-rate schedule, ``"cosine"`` or ``"onecycle"``
    schedule: str = "cosine"
    #: ``"rel_l2"`` (de-normalised, per sample) or ``"mse"`` (normalised)
    loss: str = "rel_l2"
    seed: int = 0
    #: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``
    device: str = "auto"
    #: bf16 autocast; ``None`` = on for CUDA, off on the CPU
    amp: bool | None = None
    num_workers: int = 0
    #: data root (default ``$PDEFORGE_DATA`` or ``./data``)
    root: str | None = None
    #: output directory; default ``runs/<dataset>/<config>/<model>``
    out_dir: str | None = None
    #: coarser grid for inputs and targets (the loader's ``resolution=``); predictions are only
    #: written at the stored resolution
    resolution: int | None = None
    #: use only the first ``n_train`` training samples
    n_train: int | None = None
    #: batch size of validation, test prediction and inference timing (default: batch_size)
    eval_batch_size: int | None = None
    #: the predictions' ``model`` attribute; default ``"<model>-<preset>"``
    label: str | None = None
    #: show a tqdm progress bar
    progress: bool = True
    #: online training (module docstring): ``None`` = the stored train split; a dict of online
    #: settings (missing keys: defaults) = samples streamed from the solvers
    online: dict[str, Any] | None = None

    @property
    def is_online(self) -> bool:
        return self.online is not None

    def validate(self) -> "TrainConfig":
        """Check names and ranges (module docstring); lower-cases ``model``; returns ``self``."""
        if str(self.model).lower() not in list_models():
            raise UnknownNameError("model", str(self.model), list_models())
        self.model = str(self.model).lower()
        for kind, value, known in (("preset", self.preset, PRESETS), ("schedule", self.schedule, SCHEDULES),
                                   ("loss", self.loss, LOSSES), ("device", self.device, DEVICES)):
            if value not in known:
                raise UnknownNameError(kind, str(value), known)
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise InvalidValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("n_train", "eval_batch_size"):
            v = getattr(self, name)
            if v is not None and (not _is_int(v) or v < 1):
                raise InvalidValueError(f"{name} must be an integer >= 1 or None, got {v!r}")
        if not _is_int(self.num_workers) or self.num_workers < 0:
            raise InvalidValueError(f"num_workers must be an integer >= 0, got {self.num_workers!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidValueError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise InvalidValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not isinstance(self.model_config, dict):
            raise InvalidValueError(f"model_config must be a dict, got {type(self.model_config).__name__}")
        keys = get_model_class(self.model).config_keys()
        unknown = sorted(set(self.model_config) - set(keys))
        if unknown:
            raise UnknownNameError(f"{self.model} config key", unknown[0], keys)
        if self.online is not None:
            from pdeforge.baselines.online import validate_online

            self.online = validate_online(self.online, self.batch_size)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

