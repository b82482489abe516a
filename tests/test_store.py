"""Store, manifest, resume, verify and the format checker on a tiny generated dataset."""

import json
from pathlib import Path

import numpy as np
import pytest

from pdeforge.datasets import store
from pdeforge.datasets.runner import generate_dataset
from pdeforge.datasets.schema import check_shard
from pdeforge.datasets.verify import verify
from pdeforge.errors import CorruptFileError, StoreError
from pdeforge import open_dataset

from shared_data import TINY

QUIET = dict(workers=1, progress=False, log=lambda *a: None)


def shards(root):
    return sorted(Path(root).rglob("shard-*.nc"))


def test_layout_and_manifest(tiny_root):
    cdir = tiny_root / "condiff" / "cubic0.1_grid16"
    m = json.loads((cdir / "manifest.json").read_text())
    assert m["complete"] is True
    assert m["splits"]["train"]["n_samples"] == 6
    assert [(s["start"], s["stop"]) for s in m["splits"]["train"]["shards"]] == [(0, 4), (4, 6)]
    rec = m["splits"]["train"]["shards"][0]
    assert rec["sha256"] == store.file_sha256(cdir / rec["file"])
    assert set(rec["variables"]) >= {"k", "f", "u", "contrast", "residual"}
    assert m["packages"]["numpy"] != "absent" and m["hardware"]["cpus"] >= 1
    assert not list(tiny_root.rglob("*.tmp"))


def test_every_shard_passes_the_checker(tiny_root):
    files = shards(tiny_root)
    assert len(files) == 3 * (2 + 1 + 1)
    for f in files:
        assert check_shard(f) == []


def test_xarray_view_keeps_named_dims_and_coordinates(tiny_root):
    ds = open_dataset("condiff", config="cubic0.1_grid16", split="train", root=tiny_root)
    assert ds["u"].dims == ("sample", "x", "y") and ds["k"].dims == ("sample", "x_node", "y_node")
    h = 1 / 17
    np.testing.assert_allclose(ds["x"].values, (np.arange(16) + 1) * h)
    np.testing.assert_allclose(ds["x_node"].values, (np.arange(17) + 0.5) * h)
    assert ds.sizes["sample"] == 6 and ds["sample"].values.tolist() == list(range(6))
    assert ds.attrs["card_sha256"] and ds.attrs["equation"].startswith("-div")
    assert (ds["residual"] < 1e-8).all()


def test_rerun_is_a_noop(tiny_copy):
    before = {p: p.stat().st_mtime_ns for p in shards(tiny_copy)}
    report = generate_dataset("condiff", TINY, root=tiny_copy, **QUIET)
    assert report.written == 0 and report.skipped == len(before)
    assert {p: p.stat().st_mtime_ns for p in shards(tiny_copy)} == before


def test_force_regenerates_identically(tiny_copy):
    sums = {p: store.file_sha256(p) for p in shards(tiny_copy)}
    report = generate_dataset("condiff", TINY, root=tiny_copy, force=True, **QUIET)
    assert report.written == len(sums)
    assert {p: store.file_sha256(p) for p in shards(tiny_copy)} == sums


def test_interrupted_run_resumes_at_missing_shards(tiny_copy, monkeypatch):
    reference = {p.relative_to(tiny_copy): store.file_sha256(p) for p in shards(tiny_copy)}
    victim = tiny_copy / "condiff" / "gaussian2.0_grid16" / "train" / "shard-00001.nc"
    victim.unlink()
    # a crash while writing: a temp file is left behind, never a file under a final name
    (victim.parent / f".{victim.name}.999.tmp").write_bytes(b"partial")
    calls = []
    real = store.write_shard

    def spy(path, ds):
        calls.append(path)
        return real(path, ds)

    monkeypatch.setattr(store, "write_shard", spy)
    generate_dataset("condiff", TINY, root=tiny_copy, **QUIET)
    assert calls == [victim]
    assert {p.relative_to(tiny_copy): store.file_sha256(p) for p in shards(tiny_copy)} == reference
    assert not list(tiny_copy.rglob("*.tmp"))


def test_crash_mid_write_leaves_no_final_file(tiny_copy, monkeypatch):
    import xarray as xr

    target = tiny_copy / "condiff" / "poisson_grid16" / "test" / "shard-00000.nc"
    target.unlink()

    def boom(self, path, *a, **k):
        Path(path).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset("condiff", TINY, root=tiny_copy, **QUIET)
    assert not target.exists()
    assert not list(target.parent.glob("*.tmp"))


def test_settings_clash_needs_force(tiny_copy):
    with pytest.raises(StoreError, match="--force"):
        generate_dataset("condiff", {**TINY, "seed": "7"}, root=tiny_copy, **QUIET)


def test_growing_a_split_keeps_existing_shards(tiny_copy):
    first = tiny_copy / "condiff" / "cubic0.1_grid16" / "train" / "shard-00000.nc"
    digest = store.file_sha256(first)
    report = generate_dataset("condiff", {**TINY, "n_train": "9"}, root=tiny_copy, **QUIET)
    assert store.file_sha256(first) == digest
    # shard 1 grew from [4, 6) to [4, 8), shard 2 is new; all three configs
    assert report.written == 3 * 2


def test_unwritable_root(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot write to data root"):
        generate_dataset("condiff", TINY, root=blocker / "sub", **QUIET)


def test_verify_passes_and_regenerates_bit_for_bit(tiny_root):
    logs = []
    assert verify("condiff", root=tiny_root, regenerate=4, seed=0, log=logs.append) == []
    assert sum("bit-identical" in line for line in logs) == 4


def test_verify_detects_a_single_flipped_byte(tiny_copy):
    path = tiny_copy / "condiff" / "cubic0.1_grid16" / "train" / "shard-00000.nc"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = verify("condiff", root=tiny_copy, log=lambda *a: None)
    assert problems and all(str(path) in p for p in problems)
    assert any("sha256 differs" in p for p in problems)


def test_truncated_shard_is_reported_by_verify_checker_and_loader(tiny_copy):
    path = tiny_copy / "condiff" / "poisson_grid16" / "val" / "shard-00000.nc"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    problems = verify("condiff", root=tiny_copy, log=lambda *a: None)
    assert any("truncated" in p and str(path) in p for p in problems)
    assert check_shard(path) and "truncated or corrupt" in check_shard(path)[0]
    with pytest.raises(CorruptFileError, match=str(path)):
        open_dataset("condiff", config="poisson_grid16", split="val", root=tiny_copy).load()


def test_checker_flags_format_violations(tmp_path):
    import xarray as xr

    bad = xr.Dataset({"u": (("x", "sample"), np.zeros((3, 2)))}, coords={"x": [0.0, 1.0, 0.5], "sample": [0, 1]})
    path = tmp_path / "bad.nc"
    bad.to_netcdf(path, engine="h5netcdf")
    problems = "\n".join(check_shard(path))
    assert "missing global attributes" in problems
    assert "the first must be 'sample'" in problems
    assert "not strictly increasing" in problems


def test_verify_catches_a_changed_value_even_with_a_matching_file_checksum(tiny_copy):
    """The per-variable content hashes are checked too (from the values the checker reads)."""
    import h5py


    cdir = tiny_copy / "condiff" / "poisson_grid16"
    manifest = store.read_manifest(cdir)
    rec = manifest["splits"]["train"]["shards"][0]
    path = cdir / rec["file"]
    with h5py.File(path, "r+") as fh:
        fh["u"][0, 3, 3] += 1.0
    rec["sha256"], rec["bytes"] = store.file_sha256(path), path.stat().st_size  # hide it from the file checks
    store.write_json_atomic(cdir / store.MANIFEST, manifest.data)
    problems = verify(cdir, log=lambda *a: None)
    assert problems == [f"{path}: content hash of 'u' differs from the manifest"]


def test_generation_runs_with_single_threaded_blas(monkeypatch, tmp_path):
    """Samples are computed with BLAS limited to one thread (thread-count-independent rounding)."""
    from threadpoolctl import threadpool_info

    from pdeforge.generators import condiff

    seen = []
    real = condiff.ConDiff.generate

    def spy(self, *args, **kwargs):
        seen.append([p["num_threads"] for p in threadpool_info()])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(condiff.ConDiff, "generate", spy)
    generate_dataset("condiff", {"grid": "8", "configs": "poisson", "n_train": "2", "n_test": "0", "n_val": "0"},
                     root=tmp_path, workers=1, progress=False, log=lambda *a: None)
    assert seen and all(n == 1 for threads in seen for n in threads)
