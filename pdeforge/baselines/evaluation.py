r"""Prediction, the val/test rel-L2, and the inference timing.

Metric
------
``val_rel_l2`` and ``test_rel_l2`` use :func:`pdeforge.contracts.metrics.rel_l2` on
de-normalised arrays in float64: one value per (sample, target field), the mean over the fields
of a sample, then the mean over samples -- the leaderboard's per-sample aggregation, so
``test_rel_l2`` is the number the scorer reports as the mean ``rel_l2`` (for one target field it
is also exactly the training loss' definition, :mod:`pdeforge.baselines.losses`). With a fluid
mask ``m`` (``(N, 1, *grid)``, 1 = fluid) the per-(sample, field) value is over fluid points only,

.. math:: \frac{\lVert m \cdot (p - y) \rVert_2}{\lVert m \cdot y \rVert_2},

i.e. ``rel_l2`` of ``m·p`` against ``m·y``. The test truth is the loader's raw
(un-normalised) float32 targets, not a normalise/de-normalise round trip. Predictions keep the
full field, solid cells included: the scorer applies the mask.

Inference timing
----------------
``inference_seconds_per_sample`` is the wall time of the model's forward pass on the test inputs
already on the device, batched with ``batch_size`` (``eval_batch_size`` if set), after one
warm-up pass, best of several passes, divided by the number of samples (CUDA is synchronised).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from pdeforge.baselines.batches import check_mask, unpack
from pdeforge.baselines.runtime import autocast
from pdeforge.errors import InvalidValueError

__all__ = ["Predicted", "predict", "rel_l2_per_sample", "evaluate_rel_l2", "time_inference"]


class Predicted(NamedTuple):
    """One pass over a loader, as float32 arrays ``(N, C, *grid)``."""

    #: the model input (after ``normalize_x`` when given)
    x: np.ndarray
    #: the model output, still normalised
    out: np.ndarray
    #: the loader's target, as it came (normalised or raw, as the loader serves it)
    y: np.ndarray
    #: ``(N, 1, *grid)`` fluid mask, or ``None`` when the loader yields none
    mask: np.ndarray | None


@torch.no_grad()
def predict(model: torch.nn.Module, loader, device: torch.device, amp: bool,
            normalize_x: Callable | None = None) -> Predicted:
    """One pass over ``loader`` (2- or 3-element batches) in eval mode; see :class:`Predicted`."""
    model.eval()
    xs, outs, ys, masks = [], [], [], []
    for batch in loader:
        x, y, m = unpack(batch)
        if normalize_x is not None:
            x = normalize_x(x)
        xd = x.to(device, non_blocking=True)
        with autocast(device, amp):
            out = model(xd)
        xs.append(x.float().cpu().numpy())
        outs.append(out.float().cpu().numpy())
        ys.append(y.float().cpu().numpy())
        masks.append(None if m is None else check_mask(m, y).float().cpu().numpy())
    if any(m is None for m in masks) and not all(m is None for m in masks):
        raise InvalidValueError("some batches carry a mask and others do not")
    mask = None if not masks or masks[0] is None else np.concatenate(masks)
    return Predicted(np.concatenate(xs), np.concatenate(outs), np.concatenate(ys), mask)


def rel_l2_per_sample(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-sample rel-L2 (module docstring): ``(N, C, *grid)`` → ``(N,)``, the mean over fields of
    :func:`pdeforge.contracts.metrics.rel_l2`, on ``m·pred`` and ``m·truth`` with a mask."""
    from pdeforge.contracts.metrics import rel_l2

    if mask is not None:
        m = check_mask(mask, pred).astype(pred.dtype)
        pred, truth = pred * m, truth * m
    ndim_space = pred.ndim - 2
    per_field = np.asarray(rel_l2(pred, truth, ndim_space=ndim_space))  # (N, C)
    return per_field.mean(axis=1)


def evaluate_rel_l2(model, loader, device, amp, denormalize) -> float:
    """Mean per-sample rel-L2 of the de-normalised predictions on ``loader`` (normalised x, y)."""
    res = predict(model, loader, device, amp)
    pred = np.asarray(denormalize(res.out.astype(np.float64)))
    truth = np.asarray(denormalize(res.y.astype(np.float64)))
    return float(np.mean(rel_l2_per_sample(pred, truth, res.mask)))


@torch.no_grad()
def time_inference(model: torch.nn.Module, x: np.ndarray, device: torch.device, amp: bool,
                   batch_size: int, min_seconds: float = 0.5, max_repeats: int = 20) -> float:
    """Seconds per sample of the batched forward pass over ``x`` (already on-device inputs).

    One warm-up pass, then passes until ``min_seconds`` have elapsed (at least 2, at most
    ``max_repeats``); the fastest pass counts.
    """
    model.eval()
    xd = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    n = xd.shape[0]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def one_pass() -> float:
        sync()
        t0 = time.perf_counter()
        for i in range(0, n, batch_size):
            with autocast(device, amp):
                model(xd[i:i + batch_size])
        sync()
        return time.perf_counter() - t0

    one_pass()  # warm-up: allocator, cuFFT plans, kernel selection
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 2 or (time.perf_counter() - start < min_seconds and len(times) < max_repeats):
        times.append(one_pass())
    return min(times) / n
