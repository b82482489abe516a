"""Where and how reproducibly a run executes: device, bf16 autocast, seeds, deterministic mode.

* **Device.** ``"auto"`` takes CUDA when torch sees a device, else the CPU; ``"cuda"`` without
  a CUDA device is an error. ``amp=None`` (auto) means bf16 autocast on CUDA and full float32
  on the CPU (bf16 needs no loss scaling).
* **Reproducibility.** :func:`seed_everything` seeds ``random``, ``numpy`` and ``torch``;
  :func:`deterministic` turns on ``torch.use_deterministic_algorithms(True, warn_only=True)``
  and turns off cuDNN autotuning for the duration of a run and restores the caller's settings
  afterwards. With the model initialised from the seed and the shuffle order drawn from a
  generator seeded with it, two CPU runs with the same seed give identical weights and metrics.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from pdeforge.baselines.config import DEVICES
from pdeforge.errors import InvalidValueError, UnknownNameError

__all__ = ["seed_everything", "resolve_device", "resolve_amp", "deterministic", "autocast"]


def seed_everything(seed: int) -> None:
    """Seed ``random``, ``numpy`` (``seed mod 2**32``) and ``torch`` (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA if available else CPU; ``"cpu"``; ``"cuda"`` (refused without CUDA)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidValueError("device='cuda' requested but torch sees no CUDA device")
    if device not in DEVICES:
        raise UnknownNameError("device", str(device), DEVICES)
    return torch.device(device)


def resolve_amp(device: torch.device, amp: bool | None) -> bool:
    """bf16 autocast: ``amp`` when given, else on for CUDA and off elsewhere."""
    return (device.type == "cuda") if amp is None else bool(amp)


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic algorithms (warn-only) and no cuDNN autotuning inside; restored on exit.

    On CUDA, ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` is set unless already set (cuBLAS needs it for
    deterministic GEMMs; it only takes effect before cuBLAS' first use in the process)."""
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on ``device`` when ``amp``, else an explicitly disabled autocast."""
    if not amp:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
