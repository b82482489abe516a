"""Optimisation and the epoch loop with model selection on the validation split.

* **Optimiser.** AdamW with ``lr`` and ``weight_decay``.
* **Schedule**, stepped once per optimiser step over ``total_steps = epochs × steps per
  epoch``: ``"cosine"`` (cosine annealing from ``lr`` to 0) or ``"onecycle"``
  (``OneCycleLR`` with peak ``lr``).
* **Loss.** Any ``loss(out, y, mask=None)`` (:func:`pdeforge.baselines.losses.make_loss`); a
  non-finite loss stops the run with an error naming the epoch and learning rate.
* **Model selection.** After every epoch the rel-L2 error on the **val split only** is computed
  (:func:`pdeforge.baselines.evaluation.evaluate_rel_l2`, the test metric's definition); each
  epoch that improves on the best so far (the first epoch always does; a NaN never replaces a
  finite best) is handed to ``on_best(epoch, val_rel_l2, model)``, which writes the checkpoint.
  The test split plays no part here.
* **Time.** :attr:`Fit.seconds` is the wall time of the loop: training steps, the per-epoch
  validation and the ``on_best`` calls (checkpoint writes).

* **Hooks** (online and DDP runs, :mod:`pdeforge.baselines.online`,
  :mod:`pdeforge.baselines.distributed`): ``reduce_loss`` maps each step's detached loss to the
  value logged and checked for finiteness (DDP: the mean over ranks, so every rank stops
  together); ``postfix`` adds fields to the progress bar (online: buffer fill, reuse). Without
  them the loop is the plain one, bit for bit.

Batches may be ``(x, y)`` or ``(x, y, mask)`` (:mod:`pdeforge.baselines.batches`): any
DataLoader works, not only one over :class:`~pdeforge.datasets.loader.TorchDataset`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from pdeforge.baselines.batches import unpack
from pdeforge.baselines.config import SCHEDULES
from pdeforge.baselines.evaluation import evaluate_rel_l2
from pdeforge.baselines.runtime import autocast
from pdeforge.errors import InvalidValueError, UnknownNameError

__all__ = ["Fit", "make_optimizer", "make_scheduler", "fit"]


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, schedule: str, total_steps: int, lr: float):
    """Per-step schedule over ``total_steps``: cosine annealing to 0, or one-cycle with peak ``lr``."""
    total_steps = max(1, int(total_steps))
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=0.0)
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps)
    raise UnknownNameError("schedule", str(schedule), SCHEDULES)


@dataclass
class Fit:
    """What :func:`fit` returns."""

    #: per epoch: ``epoch``, ``train_loss`` (mean over steps), ``val_rel_l2``, ``lr`` (at its end)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_rel_l2: float = math.inf
    steps: int = 0
    seconds: float = 0.0
    #: the training loss of every optimiser step, in order (the global batch's under DDP)
    step_losses: list[float] = field(default_factory=list)


def fit(model: torch.nn.Module, train_loader, val_loader, *, epochs: int, lr: float,
        weight_decay: float, schedule: str, loss_fn: Callable[..., torch.Tensor],
        denormalize_y: Callable, device: torch.device, amp: bool,
        on_best: Callable[[int, float, torch.nn.Module], Any] | None = None,
        progress: bool = False, desc: str = "train",
        reduce_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
        postfix: Callable[[], dict[str, Any]] | None = None) -> Fit:
    """Train ``model`` in place for ``epochs`` epochs over ``train_loader``; see the module docstring.

    ``denormalize_y`` maps the loader's normalised targets (and the model's outputs) back to
    physical values for the validation rel-L2.
    """
    from tqdm.auto import tqdm

    total_steps = len(train_loader) * epochs
    opt = make_optimizer(model, lr, weight_decay)
    sched = make_scheduler(opt, schedule, total_steps, lr)
    res = Fit(steps=total_steps)
    bar = tqdm(total=total_steps, desc=desc, unit="step", disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            loss_sum, n_steps = 0.0, 0
            for batch in train_loader:
                x, y, mask = unpack(batch)
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
                if mask is not None:
                    mask = mask.to(device, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                with autocast(device, amp):
                    out = model(x)
                loss = loss_fn(out, y) if mask is None else loss_fn(out, y, mask)
                logged = loss.detach() if reduce_loss is None else reduce_loss(loss.detach())
                if not torch.isfinite(logged):
                    raise InvalidValueError(
                        f"non-finite training loss at epoch {epoch} (lr {sched.get_last_lr()[0]:.3g}); "
                        "lower lr or check the data")
                loss.backward()
                opt.step()
                sched.step()
                value = float(logged)
                loss_sum += value
                n_steps += 1
                res.step_losses.append(value)
                bar.update(1)
                if progress:
                    bar.set_postfix(epoch=epoch, loss=f"{value:.4g}", best_val=f"{res.best_val_rel_l2:.4g}",
                                    **(postfix() if postfix is not None else {}))
            val = evaluate_rel_l2(model, val_loader, device, amp, denormalize_y)
            res.history.append({"epoch": epoch, "train_loss": loss_sum / max(n_steps, 1),
                                "val_rel_l2": val, "lr": float(sched.get_last_lr()[0])})
            if res.best_epoch == 0 or val < res.best_val_rel_l2:  # NaN never replaces a finite best
                res.best_val_rel_l2, res.best_epoch = val, epoch
                if on_best is not None:
                    on_best(epoch, val, model)
            bar.set_postfix(epoch=epoch, loss=f"{res.history[-1]['train_loss']:.4g}",
                            val=f"{val:.4g}", best_val=f"{res.best_val_rel_l2:.4g}")
    finally:
        bar.close()
    res.seconds = time.perf_counter() - t0
    return res
