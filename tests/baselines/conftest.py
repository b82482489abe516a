"""A tiny masked config on disk (a CFD-like layout): fluid mask, scalar case parameters, garbage
in solid cells of the target."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

#: what the stored target holds in solid cells (must never reach a loss or a metric)
from shared_data import SOLID_VALUE

NX, NY = 10, 8


def _shard(start: int, n: int, split: str):
    import xarray as xr

    from pdeforge.datasets.schema import FORMAT

    rng = np.random.default_rng([start, len(split)])
    s = np.arange(start, start + n)
    a = rng.normal(size=(n, NX, NY))
    vel = 1.0 + 0.25 * (s % 4)                       # a case parameter, linear range
    nu = 10.0 ** rng.uniform(-5, -2, size=n)         # spans three decades
    ii, jj = np.meshgrid(np.arange(NX), np.arange(NY), indexing="ij")
    ci, cj = rng.integers(2, NX - 2, size=n), rng.integers(2, NY - 2, size=n)
    mask = ((ii[None] - ci[:, None, None]) ** 2 + (jj[None] - cj[:, None, None]) ** 2 > 2).astype(np.uint8)
    u = np.where(mask == 1, vel[:, None, None] * (1.0 + a ** 2), SOLID_VALUE)
    card = json.dumps({"dataset": {"name": "toy", "domain": [[0.0, 1.0], [0.0, 1.0]]}}, sort_keys=True)
    attrs = {"format": FORMAT, "pdeforge_version": "0", "dataset": "toy", "config": "c1", "split": split,
             "card": card, "card_sha256": hashlib.sha256(card.encode()).hexdigest(), "content_key": "ck1",
             "equation": "synthetic", "boundary_conditions": "none", "seeding": "none",
             "sample_start": start, "sample_stop": start + n, "inputs": "a vel nu mask", "targets": "u"}
    meta = lambda role, name: {"role": role, "long_name": name, "units": "1"}  # noqa: E731
    return xr.Dataset(
        {"a": (("sample", "x", "y"), a, meta("input", "forcing")),
         "vel": (("sample",), vel, meta("param", "inflow velocity")),
         "nu": (("sample",), nu, meta("param", "viscosity")),
         "mask": (("sample", "x", "y"), mask, meta("mask", "fluid (1) / solid (0)")),
         "u": (("sample", "x", "y"), u, meta("target", "speed"))},
        coords={"sample": ("sample", s, meta("param", "sample")),
                "x": ("x", (np.arange(NX) + 0.5) / NX, meta("param", "x")),
                "y": ("y", (np.arange(NY) + 0.5) / NY, meta("param", "y"))},
        attrs=attrs)


def write_masked_config(root: Path, splits=None) -> Path:
    """``root/toy/c1`` with hand-written shards and a manifest in the store's format."""
    from pdeforge.datasets import store
    from pdeforge.datasets.manifest import MANIFEST_FORMAT

    splits = splits or {"train": [(0, 4), (4, 8)], "val": [(0, 3)], "test": [(0, 3)]}
    cdir = Path(root) / "toy" / "c1"
    card = {"dataset": {"name": "toy", "domain": [[0.0, 1.0], [0.0, 1.0]]}}
    text = json.dumps(card, sort_keys=True, separators=(",", ":"))
    manifest = {"format": MANIFEST_FORMAT, "dataset": "toy", "config": "c1", "content_key": "ck1",
                "card": card, "card_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "samples_per_shard": 4, "complete": True, "splits": {}}
    for split, ranges in splits.items():
        shards = []
        for index, (a, b) in enumerate(ranges):
            rec = store.write_shard(cdir / split / store.shard_name(index), _shard(a, b - a, split))
            rec.update(start=a, stop=b)
            shards.append(rec)
        manifest["splits"][split] = {"n_samples": ranges[-1][1], "shards": shards}
    store.write_json_atomic(cdir / store.MANIFEST, manifest)
    return cdir


@pytest.fixture
def masked_config(tmp_path) -> Path:
    return write_masked_config(tmp_path / "data")
