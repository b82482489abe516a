"""The files a run leaves: ``run.json``, ``predictions.nc`` and the ``submission.toml`` draft.

``run.json`` holds :data:`RUN_FIELDS` (plain JSON types; NaN kept), written atomically with
:func:`pdeforge.atomic.write_json`. Its timings:

* ``train_wall_seconds``: the epoch loop (training steps, the per-epoch validation and the
  checkpoint writes; not opening the data sets or predicting the test split).
* ``inference_seconds_per_sample``: :func:`pdeforge.baselines.evaluation.time_inference`.
* ``solver_seconds_per_sample``: the generator's CPU time per sample from the manifest, the sum
  of the shards' ``generate_cpu_seconds`` over all splits divided by their sample count
  (single-core CPU seconds of the reference solver, including sampling the inputs).
* ``speedup`` = ``solver_seconds_per_sample / inference_seconds_per_sample`` (``null`` when
  either is unknown or 0). The two are measured on different hardware in general
  (``hardware`` is the trainer's, :func:`hardware_string`).

``predictions.nc`` is the leaderboard's format
(:func:`pdeforge.contracts.predictions.write_predictions`: the target variables with their
dims, the test ``sample`` indices and the stored coordinates), the full field even where a
mask marks solid cells. ``submission.toml`` is a leaderboard metadata draft (fill in
``authors``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdeforge.atomic import write_json, write_text
from pdeforge.errors import InvalidValueError

__all__ = ["RUN_FORMAT", "RUN_FIELDS", "RUN_EXTRA_FIELDS", "CHECKPOINT", "RUN_JSON", "PREDICTIONS", "SUBMISSION",
           "hardware_string", "solver_seconds_per_sample", "speedup", "plain_json", "run_record",
           "submission_draft", "write_run_files", "write_predictions"]

RUN_FORMAT = "pdeforge-run/1"
CHECKPOINT = "checkpoint.pt"
RUN_JSON = "run.json"
PREDICTIONS = "predictions.nc"
SUBMISSION = "submission.toml"

#: the keys of ``run.json`` and what they hold
RUN_FIELDS: dict[str, str] = {
    "format": f'"{RUN_FORMAT}"',
    "dataset": "dataset name (from the manifest)",
    "config": "config name (from the manifest)",
    "content_key": "the manifest's content_key (dataset version)",
    "model": "registry name of the model",
    "model_label": "the 'model' attribute of the predictions file",
    "preset": '"default" or "full"',
    "model_config": "the model's resolved configuration (model.config)",
    "parameters": "trainable parameters",
    "x_channels": "input channels, in order (from the loader)",
    "y_channels": "target channels, in order (from the loader)",
    "grid_shape": "the grid the model sees (after resolution=)",
    "n_train": "training samples used",
    "n_val": "validation samples",
    "n_test": "test samples predicted",
    "train_config": "the TrainConfig as a dict",
    "epochs": "epochs run",
    "steps": "optimiser steps run",
    "best_epoch": "epoch (1-based) of the lowest val_rel_l2; its state is the checkpoint",
    "best_val_rel_l2": "lowest per-epoch val rel-L2 (per-sample mean, de-normalised)",
    "history": "per epoch: epoch, train_loss (mean over steps), val_rel_l2, lr (at the epoch's end)",
    "test_rel_l2": "rel-L2 of the best state on the test split (per-sample mean, de-normalised)",
    "train_wall_seconds": "wall time of the epoch loop (steps, validation, checkpoints)",
    "train_time_hours": "train_wall_seconds / 3600",
    "inference_seconds_per_sample": "batched forward time per test sample, after a warm-up",
    "inference_batch_size": "batch size of the inference timing",
    "solver_seconds_per_sample": "generator CPU seconds per sample (manifest generate_cpu_seconds)",
    "speedup": "solver_seconds_per_sample / inference_seconds_per_sample",
    "device": "torch device of the run",
    "amp": "whether bf16 autocast was on",
    "torch_version": "torch.__version__",
    "hardware": "the device in words (GPU name, or CPU model and threads)",
    "pdeforge_version": "pdeforge.__version__",
    "checkpoint": "checkpoint file (relative to out_dir)",
    "predictions": "predictions file (relative to out_dir), null when not written",
    "predictions_skipped": "why no predictions file was written (only when none was)",
    "created_at": "UTC time the run finished",
}
#: keys that only some runs have (after :data:`RUN_FIELDS`)
RUN_EXTRA_FIELDS: dict[str, str] = {
    "online": "online runs (pdeforge.baselines.online): settings, seed stream, normalisation "
              "source, samples generated/consumed, draws_per_sample, seen_counts, "
              "bytes_not_on_disk, throughput, per-rank counters",
    "distributed": "DDP runs: world_size, backend, global_batch_size, step_losses (global batch)",
    "rollout": "time-series (mode rollout) runs: the autoregressive test rollout "
               "(pdeforge.baselines.rollout): history, horizon, rollout_start, rollout_rel_l2, "
               "steps_to_threshold, per-step curve, teacher-forced one-step test rel-L2",
}


def hardware_string(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU model and torch's thread count."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return f"1x {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return f"CPU {model} ({torch.get_num_threads()} torch threads, {os.cpu_count()} cores)"


def solver_seconds_per_sample(manifest: dict[str, Any]) -> float | None:
    """Generator CPU seconds per sample: sum of ``generate_cpu_seconds`` over all shards of all
    splits divided by their samples (shards without the field are left out); ``None`` if none."""
    seconds, samples = 0.0, 0
    for info in manifest.get("splits", {}).values():
        for shard in info.get("shards", []):
            cpu = shard.get("generate_cpu_seconds")
            if cpu is None:
                continue
            seconds += float(cpu)
            samples += int(shard["stop"]) - int(shard["start"])
    return seconds / samples if samples else None


def speedup(solver_seconds: float | None, inference_seconds: float | None) -> float | None:
    """``solver / inference`` seconds per sample; ``None`` when either is unknown or 0."""
    return solver_seconds / inference_seconds if (solver_seconds and inference_seconds) else None


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def plain_json(obj: Any) -> Any:
    """``obj`` with numpy scalars, paths and tuples turned into plain JSON types (NaN kept)."""
    return json.loads(json.dumps(obj, default=_json_default))


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def run_record(cfg, data, model: torch.nn.Module, fit, *, n_test: int, test_rel_l2: float,
               inference_seconds: float, eval_batch_size: int, device: torch.device, amp: bool,
               label: str, predictions: str | None, skipped: str | None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of ``run.json`` (:data:`RUN_FIELDS`, in that order) as plain JSON types.

    ``cfg`` is the run's TrainConfig, ``data`` its :class:`~pdeforge.baselines.data.TrainData`,
    ``model`` the best model and ``fit`` the :class:`~pdeforge.baselines.loop.Fit` record;
    ``extra`` holds :data:`RUN_EXTRA_FIELDS` sections (online, distributed), appended in order."""
    import pdeforge
    from pdeforge.baselines.registry import count_parameters

    manifest, train_ds = data.manifest, data.train_ds
    solve = solver_seconds_per_sample(manifest)
    run: dict[str, Any] = {
        "format": RUN_FORMAT,
        "dataset": data.dataset,
        "config": data.config,
        "content_key": manifest["content_key"],
        "model": cfg.model,
        "model_label": label,
        "preset": cfg.preset,
        "model_config": dict(model.config),
        "parameters": int(count_parameters(model)),
        "x_channels": list(train_ds.x_channels),
        "y_channels": list(train_ds.y_channels),
        "grid_shape": list(train_ds.grid_shape),
        "n_train": len(data.fit_ds),
        "n_val": len(data.val_ds),
        "n_test": n_test,
        "train_config": cfg.to_dict(),
        "epochs": cfg.epochs,
        "steps": fit.steps,
        "best_epoch": fit.best_epoch,
        "best_val_rel_l2": fit.best_val_rel_l2,
        "history": fit.history,
        "test_rel_l2": test_rel_l2,
        "train_wall_seconds": fit.seconds,
        "train_time_hours": fit.seconds / 3600.0,
        "inference_seconds_per_sample": inference_seconds,
        "inference_batch_size": eval_batch_size,
        "solver_seconds_per_sample": solve,
        "speedup": speedup(solve, inference_seconds),
        "device": str(device),
        "amp": amp,
        "torch_version": torch.__version__,
        "hardware": hardware_string(device),
        "pdeforge_version": pdeforge.__version__,
        "checkpoint": CHECKPOINT,
        "predictions": predictions,
        "created_at": now_utc(),
    }
    if skipped:
        run["predictions_skipped"] = skipped
    for key, value in (extra or {}).items():
        if key not in RUN_EXTRA_FIELDS:
            raise InvalidValueError(f"run.json section {key!r} is not one of {', '.join(RUN_EXTRA_FIELDS)}")
        run[key] = value
    return plain_json(run)


def _toml_str(s: str) -> str:
    return json.dumps(str(s))  # a JSON string is a valid TOML basic string


def submission_draft(run: dict[str, Any]) -> str:
    """Leaderboard metadata for ``pdeforge submit`` from a run record (authors to fill in)."""
    day = _dt.date.today().isoformat()
    notes = (f"pdeforge baseline {run['model']} (preset {run['preset']}), {run['epochs']} epochs, "
             f"best val epoch {run['best_epoch']}, seed {run['train_config']['seed']}")
    online = run.get("online")
    if online:
        first = [r["first_index"] for r in online["per_rank"] if r["first_index"] is not None]
        last = [r["last_index"] for r in online["per_rank"] if r["last_index"] is not None]
        notes += (f"; online training: {online['samples_generated']} fresh samples streamed from the "
                  f"'online' seed stream (indices {min(first) if first else '-'}..{max(last) if last else '-'}), "
                  f"never stored; not the stored train split")
    return "\n".join([
        "# Leaderboard metadata draft written by `pdeforge train`; check and complete it, then",
        f"#   pdeforge submit {PREDICTIONS} --meta {SUBMISSION} --dataset {run['dataset']}",
        f"model = {_toml_str(run['model_label'])}",
        'authors = ["FILL IN"]',
        f"parameters = {int(run['parameters'])}",
        f"train_time_hours = {run['train_time_hours']:.6f}",
        f"hardware = {_toml_str(run['hardware'])}",
        f"train_split = {_toml_str('online' if online else 'train')}",
        f"date = {day}",
        f"notes = {_toml_str(notes)}",
        "",
    ])


def write_run_files(out_dir: Path, run: dict[str, Any]) -> Path:
    """``run.json`` (key order as given) and ``submission.toml``, both atomically; returns run.json."""
    path = write_json(Path(out_dir) / RUN_JSON, run, sort_keys=False)
    write_text(Path(out_dir) / SUBMISSION, submission_draft(run))
    return path


def write_predictions(path: Path, pred: np.ndarray, test_ds, sample_ids: np.ndarray,
                      dataset: str, config: str, label: str, root: Path) -> Path:
    """``pred`` ``(N, C, *grid)`` -> one DataArray per target variable, written in the
    leaderboard's format (the predictions module validates it like the scorer)."""
    import xarray as xr

    from pdeforge.contracts.predictions import write_predictions as _write

    if list(test_ds.y_channels) != list(test_ds.targets):
        raise InvalidValueError(f"predictions need one channel per target variable; the loader's "
                                f"target channels are {test_ds.y_channels}")
    dims = ("sample",) + tuple(test_ds.grid_dims)
    arrays = {
        name: xr.DataArray(pred[:, c], dims=dims, coords={"sample": sample_ids})
        for c, name in enumerate(test_ds.targets)
    }
    return Path(_write(path, arrays, dataset, config, label, root=root))
