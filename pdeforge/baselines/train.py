"""Train a baseline on a generated dataset, select it on *val*, predict *test* once.

Usage::

    from pdeforge.baselines.train import TrainConfig, train

    result = train(TrainConfig(dataset="condiff", config="cubic0.1_grid64", model="fno",
                               preset="full", epochs=500, batch_size=32, lr=1e-3))
    result.run["test_rel_l2"], result.predictions      # the metrics and the predictions file

or from the command line (:mod:`pdeforge.baselines.commands`)::

    pdeforge train condiff config=cubic0.1_grid64 model=fno preset=full epochs=500

What :func:`train` does
-----------------------
1. **Data.** Opens the ``train`` and ``val`` splits as
   :class:`~pdeforge.datasets.loader.TorchDataset` (inputs and targets normalised with the
   statistics of the *train* split, which the loader computes and stores). Channels, grid and
   variable names all come from the loader: nothing here knows about a particular dataset.
   ``n_train`` keeps the first ``n_train`` training samples; ``resolution`` is passed to the
   loader (point injection onto a coarser grid).
2. **Model.** ``build_model(model, c_in, c_out, preset=..., seed=seed, **model_config)``.
3. **Optimisation.** AdamW (``lr``, ``weight_decay``) with a per-step schedule: ``"cosine"``
   (cosine annealing from ``lr`` to 0 over all steps) or ``"onecycle"`` (``OneCycleLR`` with
   peak ``lr``). Loss ``"rel_l2"`` (default): for each sample
   ``||p - y||_2 / ||y||_2`` over all target channels and grid points, computed on the
   **de-normalised** prediction and target, then the mean over the batch; ``"mse"``: the mean
   squared error of the normalised outputs.
4. **Reproducibility.** ``random``, ``numpy`` and ``torch`` are seeded with ``seed``, the model is
   initialised from ``seed``, the shuffle order comes from ``make_loader(seed=seed)``, and
   ``torch.use_deterministic_algorithms(True, warn_only=True)`` is on during the run (restored
   afterwards). On the CPU two runs with the same seed give identical weights and metrics.
5. **Device.** ``device="auto"`` takes CUDA when present, else the CPU. ``amp=None`` (auto) means
   bf16 autocast on CUDA and full float32 on the CPU (bf16 needs no loss scaling).
6. **Model selection.** After every epoch the relative L2 error on the **val split only** is
   computed (the test metric's definition, below); the state with the lowest value is kept and
   written to ``out_dir/checkpoint.pt``. The test split is not opened until training is over.
7. **Test.** The best state is reloaded from the checkpoint, the test split is read **once**
   (one pass, every sample once), predictions are de-normalised and written with
   :func:`pdeforge.leaderboard.predictions.write_predictions` (the leaderboard's format: the
   target variables with their dims, the test ``sample`` indices and the stored coordinates) to
   ``out_dir/predictions.nc``. ``out_dir/run.json`` records the run (:data:`RUN_FIELDS`), and
   ``out_dir/submission.toml`` is a leaderboard metadata draft (fill in ``authors``).

Metrics
-------
``val_rel_l2`` and ``test_rel_l2`` use :func:`pdeforge.leaderboard.metrics.rel_l2` on
de-normalised arrays in float64: one value per (sample, target field), the mean over the fields
of a sample, then the mean over samples -- the leaderboard's per-sample aggregation, so
``test_rel_l2`` is the number the scorer reports as the mean ``rel_l2`` (for one target field it is
also exactly the training loss' definition). The test truth is the loader's raw (un-normalised)
float32 targets, not a normalise/de-normalise round trip.

Timings
-------
``train_wall_seconds`` covers the epoch loop: training steps, the per-epoch validation and the
checkpoint writes (not opening the data sets or predicting the test split).
``inference_seconds_per_sample`` is the wall time of the model's forward pass on the test inputs
already on the device, batched with ``batch_size`` (``eval_batch_size`` if set), after one
warm-up pass, best of several passes, divided by the number of samples (CUDA is synchronised).
``solver_seconds_per_sample`` is the generator's CPU time per sample from the manifest: the sum of
the shards' ``generate_cpu_seconds`` over all splits divided by their sample count (single-core
CPU seconds of the reference solver, including sampling the inputs). ``speedup`` is
``solver_seconds_per_sample / inference_seconds_per_sample`` (``null`` when either is unknown or 0).
The two are measured on different hardware in general (``hardware`` is the trainer's).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from pdeforge.baselines.registry import build_model, count_parameters, get_model_class, list_models
from pdeforge.errors import InvalidValueError, UnknownNameError

__all__ = [
    "TrainConfig",
    "RunResult",
    "RUN_FORMAT",
    "CHECKPOINT_FORMAT",
    "RUN_FIELDS",
    "SCHEDULES",
    "LOSSES",
    "DEVICES",
    "train",
    "rel_l2_loss",
    "make_loss",
    "make_optimizer",
    "make_scheduler",
    "evaluate_rel_l2",
    "predict",
    "time_inference",
    "solver_seconds_per_sample",
    "hardware_string",
    "resolve_device",
    "load_checkpoint",
    "seed_everything",
]

RUN_FORMAT = "pdeforge-run/1"
CHECKPOINT_FORMAT = "pdeforge-checkpoint/1"
SCHEDULES = ("cosine", "onecycle")
LOSSES = ("rel_l2", "mse")
DEVICES = ("auto", "cpu", "cuda")
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


@dataclass
class TrainConfig:
    """Everything that defines a training run (see the module docstring)."""

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

    def validate(self) -> "TrainConfig":
        """Check names and ranges; raises :class:`UnknownNameError` / :class:`InvalidValueError`."""
        if str(self.model).lower() not in list_models():
            raise UnknownNameError("model", str(self.model), list_models())
        self.model = str(self.model).lower()
        if self.preset not in ("default", "full"):
            raise UnknownNameError("preset", str(self.preset), ("default", "full"))
        if self.schedule not in SCHEDULES:
            raise UnknownNameError("schedule", str(self.schedule), SCHEDULES)
        if self.loss not in LOSSES:
            raise UnknownNameError("loss", str(self.loss), LOSSES)
        if self.device not in DEVICES:
            raise UnknownNameError("device", str(self.device), DEVICES)
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("n_train", "eval_batch_size"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InvalidValueError(f"{name} must be an integer >= 1 or None, got {v!r}")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise InvalidValueError(f"num_workers must be an integer >= 0, got {self.num_workers!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidValueError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise InvalidValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not isinstance(self.model_config, dict):
            raise InvalidValueError(f"model_config must be a dict, got {type(self.model_config).__name__}")
        cls = get_model_class(self.model)
        unknown = sorted(set(self.model_config) - set(cls.config_keys()))
        if unknown:
            raise UnknownNameError(f"{self.model} config key", unknown[0], cls.config_keys())
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    model: torch.nn.Module

    @property
    def test_rel_l2(self) -> float:
        return self.run["test_rel_l2"]

    @property
    def best_val_rel_l2(self) -> float:
        return self.run["best_val_rel_l2"]


# --------------------------------------------------------------------------- building blocks


def seed_everything(seed: int) -> None:
    """Seed ``random``, ``numpy`` and ``torch`` (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidValueError("device='cuda' requested but torch sees no CUDA device")
    if device not in DEVICES:
        raise UnknownNameError("device", str(device), DEVICES)
    return torch.device(device)


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


def rel_l2_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-30) -> torch.Tensor:
    """Mean over the batch of ``||p - y||_2 / ||y||_2`` per sample (all channels and points).

    The denominator is clamped at ``eps`` only to keep an identically zero target finite.
    """
    diff = (pred - target).flatten(1)
    num = torch.linalg.vector_norm(diff, dim=1)
    den = torch.linalg.vector_norm(target.flatten(1), dim=1).clamp_min(eps)
    return (num / den).mean()


def make_loss(name: str, denormalize: Callable[[torch.Tensor], torch.Tensor]):
    """``loss(out, y)`` on the model's normalised output ``out`` and normalised target ``y``.

    ``"rel_l2"`` de-normalises both with ``denormalize`` and applies :func:`rel_l2_loss`;
    ``"mse"`` is the mean squared error of the normalised fields.
    """
    if name == "rel_l2":
        def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return rel_l2_loss(denormalize(out.float()), denormalize(y.float()))
    elif name == "mse":
        def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.mean((out.float() - y.float()) ** 2)
    else:
        raise UnknownNameError("loss", str(name), LOSSES)
    return loss


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


def _autocast(device: torch.device, amp: bool):
    if not amp:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.no_grad()
def predict(model: torch.nn.Module, loader, device: torch.device, amp: bool,
            normalize_x: Callable | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over ``loader``: ``(x, out, y)`` as float32 arrays (``out`` still normalised).

    ``x`` is the model input (after ``normalize_x`` when given).
    """
    model.eval()
    xs, outs, ys = [], [], []
    for x, y in loader:
        if normalize_x is not None:
            x = normalize_x(x)
        xd = x.to(device, non_blocking=True)
        with _autocast(device, amp):
            out = model(xd)
        xs.append(x.float().cpu().numpy())
        outs.append(out.float().cpu().numpy())
        ys.append(y.float().cpu().numpy())
    return np.concatenate(xs), np.concatenate(outs), np.concatenate(ys)


def _rel_l2_per_sample(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-sample rel-L2 with :func:`pdeforge.leaderboard.metrics.rel_l2`: ``(N, C, *grid)`` -> ``(N,)``."""
    from pdeforge.leaderboard.metrics import rel_l2

    ndim_space = pred.ndim - 2
    per_field = np.asarray(rel_l2(pred, truth, ndim_space=ndim_space))  # (N, C)
    return per_field.mean(axis=1)


def evaluate_rel_l2(model, loader, device, amp, denormalize) -> float:
    """Mean per-sample rel-L2 of the de-normalised predictions on ``loader`` (normalised x, y)."""
    _, out, y = predict(model, loader, device, amp)
    pred = np.asarray(denormalize(out.astype(np.float64)))
    truth = np.asarray(denormalize(y.astype(np.float64)))
    return float(np.mean(_rel_l2_per_sample(pred, truth)))


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
            with _autocast(device, amp):
                model(xd[i:i + batch_size])
        sync()
        return time.perf_counter() - t0

    one_pass()  # warm-up: allocator, cuFFT plans, kernel selection
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 2 or (time.perf_counter() - start < min_seconds and len(times) < max_repeats):
        times.append(one_pass())
    return min(times) / n


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


def load_checkpoint(path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint; returns ``(model in eval mode, checkpoint dict)``."""
    ckpt = torch.load(Path(path), map_location=device, weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InvalidValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    model = build_model(ckpt["model_name"], ckpt["c_in"], ckpt["c_out"], **ckpt["model_config"])
    model.load_state_dict(ckpt["model_state"])
    return model.to(device).eval(), ckpt


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _toml_str(s: str) -> str:
    return json.dumps(str(s))  # a JSON string is a valid TOML basic string


def _submission_draft(run: dict[str, Any]) -> str:
    day = _dt.date.today().isoformat()
    notes = (f"pdeforge baseline {run['model']} (preset {run['preset']}), {run['epochs']} epochs, "
             f"best val epoch {run['best_epoch']}, seed {run['train_config']['seed']}")
    return "\n".join([
        "# Leaderboard metadata draft written by `pdeforge train`; check and complete it, then",
        f"#   pdeforge submit {PREDICTIONS} --meta {SUBMISSION} --dataset {run['dataset']}",
        f"model = {_toml_str(run['model_label'])}",
        'authors = ["FILL IN"]',
        f"parameters = {int(run['parameters'])}",
        f"train_time_hours = {run['train_time_hours']:.6f}",
        f"hardware = {_toml_str(run['hardware'])}",
        'train_split = "train"',
        f"date = {day}",
        f"notes = {_toml_str(notes)}",
        "",
    ])


# --------------------------------------------------------------------------- training


def train(cfg: TrainConfig) -> RunResult:
    """Train ``cfg.model`` on ``cfg.dataset``/``cfg.config``; see the module docstring."""
    import pdeforge
    from pdeforge.datasets import store
    from pdeforge.datasets.loader import TorchDataset, make_loader

    cfg = dataclasses.replace(cfg, model_config=dict(cfg.model_config)).validate()
    device = resolve_device(cfg.device)
    amp = (device.type == "cuda") if cfg.amp is None else bool(cfg.amp)
    eval_bs = cfg.eval_batch_size or cfg.batch_size

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    if device.type == "cuda":
        # cuBLAS needs this for deterministic GEMMs; only effective before its first use
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        seed_everything(cfg.seed)

        # --- data (train and val only; test is opened after training) --------------------
        open_ds = dict(root=cfg.root, normalize=True, resolution=cfg.resolution)
        train_ds = TorchDataset(cfg.dataset, cfg.config, "train", **open_ds)
        cdir = train_ds.config_dir
        manifest = store.read_manifest(cdir) if cdir is not None else None
        if manifest is None:
            raise InvalidValueError(f"{cfg.dataset}: training needs a generated config with a manifest")
        if "test" not in manifest["splits"] or "val" not in manifest["splits"]:
            raise InvalidValueError(f"{cdir}: training needs 'train', 'val' and 'test' splits; "
                                    f"the manifest has {', '.join(manifest['splits'])}")
        dataset_name, config_name = manifest["dataset"], manifest["config"]
        val_ds = TorchDataset(cfg.dataset, cfg.config, "val", **open_ds)
        fit_ds = train_ds
        if cfg.n_train is not None and cfg.n_train < len(train_ds):
            fit_ds = torch.utils.data.Subset(train_ds, list(range(cfg.n_train)))
        train_loader = make_loader(fit_ds, cfg.batch_size, shuffle=True, seed=cfg.seed,
                                   num_workers=cfg.num_workers)
        val_loader = make_loader(val_ds, eval_bs, shuffle=False, seed=cfg.seed,
                                 num_workers=cfg.num_workers)
        c_in, c_out = len(train_ds.x_channels), len(train_ds.y_channels)

        out_dir = Path(cfg.out_dir) if cfg.out_dir else Path("runs") / dataset_name / config_name / cfg.model
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt_path = out_dir / CHECKPOINT

        # --- model, optimiser ------------------------------------------------------------
        model = build_model(cfg.model, c_in, c_out, preset=cfg.preset, seed=cfg.seed,
                            **cfg.model_config).to(device)
        n_params = count_parameters(model)
        steps_per_epoch = len(train_loader)
        total_steps = steps_per_epoch * cfg.epochs
        opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
        sched = make_scheduler(opt, cfg.schedule, total_steps, cfg.lr)

        def denorm_t(t: torch.Tensor) -> torch.Tensor:
            return train_ds.denormalize(t, "y")

        loss_fn = make_loss(cfg.loss, denorm_t)
        ckpt_base = {
            "format": CHECKPOINT_FORMAT,
            "model_name": cfg.model,
            "model_config": dict(model.config),
            "c_in": c_in,
            "c_out": c_out,
            "x_channels": list(train_ds.x_channels),
            "y_channels": list(train_ds.y_channels),
            "train_config": cfg.to_dict(),
            "dataset": dataset_name,
            "config": config_name,
            "content_key": manifest["content_key"],
        }

        # --- epochs ----------------------------------------------------------------------
        from tqdm.auto import tqdm

        history: list[dict[str, Any]] = []
        best_val, best_epoch = math.inf, 0
        bar = tqdm(total=total_steps, desc=f"train {cfg.model} {config_name}", unit="step",
                   disable=not cfg.progress, dynamic_ncols=True)
        t_train = time.perf_counter()
        try:
            for epoch in range(1, cfg.epochs + 1):
                model.train()
                loss_sum, n_steps = 0.0, 0
                for x, y in train_loader:
                    x = x.to(device, non_blocking=True)
                    y = y.to(device, non_blocking=True)
                    opt.zero_grad(set_to_none=True)
                    with _autocast(device, amp):
                        out = model(x)
                    loss = loss_fn(out, y)
                    if not torch.isfinite(loss):
                        raise InvalidValueError(
                            f"non-finite training loss at epoch {epoch} (lr {sched.get_last_lr()[0]:.3g}); "
                            "lower lr or check the data")
                    loss.backward()
                    opt.step()
                    sched.step()
                    loss_sum += float(loss.detach())
                    n_steps += 1
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{float(loss.detach()):.4g}",
                                    best_val=f"{best_val:.4g}")
                val = evaluate_rel_l2(model, val_loader, device, amp,
                                      lambda a: train_ds.denormalize(a, "y"))
                history.append({"epoch": epoch, "train_loss": loss_sum / max(n_steps, 1),
                                "val_rel_l2": val, "lr": float(sched.get_last_lr()[0])})
                if best_epoch == 0 or val < best_val:  # NaN never replaces a finite best
                    best_val, best_epoch = val, epoch
                    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                    _save_atomic({**ckpt_base, "epoch": epoch, "best_val_rel_l2": val,
                                  "model_state": state}, ckpt_path)
                bar.set_postfix(epoch=epoch, loss=f"{history[-1]['train_loss']:.4g}",
                                val=f"{val:.4g}", best_val=f"{best_val:.4g}")
        finally:
            bar.close()
        train_seconds = time.perf_counter() - t_train

        # --- best state, test split (read once) ------------------------------------------
        model, ckpt = load_checkpoint(ckpt_path, device)
        test_ds = TorchDataset(cfg.dataset, cfg.config, "test", root=cfg.root, normalize=False,
                               resolution=cfg.resolution)
        test_loader = make_loader(test_ds, eval_bs, shuffle=False, seed=cfg.seed,
                                  num_workers=cfg.num_workers)
        x_test, out_test, y_test = predict(model, test_loader, device, amp,
                                           normalize_x=lambda t: train_ds.normalize(t, "x"))
        pred_test = np.asarray(train_ds.denormalize(out_test.astype(np.float64), "y"))
        per_sample = _rel_l2_per_sample(pred_test, y_test.astype(np.float64))
        test_rel = float(np.mean(per_sample))
        sample_ids = np.array([test_ds.sample_id(i) for i in range(len(test_ds))], dtype=np.int64)

        label = cfg.label or f"{cfg.model}-{cfg.preset}"
        pred_path: Path | None = out_dir / PREDICTIONS
        skipped = None
        if cfg.resolution is not None:
            pred_path, skipped = None, (f"resolution={cfg.resolution}: the leaderboard scores the "
                                        "stored grid only")
        else:
            pred_path = _write_predictions(pred_path, pred_test.astype(np.float32), test_ds,
                                           sample_ids, dataset_name, config_name, label,
                                           root=cdir.parent.parent)

        infer = time_inference(model, x_test, device, amp, eval_bs)
        solve = solver_seconds_per_sample(manifest)
        speedup = solve / infer if (solve and infer) else None

        run: dict[str, Any] = {
            "format": RUN_FORMAT,
            "dataset": dataset_name,
            "config": config_name,
            "content_key": manifest["content_key"],
            "model": cfg.model,
            "model_label": label,
            "preset": cfg.preset,
            "model_config": dict(model.config),
            "parameters": int(n_params),
            "x_channels": list(train_ds.x_channels),
            "y_channels": list(train_ds.y_channels),
            "grid_shape": list(train_ds.grid_shape),
            "n_train": len(fit_ds),
            "n_val": len(val_ds),
            "n_test": len(test_ds),
            "train_config": cfg.to_dict(),
            "epochs": cfg.epochs,
            "steps": total_steps,
            "best_epoch": best_epoch,
            "best_val_rel_l2": best_val,
            "history": history,
            "test_rel_l2": test_rel,
            "train_wall_seconds": train_seconds,
            "train_time_hours": train_seconds / 3600.0,
            "inference_seconds_per_sample": infer,
            "inference_batch_size": eval_bs,
            "solver_seconds_per_sample": solve,
            "speedup": speedup,
            "device": str(device),
            "amp": amp,
            "torch_version": torch.__version__,
            "hardware": hardware_string(device),
            "pdeforge_version": pdeforge.__version__,
            "checkpoint": CHECKPOINT,
            "predictions": PREDICTIONS if pred_path is not None else None,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if skipped:
            run["predictions_skipped"] = skipped
        run = json.loads(json.dumps(run, default=_json_default))  # plain JSON types, NaN kept
        _write_json_atomic(run, out_dir / RUN_JSON)
        (out_dir / SUBMISSION).write_text(_submission_draft(run))
        return RunResult(out_dir, ckpt_path, out_dir / RUN_JSON, pred_path, run, model)
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench


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


def _write_predictions(path: Path, pred: np.ndarray, test_ds, sample_ids: np.ndarray,
                       dataset: str, config: str, label: str, root: Path) -> Path:
    """``pred`` ``(N, C, *grid)`` -> one DataArray per target variable, written in the
    leaderboard's format (the predictions module validates it like the scorer)."""
    import xarray as xr

    from pdeforge.leaderboard.predictions import write_predictions

    if list(test_ds.y_channels) != list(test_ds.targets):
        raise InvalidValueError(f"predictions need one channel per target variable; the loader's "
                                f"target channels are {test_ds.y_channels}")
    dims = ("sample",) + tuple(test_ds.grid_dims)
    arrays = {
        name: xr.DataArray(pred[:, c], dims=dims, coords={"sample": sample_ids})
        for c, name in enumerate(test_ds.targets)
    }
    return Path(write_predictions(path, arrays, dataset, config, label, root=root))
