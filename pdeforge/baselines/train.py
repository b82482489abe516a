"""Train a baseline on a generated dataset, select it on *val*, predict *test* once.

Usage::

    from pdeforge.baselines.train import TrainConfig, train

    result = train(TrainConfig(dataset="condiff", config="cubic0.1_grid64", model="fno",
                               preset="full", epochs=500, batch_size=32, lr=1e-3))
    result.run["test_rel_l2"], result.predictions      # the metrics and the predictions file

or from the command line (:mod:`pdeforge.baselines.commands`)::

    pdeforge train condiff config=cubic0.1_grid64 model=fno preset=full epochs=500

:func:`train` only orchestrates; each step lives in its own module:

1. **Setup** -- validate the :class:`TrainConfig` (:mod:`~pdeforge.baselines.config`), pick the
   device and autocast, seed everything and switch to deterministic algorithms for the run
   (:mod:`~pdeforge.baselines.runtime`).
2. **Data** -- open ``train`` and ``val``, normalised with the train statistics
   (:mod:`~pdeforge.baselines.data`); ``test`` stays closed. Online (``cfg.online`` set): start the
   generator feed and the training buffer instead of opening ``train``
   (:mod:`~pdeforge.baselines.online`). Under ``torchrun`` each rank gets its shard of the
   batches, or its own feed (:mod:`~pdeforge.baselines.distributed`).
3. **Model** -- ``build_model(model, c_in, c_out, preset=..., seed=seed, **model_config)``
   (:mod:`~pdeforge.baselines.registry`).
4. **Epochs** -- AdamW, per-step schedule, the loss (:mod:`~pdeforge.baselines.losses`: rel-L2
   on de-normalised fields, over fluid points when the loader yields a mask), model selection on
   val rel-L2 with the best state written to ``checkpoint.pt`` (:mod:`~pdeforge.baselines.loop`,
   :mod:`~pdeforge.baselines.checkpoint`).
5. **Test** -- reload the best state, open ``test`` and predict it once; rel-L2 against the
   raw targets and the inference timing (:mod:`~pdeforge.baselines.evaluation`). A time-series
   (mode ``rollout``) test split is rolled out autoregressively from each case's initial frames
   instead of teacher-forced (:mod:`~pdeforge.baselines.rollout`); val stays one-step.
6. **Record** -- ``predictions.nc`` (leaderboard format, full field), ``run.json`` and the
   ``submission.toml`` draft (:mod:`~pdeforge.baselines.run_record`); under DDP by rank 0 only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdeforge.baselines import data as data_mod
from pdeforge.baselines import distributed as dist_mod
from pdeforge.baselines import online as online_mod
from pdeforge.baselines import rollout as rollout_mod
from pdeforge.baselines.checkpoint import checkpoint_header, load_checkpoint, save_checkpoint
from pdeforge.baselines.config import TrainConfig
from pdeforge.baselines.evaluation import predict, rel_l2_per_sample, time_inference
from pdeforge.baselines.loop import fit
from pdeforge.baselines.losses import make_loss
from pdeforge.baselines.registry import build_model
from pdeforge.baselines.run_record import (
    CHECKPOINT, PREDICTIONS, RUN_JSON, run_record, write_predictions, write_run_files,
)
from pdeforge.baselines.runtime import deterministic, resolve_amp, resolve_device, seed_everything

__all__ = ["TrainConfig", "RunResult", "train", "load_checkpoint"]


@dataclass
class RunResult:
    """What :func:`train` returns."""

    out_dir: Path
    checkpoint: Path
    run_json: Path
    predictions: Path | None
    #: the content of run.json
    run: dict[str, Any]
    #: the best model (its state is the checkpoint's), in eval mode, on the training device
    #: (on DDP ranks other than 0: the last state, in training mode)
    model: torch.nn.Module
    #: the epoch loop's record (:class:`pdeforge.baselines.loop.Fit`: history, per-step losses)
    fit: Any = None

    @property
    def test_rel_l2(self) -> float:
        return self.run["test_rel_l2"]

    @property
    def best_val_rel_l2(self) -> float:
        return self.run["best_val_rel_l2"]


def train(cfg: TrainConfig) -> RunResult:
    """Train ``cfg.model`` on ``cfg.dataset``/``cfg.config``; the steps are in the module docstring."""
    # 1. setup
    copies = {"model_config": dict(cfg.model_config)}
    if cfg.online is not None:
        copies["online"] = dict(cfg.online)
    cfg = dataclasses.replace(cfg, **copies).validate()
    device = resolve_device(cfg.device)
    dist = dist_mod.context(device.type)
    try:
        if dist.active and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
            torch.cuda.set_device(device)
        return _train(cfg, device, dist)
    finally:
        dist.close()


def _train(cfg: TrainConfig, device: torch.device, dist: dist_mod.DistContext) -> RunResult:
    is_online = cfg.is_online
    amp = resolve_amp(device, cfg.amp)
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    with deterministic(device):
        seed_everything(cfg.seed)

        # 2. data: train (stored, or the online feed) and val only
        if is_online:
            data = online_mod.open_online(cfg, eval_bs, rank=dist.rank, world=dist.world_size)
        else:
            data = data_mod.open_train_val(cfg, eval_bs)
            if dist.active:
                data.train_loader = dist_mod.sharded_loader(data.fit_ds, cfg.batch_size, cfg.seed,
                                                            dist.rank, dist.world_size, cfg.num_workers)
        try:
            x_channels, y_channels = data.train_ds.x_channels, data.train_ds.y_channels
            out_dir = Path(cfg.out_dir) if cfg.out_dir else Path("runs") / data.dataset / data.config / cfg.model
            out_dir.mkdir(parents=True, exist_ok=True)
            ckpt_path = out_dir / CHECKPOINT

            # 3. model
            model = build_model(cfg.model, len(x_channels), len(y_channels), preset=cfg.preset,
                                seed=cfg.seed, **cfg.model_config).to(device)

            # 4. epochs, the best-on-val state checkpointed (by rank 0)
            header = checkpoint_header(model, model_name=cfg.model, x_channels=x_channels,
                                       y_channels=y_channels, train_config=cfg.to_dict(),
                                       dataset=data.dataset, config=data.config,
                                       content_key=data.manifest["content_key"])
            loss_fn = make_loss(cfg.loss, data.denormalize_y)
            hooks: dict = {}
            trained = model
            if dist.active:
                trained = dist_mod.wrap_model(model, dist, device)
                loss_fn = dist_mod.global_batch_loss(loss_fn, dist)
                hooks["reduce_loss"] = dist.mean
            if is_online:
                hooks["postfix"] = data.train_loader.postfix

            def on_best(epoch, val, m):
                if dist.is_main:
                    save_checkpoint(ckpt_path, header, dist_mod.unwrap(m), epoch=epoch, best_val_rel_l2=val)

            result = fit(trained, data.train_loader, data.val_loader, epochs=cfg.epochs, lr=cfg.lr,
                         weight_decay=cfg.weight_decay, schedule=cfg.schedule, loss_fn=loss_fn,
                         denormalize_y=data.denormalize_y, device=device, amp=amp,
                         progress=cfg.progress and dist.is_main,
                         desc=f"train {cfg.model} {data.config}" + (" online" if is_online else ""),
                         on_best=on_best, **hooks)
        finally:
            if is_online:
                data.close()
        online = None
        if is_online:
            per_rank = dist.gather(data.train_loader.record())
            online = online_mod.online_record(data, per_rank, result.steps, result.seconds)
        dist.barrier()  # the checkpoint is written
        if not dist.is_main:
            return RunResult(out_dir, ckpt_path, out_dir / RUN_JSON, None, {}, dist_mod.unwrap(model), result)

        # 5. test: the best state, the test split read once
        model, _ = load_checkpoint(ckpt_path, device)
        test_ds, test_loader = data_mod.open_test(cfg, eval_bs)
        ro = None
        if rollout_mod.is_rollout(test_ds):  # time series: autoregressive, not teacher-forced
            ro = rollout_mod.rollout_test(model, test_ds, test_loader, normalize_x=data.normalize_x,
                                          denormalize_y=data.denormalize_y, device=device, amp=amp,
                                          batch_size=eval_bs)
            test_rel, infer = ro.test_rel_l2, ro.inference_seconds_per_sample
        else:
            test = predict(model, test_loader, device, amp, normalize_x=data.normalize_x)
            pred = np.asarray(data.denormalize_y(test.out.astype(np.float64)))
            test_rel = float(np.mean(rel_l2_per_sample(pred, test.y.astype(np.float64), test.mask)))
            infer = time_inference(model, test.x, device, amp, eval_bs)

        # 6. record: predictions (full field), run.json, submission draft
        label = cfg.label or f"{cfg.model}-{cfg.preset}"
        pred_path, skipped = None, None
        if cfg.resolution is not None:
            skipped = f"resolution={cfg.resolution}: the leaderboard scores the stored grid only"
        elif ro is not None:
            pred_path = rollout_mod.write_rollout_predictions(out_dir / PREDICTIONS, ro, test_ds, data.dataset,
                                                              data.config, label,
                                                              root=data.train_ds.config_dir.parent.parent)
        else:
            sample_ids = np.array([test_ds.sample_id(i) for i in range(len(test_ds))], dtype=np.int64)
            pred_path = write_predictions(out_dir / PREDICTIONS, pred.astype(np.float32), test_ds,
                                          sample_ids, data.dataset, data.config, label,
                                          root=data.train_ds.config_dir.parent.parent)
        extra = {}
        if ro is not None:
            extra["rollout"] = rollout_mod.rollout_record(ro)
        if online is not None:
            extra["online"] = online
        if dist.active:
            extra["distributed"] = {**dist.record(), "global_batch_size": cfg.batch_size,
                                    "step_losses": result.step_losses}
        run = run_record(cfg, data, model, result, n_test=len(test_ds) if ro is None else len(ro.sample_ids),
                         test_rel_l2=test_rel,
                         inference_seconds=infer, eval_batch_size=eval_bs, device=device, amp=amp,
                         label=label, predictions=PREDICTIONS if pred_path is not None else None,
                         skipped=skipped, extra=extra)
        write_run_files(out_dir, run)
        return RunResult(out_dir, ckpt_path, out_dir / RUN_JSON, pred_path, run, model, result)
