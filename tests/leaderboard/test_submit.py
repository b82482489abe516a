"""Submissions (metadata validation, entry round trip), reproduce, and the CLI commands."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest
import xarray as xr

import pdeforge
from pdeforge.contracts.predictions import write_predictions
from pdeforge.datasets.store import file_sha256, open_split
from pdeforge.errors import PdeforgeError
from pdeforge.leaderboard.entries import read_entry
from pdeforge.leaderboard.errors import BoardError, MetadataError, NotSupportedError
from pdeforge.leaderboard.reproduce import reproduce
from pdeforge.leaderboard.score import load_scores, score
from pdeforge.leaderboard.submit import TEMPLATE, slugify, submit, validate_metadata

DS = "condiff"
CFG = "cubic0.1_grid16"

META = """\
model = "{model}"
authors = ["Ann Author", "Bob Builder"]
paper = "https://arxiv.org/abs/2010.08895"
code = "https://github.com/example/fno"
parameters = 1188353
train_time_hours = 1.5
hardware = "1x CPU"
train_split = "train"
date = 2025-01-31
"""


def _pred(root, path, model="FNO-64", scale=1.02, config=CFG):
    with open_split(DS, config=config, split="test", root=root) as t:
        u = t["u"].values
    return write_predictions(path, u * scale, DS, config, model, root=root)


def _meta(path, model="FNO-64", extra=""):
    path.write_text(META.format(model=model) + extra)
    return path


@pytest.fixture
def sub(tiny_root, tmp_path):
    pred = _pred(tiny_root, tmp_path / "pred.nc")
    meta = _meta(tmp_path / "meta.toml")
    return pred, meta


# ------------------------------------------------------------------ metadata


def _raw(**changes):
    import tomllib

    meta = tomllib.loads(META.format(model="M"))
    for k, v in changes.items():
        if v is None:
            meta.pop(k)
        else:
            meta[k] = v
    return meta


def test_metadata_normalised():
    out = validate_metadata(_raw(), splits=["train", "test", "val"])
    assert out["date"] == "2025-01-31" and out["notes"] == ""
    assert validate_metadata(_raw(date="2024-12-01", train_split="train + val"),
                             splits=["train", "val", "test"])["train_split"] == "train+val"


@pytest.mark.parametrize("changes, fragment", [
    ({"authors": None}, "missing field 'authors'"),
    ({"model": None}, "missing field 'model'"),
    ({"parameters": "1M"}, "'parameters' must be an integer >= 0, got '1M'"),
    ({"parameters": True}, "'parameters' must be an integer >= 0"),
    ({"parameters": -5}, "'parameters' must be an integer >= 0"),
    ({"train_time_hours": "2h"}, "'train_time_hours' must be a number >= 0"),
    ({"authors": "Ann"}, "'authors' must be a non-empty list"),
    ({"authors": []}, "'authors' must be a non-empty list"),
    ({"model": "  "}, "'model' must be a non-empty string"),
    ({"paper": "javascript:alert(1)"}, "'paper' must be an http(s) URL"),
    ({"code": 42}, "'code' must be an http(s) URL"),
    ({"date": "yesterday"}, "'date' must be a date"),
    ({"learning_rate": 1e-3}, "unknown key(s) 'learning_rate'"),
    ({"train_split": "train+test"}, "must not be trained on the test split"),
    ({"train_split": "trainval"}, "unknown split(s) 'trainval'"),
])
def test_metadata_errors(changes, fragment):
    with pytest.raises(MetadataError) as info:
        validate_metadata(_raw(**changes), splits=["train", "test", "val"], label="m.toml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("m.toml: ")


def test_metadata_reports_all_problems_at_once():
    with pytest.raises(MetadataError, match="3 problem") as info:
        validate_metadata(_raw(authors=None, parameters="x", extra=1))
    msg = str(info.value)
    assert "authors" in msg and "parameters" in msg and "extra" in msg


def test_template_is_valid_once_the_authors_are_filled_in():
    import tomllib

    meta = tomllib.loads(TEMPLATE)
    with pytest.raises(MetadataError, match="1 problem.*placeholder name"):
        validate_metadata(meta, splits=["train", "val", "test"])  # "A. Author", "B. Author"
    meta["authors"] = ["Ann Author"]
    validate_metadata(meta, splits=["train", "val", "test"])


def test_invalid_toml_and_model_mismatch(tiny_root, tmp_path, sub):
    pred, _ = sub
    bad = tmp_path / "bad.toml"
    bad.write_text("model = \n")
    with pytest.raises(MetadataError, match="not valid TOML") as info:
        submit(pred, bad, DS, board_dir=tmp_path / "b", root=tiny_root)
    assert str(bad) in str(info.value)
    other = _meta(tmp_path / "other.toml", model="Other")
    with pytest.raises(MetadataError, match="differs from the predictions"):
        submit(pred, other, DS, board_dir=tmp_path / "b", root=tiny_root)
    assert not (tmp_path / "b" / "entries").exists() or not any((tmp_path / "b").rglob("meta.json"))


def test_slugify():
    assert slugify("FNO-64") == "fno-64"
    assert slugify("<script>alert(1)</script>") == "script-alert-1-script"
    assert slugify("../../etc") == "etc"
    assert slugify("!!!").startswith("model-") and slugify("!!!") != slugify("???")


# ------------------------------------------------------------------ round trip


def test_submission_round_trip(tiny_root, tmp_path, sub):
    pred, meta = sub
    board = tmp_path / "board"
    entry_dir = submit(pred, meta, DS, board_dir=board, root=tiny_root)
    assert entry_dir == board / "entries" / DS / CFG / "fno-64"
    assert sorted(p.name for p in entry_dir.iterdir()) == ["meta.json", "predictions.nc",
                                                          "scores.nc"]
    m = json.loads((entry_dir / "meta.json").read_text())
    manifest = json.loads((tiny_root / DS / CFG / "manifest.json").read_text())
    assert m["format"] == "pdeforge-entry/1"
    assert m["content_key"] == manifest["content_key"]
    copied = entry_dir / "predictions.nc"
    assert m["predictions"]["sha256"] == file_sha256(pred) == file_sha256(copied)
    assert m["predictions"]["file"] == "predictions.nc"
    assert m["scores"]["sha256"] == file_sha256(entry_dir / "scores.nc")
    assert m["pdeforge_version"] == pdeforge.__version__
    assert dt.datetime.fromisoformat(m["scored_at"]).tzinfo is not None
    assert m["submission"]["model"] == "FNO-64" and m["submission"]["date"] == "2025-01-31"
    assert m["submission"]["parameters"] == 1188353
    # the stored scores are the scorer's, bit for bit
    stored = load_scores(entry_dir / "scores.nc")
    fresh = score(pred, DS, root=tiny_root)
    for name in fresh.data_vars:
        np.testing.assert_array_equal(stored[name].values, fresh[name].values)
    np.testing.assert_allclose(stored["rel_l2"].values, 0.02, rtol=1e-12)
    assert read_entry(entry_dir).model == "FNO-64"
    assert not list(entry_dir.parent.glob(".*"))  # no temporary leftovers


def test_large_predictions_are_referenced_not_copied(tiny_root, tmp_path, sub):
    pred, meta = sub
    entry_dir = submit(pred, meta, DS, board_dir=tmp_path / "b", root=tiny_root, copy_limit=1000)
    m = json.loads((entry_dir / "meta.json").read_text())
    assert m["predictions"]["file"] is None
    assert not (entry_dir / "predictions.nc").exists()
    assert m["predictions"]["sha256"] == file_sha256(pred)
    with pytest.raises(BoardError, match="pass --predictions"):
        reproduce(entry_dir, root=tiny_root)
    assert reproduce(entry_dir, predictions=pred, root=tiny_root).ok


def test_existing_entry_and_duplicate_model(tiny_root, tmp_path, sub):
    pred, meta = sub
    board = tmp_path / "b"
    first = submit(pred, meta, DS, board_dir=board, root=tiny_root)
    with pytest.raises(BoardError, match="exists already"):
        submit(pred, meta, DS, board_dir=board, root=tiny_root)
    with pytest.raises(BoardError, match="already holds model 'FNO-64'"):
        submit(pred, meta, DS, board_dir=board, root=tiny_root, slug="fno-again")
    # --force replaces the entry with the new scores
    better = _pred(tiny_root, tmp_path / "better.nc", scale=1.001)
    again = submit(better, meta, DS, board_dir=board, root=tiny_root, overwrite=True)
    assert again == first
    np.testing.assert_allclose(load_scores(again / "scores.nc")["rel_l2"].values, 0.001, rtol=1e-9)
    assert len(list((board / "entries" / DS / CFG).iterdir())) == 1


def test_invalid_predictions_store_nothing(tiny_root, tmp_path, sub):
    pred, meta = sub
    with xr.open_dataset(pred, engine="h5netcdf") as ds:
        ds = ds.load()
    ds.attrs["split"] = "train"
    bad = tmp_path / "bad.nc"
    ds.to_netcdf(bad, engine="h5netcdf")
    with pytest.raises(PdeforgeError, match="wrong split"):
        submit(bad, meta, DS, board_dir=tmp_path / "b", root=tiny_root)
    assert not any((tmp_path / "b").rglob("meta.json"))


# ------------------------------------------------------------------ reproduce


@pytest.fixture
def entry(tiny_root, tmp_path, sub):
    pred, meta = sub
    return submit(pred, meta, DS, board_dir=tmp_path / "board", root=tiny_root)


def test_reproduce_exact(tiny_root, entry):
    report = reproduce(entry, root=tiny_root)
    assert report.ok, str(report)
    names = [c[0] for c in report.checks]
    assert names == ["predictions sha256", "dataset version", "scores.nc sha256",
                     "re-scored values identical"]
    assert "bit for bit" in str(report)


def _tamper_scores(entry, update_hash):
    path = entry / "scores.nc"
    s = load_scores(path)
    s["rel_l2"].values[1, 0] = np.nextafter(s["rel_l2"].values[1, 0], 1.0)  # one ulp
    path.unlink()
    s.to_netcdf(path, engine="h5netcdf")
    if update_hash:
        meta = json.loads((entry / "meta.json").read_text())
        meta["scores"]["sha256"] = file_sha256(path)
        (entry / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("update_hash", [False, True])
def test_reproduce_detects_tampered_scores(tiny_root, entry, update_hash):
    _tamper_scores(entry, update_hash)
    report = reproduce(entry, root=tiny_root)
    assert not report.ok
    checks = {name: (ok, detail) for name, ok, detail in report.checks}
    assert checks["scores.nc sha256"][0] is update_hash
    ok, detail = checks["re-scored values identical"]
    assert not ok
    assert "rel_l2" in detail and "1 of 3 values differ" in detail
    assert "NOT REPRODUCED" in str(report)


def test_reproduce_detects_tampered_predictions(tiny_root, entry):
    path = entry / "predictions.nc"
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    ds["u"].values[0, 0, 0] += 1.0
    path.unlink()
    ds.to_netcdf(path, engine="h5netcdf")
    report = reproduce(entry, root=tiny_root)
    assert not report.ok
    assert report.checks[0][0] == "predictions sha256" and not report.checks[0][1]


def test_reproduce_against_a_different_dataset_version(tiny_copy, entry):
    manifest = tiny_copy / DS / CFG / "manifest.json"
    m = json.loads(manifest.read_text())
    m["content_key"] = "f" * 64
    manifest.write_text(json.dumps(m))
    report = reproduce(entry, root=tiny_copy)
    assert not report.ok
    # either the version check or (with the verified read path) the shards' own content-key
    # attribute, which no longer matches the edited manifest, refuses it
    assert "different dataset version" in str(report) or "content key" in str(report)


def test_reproduce_retrain_is_not_supported(entry):
    with pytest.raises(NotSupportedError, match="not implemented yet") as info:
        reproduce(entry, retrain=True)
    assert isinstance(info.value, PdeforgeError)


def test_reproduce_not_an_entry(tmp_path):
    with pytest.raises(BoardError, match="not a leaderboard entry"):
        reproduce(tmp_path)


# ------------------------------------------------------------------ CLI




def test_cli_score_submit_render_reproduce(tiny_root, tmp_path, sub, run_cli):
    pred, meta = sub
    board = tmp_path / "board"
    out = tmp_path / "s.nc"
    rc, text, _ = run_cli("score", pred, "--dataset", DS, "--out", out, "--root", tiny_root)
    assert rc == 0 and "rel_l2" in text and "contrast low" in text and out.is_file()
    rc, text, _ = run_cli("--root", tiny_root, "submit", pred, "--meta", meta, "--dataset", DS,
                          "--board", board)
    assert rc == 0 and "stored entry" in text
    rc, text, _ = run_cli("leaderboard", "--board", board, "--root", tiny_root)
    assert rc == 0 and (board / "LEADERBOARD.md").is_file() and (board / "index.html").is_file()
    entry = board / "entries" / DS / CFG / "fno-64"
    rc, text, _ = run_cli("reproduce", entry, "--root", tiny_root)
    assert rc == 0 and "REPRODUCED" in text
    _tamper_scores(entry, update_hash=False)
    rc, text, _ = run_cli("reproduce", entry, "--root", tiny_root)
    assert rc == 1 and "NOT REPRODUCED" in text
    rc, _, err = run_cli("reproduce", entry, "--retrain")
    assert rc == 2 and "not implemented" in err


def test_cli_errors_exit_2(tiny_root, tmp_path, sub, run_cli):
    pred, meta = sub
    rc, _, err = run_cli("score", pred, "--dataset", "nope", "--root", tiny_root)
    assert rc == 2 and err.startswith("error: ") and str(pred) in err
    bad = _meta(tmp_path / "bad.toml", extra="lr = 3\n")
    rc, _, err = run_cli("submit", pred, "--meta", bad, "--dataset", DS, "--board",
                         tmp_path / "b", "--root", tiny_root)
    assert rc == 2 and "unknown key(s) 'lr'" in err


def test_copied_entry_reproduces_elsewhere(tiny_root, entry, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(entry, moved)
    assert reproduce(moved, root=tiny_root).ok
