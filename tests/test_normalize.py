"""Normalisation statistics by role (pdeforge.datasets.normalize): masks are never z-scored,
per-sample scalar parameters are normalised as scalars; the stats file and its reuse."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from pdeforge.datasets import normalize, store
from pdeforge.datasets.normalize import STATS_FILE, STATS_FORMAT, Normalizer, compute_stats, load_stats
from pdeforge.errors import StoreError

NX, NY = 5, 4


def _shard(start: int, n: int, split: str = "train", mask_transform: str | None = None):
    import xarray as xr

    from pdeforge.datasets.schema import FORMAT

    s = np.arange(start, start + n)
    a = np.sin(s[:, None, None] + np.arange(NX)[None, :, None] * 0.7 + np.arange(NY)[None, None, :])
    mask = np.ones((n, NX, NY), np.uint8)
    mask[:, :2, :2] = 0
    mask[s % 2 == 1, 4, :] = 0
    meta = lambda role, name: {"role": role, "long_name": name, "units": "1"}  # noqa: E731
    mask_attrs = meta("mask", "fluid")
    if mask_transform:
        mask_attrs["transform"] = mask_transform
    card = json.dumps({"dataset": {"name": "roles"}}, sort_keys=True)
    attrs = {"format": FORMAT, "pdeforge_version": "0", "dataset": "roles", "config": "c1", "split": split,
             "card": card, "card_sha256": hashlib.sha256(card.encode()).hexdigest(), "content_key": "ck1",
             "equation": "synthetic", "boundary_conditions": "none", "seeding": "none",
             "sample_start": start, "sample_stop": start + n, "inputs": "a vel nu mask", "targets": "a"}
    return xr.Dataset(
        {"a": (("sample", "x", "y"), a, meta("input", "field")),
         "vel": (("sample",), 1.0 + 0.5 * s, meta("param", "velocity")),
         "nu": (("sample",), 10.0 ** (-5.0 + s / 2.0), meta("param", "viscosity")),
         "re": (("sample",), np.full(n, 100.0), meta("param", "Reynolds number")),
         "mask": (("sample", "x", "y"), mask, mask_attrs)},
        coords={"sample": ("sample", s, meta("param", "sample")),
                "x": ("x", np.arange(NX) / NX, meta("param", "x")),
                "y": ("y", np.arange(NY) / NY, meta("param", "y"))},
        attrs=attrs)


def _config(root: Path, **kw) -> Path:
    """``root/roles/c1`` with train samples 0..6 in two shards and a manifest."""
    from pdeforge.datasets.manifest import MANIFEST_FORMAT

    cdir = root / "roles" / "c1"
    card = {"dataset": {"name": "roles"}}
    text = json.dumps(card, sort_keys=True, separators=(",", ":"))
    shards = []
    for index, (a, b) in enumerate([(0, 4), (4, 7)]):
        rec = store.write_shard(cdir / "train" / store.shard_name(index), _shard(a, b - a, **kw))
        rec.update(start=a, stop=b)
        shards.append(rec)
    store.write_json_atomic(cdir / store.MANIFEST, {
        "format": MANIFEST_FORMAT, "dataset": "roles", "config": "c1", "content_key": "ck1", "card": card,
        "card_sha256": hashlib.sha256(text.encode()).hexdigest(), "samples_per_shard": 4, "complete": True,
        "splits": {"train": {"n_samples": 7, "shards": shards}}})
    return cdir


def _files(cdir: Path) -> list[Path]:
    return sorted((cdir / "train").glob("*.nc"))


def test_mask_gets_the_identity_transform(tmp_path):
    cdir = _config(tmp_path)
    st = compute_stats(_files(cdir))
    m = st["mask"]
    assert (m["transform"], m["mean"], m["std"], m["role"]) == ("identity", 0.0, 1.0, "mask")
    raw = np.concatenate([_shard(0, 4)["mask"].values, _shard(4, 3)["mask"].values]).astype(np.float64)
    assert m["raw_mean"] == pytest.approx(raw.mean(), rel=1e-12) and 0 < m["raw_mean"] < 1  # fluid fraction
    assert m["count"] == raw.size and (m["min"], m["max"]) == (0.0, 1.0)
    # applied as an input channel, the mask keeps its exact 0/1 values
    norm = Normalizer({"variables": st}, ["a", "mask"], 2)
    batch = np.stack([np.stack([_shard(0, 2)["a"].values[i], raw[i]]) for i in range(2)]).astype(np.float32)
    out = norm.apply_(batch.copy())
    np.testing.assert_array_equal(out[:, 1], raw[:2].astype(np.float32))
    np.testing.assert_array_equal(norm.invert(out)[:, 1], raw[:2].astype(np.float32))
    assert not np.allclose(out[:, 0], batch[:, 0])  # the field is z-scored
    # a transform attribute cannot turn a mask into a z-scored (or log) variable
    other = compute_stats(_files(_config(tmp_path / "forced", mask_transform="none")))
    assert other["mask"]["transform"] == "identity" and other["mask"]["std"] == 1.0


def test_scalar_parameters_are_normalised_per_sample(tmp_path):
    st = compute_stats(_files(_config(tmp_path)))
    s = np.arange(7, dtype=np.float64)
    vel, nu = 1.0 + 0.5 * s, 10.0 ** (-5.0 + s / 2.0)
    v = st["vel"]
    assert v["scalar"] is True and v["role"] == "param" and v["count"] == 7  # one value per sample
    assert v["transform"] == "none"
    assert v["mean"] == pytest.approx(vel.mean(), rel=1e-14) and v["std"] == pytest.approx(vel.std(), rel=1e-14)
    # three decades, positive: z-scored in log space
    n = st["nu"]
    assert n["transform"] == "log" and n["count"] == 7
    assert n["mean"] == pytest.approx(np.log(nu).mean(), rel=1e-12) and n["std"] == pytest.approx(np.log(nu).std(), rel=1e-12)
    # a parameter fixed for the whole config maps to 0, not to a division by zero
    assert st["re"]["constant"] is True and st["re"]["std"] == 1.0 and st["re"]["mean"] == 100.0
    assert st["a"]["scalar"] is False and st["a"]["count"] > 7  # a field: every (fluid) point counts
    # as constant input channels
    norm = Normalizer({"variables": st}, ["vel", "nu", "re"], 2)
    x = np.broadcast_to(np.array([vel[3], nu[3], 100.0])[:, None, None], (3, NX, NY)).astype(np.float32).copy()
    out = norm.apply_(x)
    np.testing.assert_allclose(out[0], (vel[3] - vel.mean()) / vel.std(), rtol=1e-6)
    np.testing.assert_allclose(out[1], (np.log(nu[3]) - np.log(nu).mean()) / np.log(nu).std(), rtol=1e-5)
    np.testing.assert_array_equal(out[2], 0.0)


def test_stats_file_records_roles_and_old_format_is_recomputed(tmp_path):
    cdir = _config(tmp_path)
    stats = load_stats(cdir)
    on_disk = json.loads((cdir / STATS_FILE).read_text())
    assert on_disk["format"] == STATS_FORMAT == "pdeforge-normalization/2"
    assert on_disk["variables"]["mask"]["transform"] == "identity" and on_disk["variables"] == stats["variables"]
    # a version-1 file (mask z-scored) is not reused
    old = dict(on_disk, format="pdeforge-normalization/1", created_at="old")
    old["variables"] = dict(on_disk["variables"], mask={**on_disk["variables"]["mask"], "transform": "none",
                                                        "mean": 0.7, "std": 0.4})
    store.write_json_atomic(cdir / STATS_FILE, old)
    again = load_stats(cdir)
    assert again["created_at"] != "old" and again["variables"]["mask"]["transform"] == "identity"
    # a current file is reused
    mark = dict(json.loads((cdir / STATS_FILE).read_text()), created_at="reused")
    store.write_json_atomic(cdir / STATS_FILE, mark)
    assert load_stats(cdir)["created_at"] == "reused"


def test_unwritable_directory_keeps_the_statistics_in_memory(tmp_path, monkeypatch):
    cdir = _config(tmp_path)

    def refuse(path, obj, **kw):
        raise StoreError(f"cannot write {path}: Read-only file system")

    monkeypatch.setattr(normalize, "write_json", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = load_stats(cdir)
    assert any("using the statistics in memory" in str(w.message) for w in caught)
    assert stats["variables"]["mask"]["transform"] == "identity"
    assert not (cdir / STATS_FILE).exists()


def test_fields_on_the_mask_grid_are_counted_over_fluid_points(tmp_path):
    st = compute_stats(_files(_config(tmp_path)))
    shards = [_shard(0, 4), _shard(4, 3)]
    a = np.concatenate([d["a"].values for d in shards])
    m = np.concatenate([d["mask"].values for d in shards]) != 0
    fa = st["a"]
    assert fa["fluid_only"] == "mask" and fa["count"] == int(m.sum()) < a.size
    assert fa["mean"] == pytest.approx(a[m].mean(), rel=1e-12) and fa["std"] == pytest.approx(a[m].std(), rel=1e-12)
    assert (fa["min"], fa["max"]) == (a[m].min(), a[m].max())
    assert abs(a[m].mean() - a.mean()) > 1e-3  # the two are told apart
    assert "fluid_only" not in st["vel"] and "fluid_only" not in st["mask"]  # scalars, the mask itself


def test_placeholders_in_solid_cells_do_not_move_the_statistics(tmp_path):
    import h5py

    clean = compute_stats(_files(_config(tmp_path / "clean")))
    dirty_dir = _config(tmp_path / "dirty")
    for f in _files(dirty_dir):  # overwrite solid cells of 'a' with a huge placeholder
        with h5py.File(f, "r+") as fh:
            a, m = fh["a"][()], fh["mask"][()]
            a[m == 0] = 1e6
            fh["a"][...] = a
    dirty = compute_stats(_files(dirty_dir))
    assert dirty["a"] == clean["a"]
