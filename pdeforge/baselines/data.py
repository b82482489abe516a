"""The splits a run reads, and when: ``train`` and ``val`` first, ``test`` after training.

* ``train`` and ``val`` are opened as :class:`~pdeforge.datasets.loader.TorchDataset` with
  ``normalize=True``: inputs and targets normalised with the statistics of the **train**
  split, which the loader computes and stores (:mod:`pdeforge.datasets.normalize`). Channels,
  grid and variable names all come from the loader: nothing here knows about a particular
  dataset. ``n_train`` keeps the first ``n_train`` training samples; ``resolution`` is passed
  to the loader (point injection onto a coarser grid).
* The config needs a manifest with ``train``, ``val`` and ``test`` splits.
* ``test`` is opened only by :func:`open_test`, after training, with ``normalize=False``:
  its targets are the raw stored values, and its inputs are normalised with the train
  statistics by the caller (:func:`pdeforge.baselines.evaluation.predict`'s ``normalize_x``).
  Its loader does not shuffle, so one pass reads every sample once.

The loaders come from :func:`~pdeforge.datasets.loader.make_loader`: the training order is
shuffled from a generator seeded with the run's seed, independent of ``num_workers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pdeforge.baselines.config import TrainConfig
from pdeforge.errors import InvalidValueError

__all__ = ["TrainData", "open_train_val", "open_test"]


class RunDataAccess:
    """What the trainer reads from a run's data, whatever feeds it (stored splits or an online
    feed): needs ``manifest`` and ``train_ds`` (whose normaliser holds the run's statistics)."""

    @property
    def dataset(self) -> str:
        return self.manifest["dataset"]

    @property
    def config(self) -> str:
        return self.manifest["config"]

    def denormalize_y(self, t):
        """Normalised targets (or model outputs) → physical values, with the train statistics."""
        return self.train_ds.denormalize(t, "y")

    def normalize_x(self, t):
        """Physical inputs → normalised, with the train statistics."""
        return self.train_ds.normalize(t, "x")


@dataclass
class TrainData(RunDataAccess):
    """The train/val side of a run."""

    train_ds: Any           # TorchDataset of the whole train split (its normaliser is the run's)
    fit_ds: Any             # what is trained on: train_ds or its first n_train samples
    val_ds: Any
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    manifest: dict[str, Any]



def open_train_val(cfg: TrainConfig, eval_batch_size: int) -> TrainData:
    """Open ``train`` and ``val`` (module docstring) and their loaders."""
    from pdeforge.datasets import store
    from pdeforge.datasets.loader import TorchDataset, make_loader

    open_ds = dict(root=cfg.root, normalize=True, resolution=cfg.resolution)
    train_ds = TorchDataset(cfg.dataset, cfg.config, "train", **open_ds)
    cdir = train_ds.config_dir
    manifest = store.read_manifest(cdir) if cdir is not None else None
    if manifest is None:
        raise InvalidValueError(f"{cfg.dataset}: training needs a generated config with a manifest")
    if "test" not in manifest.splits or "val" not in manifest.splits:
        raise InvalidValueError(f"{cdir}: training needs 'train', 'val' and 'test' splits; "
                                f"the manifest has {', '.join(manifest.splits)}")
    val_ds = TorchDataset(cfg.dataset, cfg.config, "val", **open_ds)
    fit_ds = train_ds
    if cfg.n_train is not None and cfg.n_train < len(train_ds):
        fit_ds = torch.utils.data.Subset(train_ds, list(range(cfg.n_train)))
    train_loader = make_loader(fit_ds, cfg.batch_size, shuffle=True, seed=cfg.seed,
                               num_workers=cfg.num_workers)
    val_loader = make_loader(val_ds, eval_batch_size, shuffle=False, seed=cfg.seed,
                             num_workers=cfg.num_workers)
    return TrainData(train_ds, fit_ds, val_ds, train_loader, val_loader, manifest)


def open_test(cfg: TrainConfig, eval_batch_size: int):
    """``(test dataset, its loader)``: raw values, no shuffle (module docstring)."""
    from pdeforge.datasets.loader import TorchDataset, make_loader

    test_ds = TorchDataset(cfg.dataset, cfg.config, "test", root=cfg.root, normalize=False,
                           resolution=cfg.resolution)
    loader = make_loader(test_ds, eval_batch_size, shuffle=False, seed=cfg.seed,
                         num_workers=cfg.num_workers)
    return test_ds, loader
