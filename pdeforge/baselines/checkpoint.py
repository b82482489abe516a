"""The checkpoint of a run: the best-on-val model state and what is needed to rebuild it.

``checkpoint.pt`` (``torch.save`` of a dict, written atomically with
:func:`pdeforge.atomic.atomic_path`) holds ``format`` (:data:`CHECKPOINT_FORMAT`),
``model_name``, ``model_config`` (resolved), ``c_in``, ``c_out``, ``x_channels``,
``y_channels``, ``train_config``, ``dataset``, ``config``, ``content_key`` (the run's header,
:func:`checkpoint_header`) and, per save, ``epoch`` (1-based), ``best_val_rel_l2`` and
``model_state`` (CPU tensors). :func:`load_checkpoint` rebuilds the model from it alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pdeforge.atomic import atomic_path
from pdeforge.baselines.registry import build_model
from pdeforge.errors import InvalidValueError

__all__ = ["CHECKPOINT_FORMAT", "checkpoint_header", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "pdeforge-checkpoint/1"


def checkpoint_header(model: torch.nn.Module, *, model_name: str, x_channels, y_channels,
                      train_config: dict[str, Any], dataset: str, config: str,
                      content_key: str) -> dict[str, Any]:
    """The part of every checkpoint of a run that does not change between epochs."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model_name": model_name,
        "model_config": dict(model.config),
        "c_in": len(x_channels),
        "c_out": len(y_channels),
        "x_channels": list(x_channels),
        "y_channels": list(y_channels),
        "train_config": train_config,
        "dataset": dataset,
        "config": config,
        "content_key": content_key,
    }


def save_checkpoint(path: str | Path, header: dict[str, Any], model: torch.nn.Module, *,
                    epoch: int, best_val_rel_l2: float) -> Path:
    """Write ``header`` + ``epoch``, ``best_val_rel_l2`` and a CPU copy of the model state."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({**header, "epoch": epoch, "best_val_rel_l2": best_val_rel_l2, "model_state": state}, tmp)
    return Path(path)


def load_checkpoint(path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint; returns ``(model in eval mode, checkpoint dict)``."""
    ckpt = torch.load(Path(path), map_location=device, weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InvalidValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    model = build_model(ckpt["model_name"], ckpt["c_in"], ckpt["c_out"], **ckpt["model_config"])
    model.load_state_dict(ckpt["model_state"])
    return model.to(device).eval(), ckpt
