"""Integrity wherever data is read, one writer per config, and one-line refusals of bad input.

Each test first reproduces a fault found by a hostile-user review (issue #13), then checks how
it is handled now. The table in the README's reliability section lists them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdeforge import open_dataset
from pdeforge.cli import main
from pdeforge.datasets import lock as lock_mod
from pdeforge.datasets import store
from pdeforge.datasets.checks import check_file
from pdeforge.datasets.executors import ClusterError
from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import generate_dataset
from pdeforge.datasets.verify import verify
from pdeforge.errors import CorruptFileError, InvalidValueError, StoreError

from shared_data import TINY

QUIET = dict(workers=1, progress=False, log=lambda *a: None)
CFG = "poisson_grid16"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def shard(root, config=CFG, split="train", i=0) -> Path:
    return Path(root) / "condiff" / config / split / f"shard-{i:05d}.nc"


def flip_value(path: Path, var: str = "u") -> float:
    """Overwrite the top byte (sign + high exponent bits) of the first value of ``var`` in place
    with 0xFE (size unchanged): a finite value of order -1e303; returns it."""
    with h5py.File(path, "r") as fh:
        ds = fh[var]
        offset = ds.id.get_chunk_info(0).byte_offset
        itemsize = ds.dtype.itemsize
    data = bytearray(path.read_bytes())
    data[offset + itemsize - 1] = 0xFE
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as fh:
        return float(fh[var][0].reshape(-1)[0])


# --- 1. one writer per config --------------------------------------------------------------------

HOLD = textwrap.dedent("""
    import sys, time
    from pdeforge.datasets.lock import config_lock
    with config_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def held_lock(tiny_copy):
    cdir = tiny_copy / "condiff" / CFG
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(cdir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield tiny_copy, cdir, proc
    proc.kill()
    proc.wait()


def test_second_writer_of_a_config_fails_clearly_and_changes_nothing(held_lock, capsys):
    root, cdir, proc = held_lock
    before = {p: store.file_sha256(p) for p in cdir.rglob("*.nc")}
    manifest_before = (cdir / "manifest.json").read_bytes()
    # the issue's case: a concurrent run with another seed and --force
    code, _, err = run(capsys, "--root", root, "generate", "condiff", *[f"{k}={v}" for k, v in TINY.items()],
                       "seed=7", "--force", "--workers", "1", "--no-progress")
    assert code == 2 and "being written by pid" in err and str(proc.pid) in err
    assert {p: store.file_sha256(p) for p in cdir.rglob("*.nc")} == before
    assert (cdir / "manifest.json").read_bytes() == manifest_before
    assert verify(cdir, log=lambda *a: None) == []


def test_lock_of_a_killed_writer_does_not_block(held_lock):
    root, cdir, proc = held_lock
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    report = generate_dataset("condiff", {**TINY, "configs": "poisson"}, root=root, force=True, **QUIET)
    assert report.written == 4  # train 2 shards, test 1, val 1


def test_generate_on_other_configs_is_not_blocked(held_lock):
    root, _, _ = held_lock
    report = generate_dataset("condiff", {**TINY, "configs": "cubic0.1"}, root=root, force=True, **QUIET)
    assert report.written == 4  # train 2 shards, test 1, val 1


# --- 2./3. the verified-open path ----------------------------------------------------------------


def test_flipped_bit_in_a_value_is_refused_by_open_dataset_and_check(tiny_copy, capsys):
    path = shard(tiny_copy)
    value = flip_value(path)
    assert np.isfinite(value) and abs(value) > 1e100  # a plausible-looking finite number
    with pytest.raises(CorruptFileError, match=r"sha256 differs"):
        open_dataset("condiff", config=CFG, split="train", root=tiny_copy)
    problems, _ = check_file(path)
    assert any("sha256 differs" in p for p in problems)
    code, out, _ = run(capsys, "check", path)
    assert code == 1 and "sha256 differs" in out


def test_another_configs_shard_copied_over_ours_is_refused(tiny_copy):
    ours, theirs = shard(tiny_copy), shard(tiny_copy, "cubic0.1_grid16")
    shutil.copyfile(theirs, ours)
    for verify_sha in (True, False):
        with pytest.raises(CorruptFileError, match=str(ours)):
            open_dataset("condiff", config=CFG, split="train", root=tiny_copy, verify=verify_sha)
    with pytest.raises(CorruptFileError, match=str(ours)):
        TorchDataset("condiff", config=CFG, root=tiny_copy, normalize=False, verify=False)


def test_swapped_shards_are_refused_even_without_sha256(tiny_copy):
    """Two shards swapped, under a manifest whose sizes and checksums were swapped to match:
    only the shards' own sample_start attributes give it away."""
    cdir = tiny_copy / "condiff" / CFG
    a, b = shard(tiny_copy, i=0), shard(tiny_copy, i=1)
    ta, tb = a.read_bytes(), b.read_bytes()
    a.write_bytes(tb)
    b.write_bytes(ta)
    m = json.loads((cdir / "manifest.json").read_text())
    recs = m["splits"]["train"]["shards"]
    recs[0]["bytes"], recs[1]["bytes"] = recs[1]["bytes"], recs[0]["bytes"]
    recs[0]["sha256"], recs[1]["sha256"] = recs[1]["sha256"], recs[0]["sha256"]  # a "consistent" manifest
    (cdir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CorruptFileError, match=r"sample_start attribute is 4, the manifest says 0"):
        open_dataset("condiff", config=CFG, split="train", root=tiny_copy, verify=False)


def test_lone_shard_file_is_verified_against_its_manifest(tiny_copy):
    path = shard(tiny_copy)
    ds = open_dataset(path)
    assert ds.sizes["sample"] == 4
    flip_value(path)
    with pytest.raises(CorruptFileError, match="sha256 differs"):
        open_dataset(path)


def test_reference_truth_for_scoring_is_read_through_the_verified_path(tiny_copy):
    """The scorer's truth (the test split) comes from store.open_split, which now verifies
    (the scorer-level test is in tests/leaderboard)."""
    flip_value(shard(tiny_copy, split="test"))
    with pytest.raises(CorruptFileError):
        store.open_split("condiff", config=CFG, split="test", root=tiny_copy)


# --- poorly handled → one-line refusals -------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["n_train=8", "n_train=9"], "n_train given twice"),
    (["configs="], "configs= is empty"),
    (["--workers", "0"], "--workers: must be at least 1"),
    (["--workers", "-3"], "--workers: must be at least 1"),
    (["workers=0"], "workers=0: must be at least 1"),
    (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
    (["--scheduler", "127.0.0.1:8786"], "expected an address like tcp://HOST:PORT"),
])
def test_bad_generate_input_gets_one_line(capsys, tmp_path, argv, message):
    with pytest.raises(SystemExit) if argv[0] == "--workers" else _nothing():
        base = ["grid=16", "n_train=2", "n_test=1", "n_val=1"] + ([] if "configs=" in argv else ["configs=poisson"])
        code, _, err = run(capsys, "--root", tmp_path, "generate", "condiff", *base, *argv, "--no-progress")
        assert code == 2 and message in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    if argv[0] == "--workers":
        assert message in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_library_refuses_bad_worker_counts(tmp_path):
    for bad in (0, -3):
        with pytest.raises(InvalidValueError, match="at least 1 worker"):
            generate_dataset("condiff", TINY, root=tmp_path, **{**QUIET, "workers": bad})


def test_card_keys_after_options_are_accepted(capsys, tmp_path):
    code, out, err = run(capsys, "--root", tmp_path, "generate", "condiff", "--workers", "1", "--no-progress",
                         "grid=16", "n_train=2", "n_test=1", "n_val=1", "configs=poisson")
    assert code == 0, err
    assert (tmp_path / "condiff" / "poisson_grid16" / "manifest.json").is_file()


def test_shrinking_a_split_removes_the_orphan_shard_and_verify_flags_strays(tiny_copy):
    cdir = tiny_copy / "condiff" / CFG
    assert shard(tiny_copy, i=1).is_file()
    generate_dataset("condiff", {**TINY, "n_train": "3", "configs": "poisson"}, root=tiny_copy, **QUIET)
    assert not shard(tiny_copy, i=1).is_file()  # samples 4..5 are no longer part of the split
    assert verify(cdir, log=lambda *a: None) == []
    stray = cdir / "train" / "shard-00007.nc"
    shutil.copyfile(shard(tiny_copy), stray)
    problems = verify(cdir, log=lambda *a: None)
    assert any("not listed in the manifest" in p and str(stray) in p for p in problems)


def test_deleted_manifest_is_named_by_every_reader(tiny_copy, capsys):
    cdir = tiny_copy / "condiff" / CFG
    (cdir / "manifest.json").unlink()
    assert any("no manifest.json" in p for p in verify(cdir, log=lambda *a: None))
    assert any("no manifest.json" in p for p in verify("condiff", root=tiny_copy, log=lambda *a: None))
    with pytest.raises(StoreError, match="no manifest.json"):
        TorchDataset("condiff", config=CFG, root=tiny_copy)
    with pytest.raises(StoreError, match="no manifest.json"):
        open_dataset("condiff", config=CFG, root=tiny_copy)
    code, out, _ = run(capsys, "--root", tiny_copy, "info", "condiff")
    assert code == 0 and "no manifest.json" in out


def test_edited_manifest_card_is_caught(tiny_copy):
    cdir = tiny_copy / "condiff" / CFG
    m = json.loads((cdir / "manifest.json").read_text())
    m["card"]["seeding"]["master_seed"] = 7
    (cdir / "manifest.json").write_text(json.dumps(m))
    assert any("card_sha256" in p for p in verify(cdir, log=lambda *a: None))
    with pytest.raises(CorruptFileError, match="card_sha256"):
        open_dataset("condiff", config=CFG, root=tiny_copy)


def test_regenerate_count_is_validated_and_bounded(tiny_copy, capsys):
    with pytest.raises(SystemExit):
        run(capsys, "verify", "condiff", "--regenerate", "-1")
    assert "must be 0 or more" in capsys.readouterr().err
    with pytest.raises(InvalidValueError):
        verify("condiff", root=tiny_copy, regenerate=-1)
    cdir = tiny_copy / "condiff" / CFG
    lines = []
    t = time.perf_counter()
    assert verify(cdir, regenerate=1_000_000_000, seed=0, log=lines.append) == []
    assert time.perf_counter() - t < 60
    regenerated = [ln for ln in lines if ln.startswith("regenerated")]
    assert len(regenerated) == 6 + 3 + 2 == len(set(regenerated))  # every sample once
    assert any("only 11 samples are stored" in ln for ln in lines)


def test_finished_rerun_needs_no_write_access(tiny_copy, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(lock_mod.os, "open", refuse)
    monkeypatch.setattr(store, "ensure_writable", refuse)
    report = generate_dataset("condiff", TINY, root=tiny_copy, **QUIET)
    assert report.written == 0 and report.skipped == 12


def test_unwritable_config_directory_is_one_line(tiny_copy, monkeypatch, capsys):
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(lock_mod.os, "open", refuse)
    with pytest.raises(StoreError, match="cannot write to .*Permission denied"):
        generate_dataset("condiff", TINY, root=tiny_copy, force=True, **QUIET)


KILLED = textwrap.dedent("""
    import sys
    from pdeforge.datasets.runner import generate_dataset
    generate_dataset("condiff", {"grid": "128", "n_train": "400", "n_test": "1", "n_val": "1",
                                 "configs": "gaussian2.0"}, root=sys.argv[1], workers=2, progress=False)
""")


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the workers")
def test_pool_workers_die_with_a_killed_parent(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path)])
    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = [c for c in _children(proc.pid)
                   if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]
    assert len(workers) >= 2, "the pool did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    alive = workers
    while time.time() < deadline and alive:
        time.sleep(0.2)
        alive = [w for w in alive if Path(f"/proc/{w}").exists()
                 and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed parent"
    assert not list(tmp_path.rglob("shard-*.nc")) or all(
        f.stat().st_size > 0 for f in tmp_path.rglob("shard-*.nc"))


def test_cluster_error_is_a_pdeforge_error():
    from pdeforge.errors import PdeforgeError

    assert issubclass(ClusterError, PdeforgeError)
