r"""Autoregressive test rollout for time-series datasets served in mode ``rollout``.

Training and validation on a rollout dataset are one-step and teacher-forced: every window
``(frames t-H+1 .. t) -> (frames t+1 .. t+F)`` of the stored truth is a sample, and model
selection uses the teacher-forced one-step ``val_rel_l2`` (:mod:`pdeforge.baselines.loop`,
unchanged). Predicting the **test** split that way would score the model on inputs it never has
at inference time, so :func:`rollout_test` predicts every test case from its initial state alone:

1. the model gets the stored frames ``0 .. H-1`` of the case (``H`` = the loader's ``history``)
   and its static input channels (case parameters broadcast to channels, static fields), exactly
   as the loader serves window 0 (raw values, then the run's ``normalize_x``: the train
   statistics);
2. its output (``F`` = ``horizon`` frames of every target, normalised) is de-normalised with the
   train statistics (``denormalize_y``, float64), solid cells are set to 0 where the split has a
   fluid mask (``solid="zero"``, the stored value there; ``"keep"`` leaves the model's values),
   the frames are stored in the trajectory and fed back, cast to float32 as the loader serves
   stored frames, as the newest history frames (the oldest drop out); the static channels stay
   the case's own, unchanged;
3. repeated until the last stored frame ``T-1`` is predicted (with ``F > 1`` the last call may
   predict past ``T-1``; the extra frames are dropped).

**Divergence.** An untrained or unstable model can blow up in a long rollout, and a predictions
file must be finite. A predicted frame of a case *diverges* when it holds a non-finite value or
one of magnitude above :data:`DIVERGED` (1e30, finite in float32 with finite float64 squares);
from that frame on the case is frozen: that frame and every later one hold the case's last
non-diverged frame (its last given frame when the first prediction diverges), so the file stays
scoreable and the errors stay those of the blown-up state. ``run.json`` records the frame at
which each case diverged (``diverged_at_frame``, ``null`` = never).

History ``H >= 1`` and horizon ``F >= 1`` are both supported (the trainer's loader uses the
defaults ``H = F = 1``). Feeding back needs every time-dependent input variable to be a target
(the (u, v) -> (u, v) tasks of the CFD cards); a task whose time-dependent inputs are not all
predicted is refused with the variables named.

What is written and scored
--------------------------
The predictions file holds the full trajectory of every target, dims ``(sample, t, *grid)`` as
in the test split, with ``rollout_start = H``: frames ``0 .. H-1`` are the given initial state
(copied from the truth where a target is also an input, else 0) and the scorer ignores them
(:mod:`pdeforge.contracts.predictions`). The numbers recorded in ``run.json`` use the scorer's
definitions (:mod:`pdeforge.contracts.metrics`) on the predicted frames ``H .. T-1`` with the
fluid mask, against the loader's raw float32 test targets:

* ``test_rel_l2``: per (case, target, step) ``rel_l2``, the mean over targets and steps per
  case, then over cases (the board's ``rel_l2``);
* the ``rollout`` section (:func:`rollout_record`): ``rollout_rel_l2`` (space-time rel-L2 per
  (case, target), mean), ``steps_to_threshold`` (leading steps with per-step ``rel_l2 <= 0.1``,
  mean over (case, target)), the per-step curve (mean over cases and targets), and for
  comparison the teacher-forced one-step test rel-L2 (every test window predicted from the
  stored truth, as val is).

``inference_seconds_per_sample`` of a rollout run is the wall time of the whole rollout of one
case (all ``ceil((T-H)/F)`` model calls, normalisation and feedback included; one warm-up
forward first), so the ``speedup`` compares a case's solve with a case's rollout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdeforge.baselines.evaluation import predict, rel_l2_per_sample
from pdeforge.baselines.runtime import autocast
from pdeforge.errors import InvalidValueError, UnknownNameError

__all__ = ["SOLID", "Rollout", "is_rollout", "rollout_plan", "autoregressive_rollout",
           "rollout_test", "rollout_scores", "rollout_record", "write_rollout_predictions"]

#: what happens to solid cells of the fed-back frames: "zero" (the stored value) or "keep"
SOLID = ("zero", "keep")
#: a predicted frame with a non-finite value or one of magnitude above this has diverged
DIVERGED = 1e30


def is_rollout(ds) -> bool:
    """Whether a loader dataset serves autoregressive windows (mode ``rollout``)."""
    return getattr(ds, "mode", None) == "rollout"


@dataclass
class _Plan:
    H: int                 # history frames in x
    F: int                 # horizon frames in y
    V: int                 # time-dependent input variables per frame
    W: int                 # targets per frame
    feed: list[int]        # feed[k]: the target index that becomes time input k
    given: dict[int, int]  # target index -> time-input index it is given as (frames 0..H-1)
    n_frames: int


def rollout_plan(ds) -> _Plan:
    """The channel layout of a rollout dataset (:mod:`pdeforge.datasets.loader`, "Rollout mode"):
    x = ``H`` frames of the ``V`` time-dependent inputs (frame-major) + static channels, y = ``F``
    frames of the ``W`` targets; refuses a task whose time inputs are not all targets."""
    if not is_rollout(ds):
        raise InvalidValueError(f"autoregressive rollout needs a dataset in mode 'rollout'; got {ds.mode!r}")
    H, F = int(ds.history), int(ds.horizon)
    targets = list(ds.targets)
    # the loader names the newest frame's channels "<var>[t]" (older ones "<var>[t-1]", ...)
    V = sum(1 for c in ds.x_channels if c.endswith("[t]"))
    tin = list(ds._x_vars[:V])
    missing = [v for v in tin if v not in targets]
    if missing:
        raise InvalidValueError(f"autoregressive rollout feeds predictions back as inputs, but the "
                                f"time-dependent input(s) {', '.join(missing)} are not targets "
                                f"(targets: {', '.join(targets)})")
    feed = [targets.index(v) for v in tin]
    given = {targets.index(v): k for k, v in enumerate(tin)}
    return _Plan(H, F, V, len(targets), feed, given, int(ds.n_frames))


@torch.no_grad()
def autoregressive_rollout(model: torch.nn.Module, x0: np.ndarray, plan: _Plan, *,
                           normalize_x: Callable, denormalize_y: Callable, device: torch.device,
                           amp: bool = False, mask: np.ndarray | None = None, solid: str = "zero",
                           batch_size: int = 32, diverged: np.ndarray | None = None) -> np.ndarray:
    """Roll ``model`` out from the raw window-0 inputs ``x0`` ``(N, C_in, *grid)`` (module
    docstring); returns the physical trajectory ``(N, T, W, *grid)`` float64, frames
    ``0 .. H-1`` the given ones (targets that are inputs; 0 otherwise). ``diverged`` (an
    ``(N,)`` integer array, optional) receives the frame at which each case diverged, -1 for
    none (module docstring, "Divergence")."""
    if solid not in SOLID:
        raise UnknownNameError("solid", solid, SOLID)
    model.eval()
    H, F, V, W, T = plan.H, plan.F, plan.V, plan.W, plan.n_frames
    x0 = np.asarray(x0, dtype=np.float32)
    N, grid = x0.shape[0], x0.shape[2:]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (N, 1, *grid):
            raise InvalidValueError(f"mask shape {mask.shape}; expected {(N, 1, *grid)}")
    traj = np.zeros((N, T, W, *grid), dtype=np.float64)
    hist0 = x0[:, :H * V].reshape(N, H, V, *grid)
    for j, k in plan.given.items():
        traj[:, :H, j] = hist0[:, :, k]
    feed = np.asarray(plan.feed)
    dead = np.full(N, -1, dtype=np.int64)
    for b0 in range(0, N, batch_size):
        sl = slice(b0, min(N, b0 + batch_size))
        hist = hist0[sl].copy()                  # (B, H, V, *grid) float32, physical
        static = x0[sl, H * V:]                  # (B, S, *grid), fixed for the whole rollout
        fluid = None if mask is None or solid == "keep" else mask[sl][:, None] != 0  # (B, 1, 1, *grid)
        B = hist.shape[0]
        held = traj[sl, H - 1].copy()            # (B, W, *grid): the frame a diverged case keeps
        gone = dead[sl]                          # a view: written through
        t = H
        while t < T:
            x = np.concatenate([hist.reshape(B, H * V, *grid), static], axis=1)
            xn = normalize_x(torch.from_numpy(x))
            with autocast(device, amp):
                out = model(xn.to(device))
            phys = np.asarray(denormalize_y(out.float().cpu().numpy().astype(np.float64)))
            phys = phys.reshape(B, F, W, *grid)
            if fluid is not None:
                phys = np.where(fluid, phys, 0.0)
            for f in range(F):
                frame = phys[:, f]
                ok = (np.isfinite(frame) & (np.abs(frame) <= DIVERGED)).reshape(B, -1).all(axis=1)
                gone[(~ok) & (gone < 0) & (t + f < T)] = t + f
                frozen = (gone >= 0).reshape((B,) + (1,) * (frame.ndim - 1))
                phys[:, f] = held = np.where(frozen, held, frame)
            n = min(F, T - t)
            traj[sl, t:t + n] = phys[:, :n]
            new = phys[:, :, feed].astype(np.float32)  # (B, F, V, *grid)
            hist = np.concatenate([hist, new], axis=1)[:, -H:]
            t += F
    if diverged is not None:
        diverged[...] = dead
    return traj


@dataclass
class Rollout:
    """What :func:`rollout_test` returns."""

    #: ``(N, T, W, *grid)`` float64 physical trajectory (frames < rollout_start: given)
    pred: np.ndarray
    #: ``(N, T, W, *grid)`` float32 raw test targets (frames < rollout_start: from the inputs)
    truth: np.ndarray
    #: ``(N, 1, *grid)`` fluid mask or None
    mask: np.ndarray | None
    #: ``(N,)`` the test split's sample indices
    sample_ids: np.ndarray
    rollout_start: int
    plan: _Plan
    #: wall seconds of the rollout of all N cases (after one warm-up forward)
    seconds: float
    #: teacher-forced one-step rel-L2 on every test window (as val)
    one_step_rel_l2: float
    #: ``(N,)`` frame at which each case diverged, -1 for none (module docstring)
    diverged: np.ndarray | None = None
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def test_rel_l2(self) -> float:
        return self.scores["rel_l2"]

    @property
    def inference_seconds_per_sample(self) -> float:
        return self.seconds / len(self.sample_ids)


def rollout_test(model: torch.nn.Module, test_ds, test_loader, *, normalize_x: Callable,
                 denormalize_y: Callable, device: torch.device, amp: bool, batch_size: int,
                 solid: str = "zero") -> Rollout:
    """Predict the test split autoregressively (module docstring). ``test_ds`` is the raw
    (``normalize=False``) rollout test dataset, ``test_loader`` its unshuffled loader."""
    plan = rollout_plan(test_ds)
    nw, N = int(test_ds.n_windows), int(test_ds.n_samples)
    H, F, W, T = plan.H, plan.F, plan.W, plan.n_frames
    # teacher-forced pass: the one-step test number, and the raw truth of every window
    tf = predict(model, test_loader, device, amp, normalize_x=normalize_x)
    one_step = np.asarray(denormalize_y(tf.out.astype(np.float64)))
    one_step_rel = float(np.mean(rel_l2_per_sample(one_step, tf.y.astype(np.float64), tf.mask)))
    grid = tf.y.shape[2:]
    y = tf.y.reshape(N, nw, F, W, *grid)
    truth = np.zeros((N, T, W, *grid), dtype=np.float32)
    truth[:, H:H + nw] = y[:, :, 0]
    truth[:, H + nw:] = y[:, -1, 1:]               # the last window's further frames (F > 1)
    mask = None if tf.mask is None else tf.mask.reshape(N, nw, 1, *grid)[:, 0]
    # window 0 of every case, raw
    first = [s * nw for s in range(N)]
    x0 = np.stack([test_ds[i][0].numpy() for i in first])
    hist0 = x0[:, :H * plan.V].reshape(N, H, plan.V, *grid)
    for j, k in plan.given.items():
        truth[:, :H, j] = hist0[:, :, k]
    sample_ids = np.array([test_ds.sample_id(i) for i in first], dtype=np.int64)
    # warm-up forward (allocator, FFT plans), then the timed rollout
    model.eval()
    with torch.no_grad(), autocast(device, amp):
        model(normalize_x(torch.from_numpy(x0[:1])).to(device))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    diverged = np.full(N, -1, dtype=np.int64)
    pred = autoregressive_rollout(model, x0, plan, normalize_x=normalize_x, denormalize_y=denormalize_y,
                                  device=device, amp=amp, mask=mask, solid=solid, batch_size=batch_size,
                                  diverged=diverged)
    sync()
    seconds = time.perf_counter() - t0
    ro = Rollout(pred, truth, mask, sample_ids, H, plan, seconds, one_step_rel, diverged=diverged)
    ro.scores = rollout_scores(pred, truth, mask, H)
    return ro


def rollout_scores(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None,
                   rollout_start: int) -> dict[str, Any]:
    """The scorer's numbers (module docstring) of trajectories ``(N, T, W, *grid)`` over the
    predicted frames ``rollout_start .. T-1``: ``rel_l2`` (board mean), ``rollout_rel_l2``,
    ``steps_to_threshold`` (means over cases and targets) and the per-step ``curve``."""
    from pdeforge.contracts.metrics import rel_l2, rollout_rel_l2, steps_to_threshold

    s = int(rollout_start)
    p = np.moveaxis(np.asarray(pred, dtype=np.float64)[:, s:], 2, 1)   # (N, W, K, *grid)
    y = np.moveaxis(np.asarray(truth, dtype=np.float64)[:, s:], 2, 1)
    ns = p.ndim - 3
    m = None if mask is None else np.asarray(mask)[:, :, None]          # (N, 1, 1, *grid)
    per_step = np.asarray(rel_l2(p, y, ndim_space=ns, mask=m))          # (N, W, K)
    roll = np.asarray(rollout_rel_l2(p, y, ndim_space=ns, mask=m))      # (N, W)
    steps = np.asarray(steps_to_threshold(p, y, ndim_space=ns, mask=m))  # (N, W)
    curve = per_step.mean(axis=(0, 1))
    return {
        "rel_l2": float(per_step.mean(axis=(1, 2)).mean()),
        "rollout_rel_l2": float(roll.mean(axis=1).mean()),
        "steps_to_threshold": float(steps.mean(axis=1).mean()),
        "n_steps": int(p.shape[2]),
        "curve": [float(v) for v in curve],
        "per_case_rollout_rel_l2": [float(v) for v in roll.mean(axis=1)],
    }


def rollout_record(ro: Rollout, solid: str = "zero") -> dict[str, Any]:
    """The ``rollout`` section of ``run.json``."""
    sc = ro.scores
    curve = sc["curve"]
    n_calls = math.ceil((ro.plan.n_frames - ro.plan.H) / ro.plan.F)
    return {
        "method": "autoregressive from the stored frames 0..H-1 of each test case; the model's "
                  "de-normalised outputs fed back (float32, solid cells "
                  f"{'set to 0' if solid == 'zero' else 'kept'}), static channels fixed",
        "model_selection": "teacher-forced one-step val_rel_l2 (best_val_rel_l2)",
        "history": ro.plan.H,
        "horizon": ro.plan.F,
        "rollout_start": ro.rollout_start,
        "n_frames": ro.plan.n_frames,
        "n_steps": sc["n_steps"],
        "model_calls_per_case": n_calls,
        "test_rel_l2": sc["rel_l2"],
        "rollout_rel_l2": sc["rollout_rel_l2"],
        "steps_to_threshold": sc["steps_to_threshold"],
        "test_one_step_rel_l2": ro.one_step_rel_l2,
        "curve_first": curve[0],
        "curve_last": curve[-1],
        "curve": curve,
        "per_case_rollout_rel_l2": sc["per_case_rollout_rel_l2"],
        "rollout_seconds_per_case": ro.inference_seconds_per_sample,
        "diverged_at_frame": [None if ro.diverged is None or d < 0 else int(d)
                              for d in (ro.diverged if ro.diverged is not None else [-1] * len(ro.sample_ids))],
        "diverged_rule": f"a frame with a non-finite value or |value| > {DIVERGED:g}; that case then "
                         "holds its last non-diverged frame",
    }


def write_rollout_predictions(path: Path, ro: Rollout, test_ds, dataset: str, config: str,
                              label: str, root: Path) -> Path:
    """The trajectory as a predictions file: one ``(sample, t, *grid)`` array per target,
    ``rollout_start`` = H (validated like the scorer does before it is renamed into place)."""
    import xarray as xr

    from pdeforge.contracts.predictions import write_predictions as _write

    if list(test_ds.targets) != list(dict.fromkeys(test_ds.targets)):
        raise InvalidValueError(f"repeated target variables {test_ds.targets}")
    dims = ("sample", "t") + tuple(test_ds.grid_dims)
    arrays = {
        name: xr.DataArray(ro.pred[:, :, j].astype(np.float32), dims=dims,
                           coords={"sample": ro.sample_ids})
        for j, name in enumerate(test_ds.targets)
    }
    return Path(_write(path, arrays, dataset, config, label, root=root, rollout_start=ro.rollout_start))
