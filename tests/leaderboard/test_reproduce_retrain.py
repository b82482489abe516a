"""``reproduce --retrain``: the [training] table of a submission, retraining and comparing."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from pdeforge import cli
from pdeforge.baselines.train import TrainConfig, train
from pdeforge.contracts.training import training_toml
from pdeforge.leaderboard.errors import MetadataError, NotSupportedError
from pdeforge.leaderboard.reproduce import RetrainReport, compare_runs, reproduce
from pdeforge.leaderboard.score import load_scores
from pdeforge.leaderboard.submit import (
    TEMPLATE,
    submit,
    training_fields,
    validate_metadata,
)

DS = "condiff"
CFG = "cubic0.1_grid16"
REPO = Path(__file__).resolve().parents[2]
SMALL_FNO = {"width": 8, "modes": 4, "n_layers": 2, "projection_channels": 16}

META = """\
model = "tiny-fno"
authors = ["Ann Author"]
parameters = 1000
train_time_hours = 0.001
hardware = "1x CPU"
train_split = "train"
date = 2025-01-31
"""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(root, out, **kw) -> TrainConfig:
    base = dict(dataset=DS, config=CFG, model="fno", model_config=dict(SMALL_FNO), epochs=2,
                batch_size=4, lr=3e-3, seed=0, device="cpu", root=str(root), out_dir=str(out),
                label="tiny-fno", progress=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory, one_torch_thread):
    """One tiny FNO run (2 epochs, CPU): its config and predictions file."""
    tmp = tmp_path_factory.mktemp("retrain")
    cfg = _cfg(tiny_root, tmp / "run")
    result = train(cfg)
    return cfg, result.predictions, tmp


def _submit(tiny_root, trained, tmp_path, training=True, **changes):
    cfg, pred, _ = trained
    meta = tmp_path / "meta.toml"
    text = META
    if training:
        text += "\n" + training_toml(dataclasses.replace(cfg, **changes))
    meta.write_text(text)
    return submit(pred, meta, DS, board_dir=tmp_path / "board", root=tiny_root)


@pytest.fixture
def entry(tiny_root, trained, tmp_path):
    return _submit(tiny_root, trained, tmp_path)


def _set_training(entry, **changes):
    path = entry / "meta.json"
    meta = json.loads(path.read_text())
    meta["submission"]["training"].update(changes)
    path.write_text(json.dumps(meta))


def _run_cli(monkeypatch, capsys, *argv):
    monkeypatch.setattr(cli, "EXTRA_COMMANDS", ["pdeforge.leaderboard.commands"])
    rc = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


# ------------------------------------------------------------------ the [training] table


def test_training_table_stored_complete(entry, trained):
    cfg = trained[0]
    meta = json.loads((entry / "meta.json").read_text())
    stored = meta["submission"]["training"]
    assert sorted(stored) == sorted(training_fields())
    assert not {"root", "out_dir", "progress"} & set(stored)
    want = {k: v for k, v in cfg.to_dict().items() if k in stored}
    assert stored == want
    assert stored["resolution"] is None and stored["seed"] == 0 and stored["device"] == "cpu"


def test_training_toml_round_trip(trained):
    cfg = trained[0]
    table = tomllib.loads(training_toml(cfg))["training"]
    assert "root" not in table and "out_dir" not in table and "progress" not in table
    assert "resolution" not in table  # None: left out (TOML has no null)
    assert table["model_config"] == SMALL_FNO and table["lr"] == cfg.lr
    out = validate_metadata({**tomllib.loads(META), "training": table},
                            dataset=DS, config=CFG)["training"]
    assert TrainConfig(**out, root=cfg.root, out_dir=cfg.out_dir,
                       progress=False).to_dict() == cfg.to_dict()


def _meta(**training):
    table = {"dataset": DS, "config": CFG, "model": "fno", **training}
    return {**tomllib.loads(META), "training": {k: v for k, v in table.items() if v is not None}}


@pytest.mark.parametrize("changes, fragment", [
    ({"learning_rate": 0.1}, "[training] has unknown key(s) 'learning_rate' (valid keys: "
                             "dataset, config, model,"),
    ({"out_dir": "runs"}, "where a run happens ('out_dir') is not recorded"),
    ({"config": "gaussian2.0_grid16"}, "[training] config 'gaussian2.0_grid16' differs from the "
                                       "entry's config 'cubic0.1_grid16'"),
    ({"dataset": "other"}, "[training] dataset 'other' differs from the entry's dataset"),
    ({"config": None}, "[training] lacks 'config'"),
    ({"epochs": "10"}, "[training] 'epochs' must be an integer, got '10'"),
    ({"lr": True}, "[training] 'lr' must be a number"),
    ({"model_config": 3}, "[training] 'model_config' must be a table"),
    ({"resolution": 8}, "'resolution' must be left out"),
    ({"model": "transformer"}, "unknown model 'transformer'"),
    ({"schedule": "step"}, "unknown schedule 'step'"),
    ({"model_config": {"depth": 3}}, "unknown fno config key 'depth'"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
])
def test_training_validation_errors(changes, fragment):
    with pytest.raises(MetadataError) as info:
        validate_metadata(_meta(**changes), splits=["train", "val", "test"], label="m.toml",
                          dataset=DS, config=CFG)
    assert fragment in str(info.value)
    assert str(info.value).startswith("m.toml: ")


def test_training_must_be_a_table():
    meta = {**tomllib.loads(META), "training": "fno, 2 epochs"}
    with pytest.raises(MetadataError, match="'training' must be a table"):
        validate_metadata(meta)


def test_submit_refuses_training_for_another_config(tiny_root, trained, tmp_path):
    with pytest.raises(MetadataError, match="differs from the entry's config 'cubic0.1_grid16'"):
        _submit(tiny_root, trained, tmp_path, config="gaussian2.0_grid16")
    assert not any((tmp_path / "board").rglob("meta.json"))


def test_templates_document_a_valid_training_table():
    file = (REPO / "leaderboard" / "submission-template.toml").read_text()
    assert file.split("\n", 1)[1] == TEMPLATE  # the file is TEMPLATE under a title comment
    assert "training" not in tomllib.loads(TEMPLATE)  # commented out: optional
    uncommented = "\n".join(line[2:] if line.startswith("# ") and "=" in line or
                            line == "# [training]" else line for line in TEMPLATE.splitlines())
    meta = tomllib.loads(uncommented)
    meta["authors"] = ["Ann Author"]  # the template's are placeholders, refused
    out = validate_metadata(meta, splits=["train", "val", "test"], dataset="condiff",
                            config="cubic1.0_grid64")
    assert out["training"]["model_config"] == {"width": 64, "modes": 16}
    assert out["training"]["epochs"] == 500
    readme = (REPO / "leaderboard" / "README.md").read_text()
    for key in training_fields():
        assert f"`{key}`" in readme, key


# ------------------------------------------------------------------ retraining


def test_retrain_reproduces_exactly(tiny_root, entry):
    report = reproduce(entry, retrain=True, root=tiny_root)
    assert isinstance(report, RetrainReport)
    assert report.ok, str(report)
    assert [c[0] for c in report.checks] == ["training config", "scores.nc sha256",
                                             "dataset version", "retrained and scored"]
    stored = load_scores(entry / "scores.nc")
    assert [c.metric for c in report.comparisons] == list(stored.data_vars)
    rel = report.comparison("rel_l2")
    assert rel.n == 3
    assert rel.stored_mean == float(stored["rel_l2"].mean())
    assert rel.new_mean == rel.stored_mean and rel.diff == 0.0
    assert (rel.diff_lo, rel.diff_hi) == (0.0, 0.0) and rel.contains_zero
    assert rel.new_lo <= rel.stored_mean <= rel.new_hi and rel.stored_in_new_ci
    assert all(c.n_differ == 0 and c.diff == 0 for c in report.comparisons)
    assert report.run_dir is None  # a temporary directory, removed
    text = str(report)
    assert "REPRODUCED by retraining" in text and "NOT REPRODUCED" not in text
    assert "[0, 0]" in text and "bit for bit" in text


def test_retrain_with_another_seed_differs(tiny_root, entry, tmp_path):
    _set_training(entry, seed=1)  # a tampered record: not the run that was submitted
    out = tmp_path / "rerun"
    report = reproduce(entry, retrain=True, root=tiny_root, out_dir=out)
    assert all(ok for _, ok, _ in report.checks), str(report)
    rel = report.comparison("rel_l2")
    assert rel.diff != 0.0 and rel.n_differ == 3
    assert rel.diff == pytest.approx(rel.new_mean - rel.stored_mean)
    assert rel.diff_lo <= rel.diff <= rel.diff_hi and rel.diff_lo < rel.diff_hi
    assert report.ok is rel.contains_zero
    assert report.run["train_config"]["seed"] == 1
    assert report.run_dir == out
    for name in ("checkpoint.pt", "run.json", "predictions.nc"):
        assert (out / name).is_file(), name
    assert "differ from the submitted ones" in str(report)


def test_cli_retrain_exit_status(tiny_root, entry, monkeypatch, capsys):
    _set_training(entry, seed=1)
    rc, text, _ = _run_cli(monkeypatch, capsys, "reproduce", entry, "--retrain", "--root",
                           tiny_root)
    # all three test samples change the same way by a lot more than rounding: 0 excluded
    assert rc == 1, text
    assert "NOT REPRODUCED by retraining" in text and "excludes 0" in text
    assert "rel_l2" in text and "95% CI of paired difference" in text


def test_entry_without_training_table(tiny_root, trained, tmp_path, monkeypatch, capsys):
    entry = _submit(tiny_root, trained, tmp_path, training=False)
    assert "training" not in json.loads((entry / "meta.json").read_text())["submission"]
    with pytest.raises(NotSupportedError, match="records no training config"):
        reproduce(entry, retrain=True, root=tiny_root)
    rc, _, err = _run_cli(monkeypatch, capsys, "reproduce", entry, "--retrain")
    assert rc == 2 and "records no training config" in err and "[training]" in err
    assert reproduce(entry, root=tiny_root).ok  # re-scoring still works


def test_retrain_checks_before_training(tiny_root, tiny_copy, entry, monkeypatch):
    import pdeforge.baselines.train as train_mod

    def no_training(cfg):  # pragma: no cover - must not be reached
        raise AssertionError("trained although a check failed")

    monkeypatch.setattr(train_mod, "train", no_training)
    # another dataset version under the root
    manifest = tiny_copy / DS / CFG / "manifest.json"
    m = json.loads(manifest.read_text())
    m["content_key"] = "f" * 64
    manifest.write_text(json.dumps(m))
    report = reproduce(entry, retrain=True, root=tiny_copy)
    assert not report.ok and "different dataset version" in str(report)
    # no data at all
    report = reproduce(entry, retrain=True, root=tiny_copy / "empty")
    assert not report.ok and "no generated condiff/cubic0.1_grid16" in str(report)
    # a stored record that no longer validates
    _set_training(entry, model_config={"depth": 2})
    report = reproduce(entry, retrain=True, root=tiny_root)
    assert not report.ok and report.checks[0][0] == "training config"
    assert "unknown fno config key 'depth'" in str(report)
    # altered stored scores
    _set_training(entry, model_config=dict(SMALL_FNO))
    (entry / "scores.nc").write_bytes((entry / "scores.nc").read_bytes() + b"\0")
    report = reproduce(entry, retrain=True, root=tiny_root)
    assert not report.ok and "file altered" in str(report)


def test_compare_runs_pairs_by_sample_and_nan():
    import xarray as xr

    def scores(values, order):
        v = np.asarray(values, dtype=np.float64)[order]
        return xr.Dataset({"rel_l2": (("sample", "field"), v[:, None])},
                          coords={"sample": np.arange(len(values))[order], "field": ["u"]})

    a = scores([1.0, 2.0, np.nan, 4.0], [0, 1, 2, 3])
    b = scores([1.5, 2.5, np.nan, 4.5], [3, 1, 0, 2])  # other order, same samples
    (c,) = compare_runs(a, b)
    assert c.n == 4 and c.n_differ == 3
    # the sample that is NaN in both counts as difference 0; the means themselves are NaN
    assert np.isnan(c.stored_mean) and np.isnan(c.new_mean)
    assert 0.0 < c.diff_lo <= c.diff_hi <= 0.5 and not c.contains_zero


def test_reproduce_argument_errors(tiny_root, entry, tmp_path):
    from pdeforge.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="not used with --retrain"):
        reproduce(entry, predictions=tmp_path / "p.nc", retrain=True)
    with pytest.raises(InvalidValueError, match="only used with retrain"):
        reproduce(entry, root=tiny_root, out_dir=tmp_path / "x")


# ------------------------------------------------------------------ the baseline sweep


def test_baseline_sweep_submits_reproducible_entries(tiny_root, tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("baseline_sweep",
                                                  REPO / "scripts" / "baseline_sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    board = tmp_path / "board"
    sweep.main(["--configs", CFG, "--models", "fno", "--epochs", "1", "--batch-size", "4",
                "--device", "cpu", "--root", str(tiny_root), "--runs", str(tmp_path / "runs"),
                "--board", str(board)])
    entry = board / "entries" / DS / CFG / "fno-default-e1"
    training = json.loads((entry / "meta.json").read_text())["submission"]["training"]
    assert training["epochs"] == 1 and training["device"] == "cpu"
    assert training["label"] == "fno-default-e1" and training["dataset"] == DS
    rc, text, _ = _run_cli(monkeypatch, capsys, "reproduce", entry, "--retrain", "--root",
                           tiny_root)
    assert rc == 0, text
    assert "REPRODUCED by retraining" in text and "[0, 0]" in text


# ------------------------------------------------------------------ online runs


ONLINE = {"workers": 0, "buffer": 8, "fresh_per_step": 2, "start": 5}


def test_online_entry_retrains_online(tiny_root, tmp_path, monkeypatch, capsys):
    """An online run's entry records its online settings and is retrained online, exactly."""
    cfg = _cfg(tiny_root, tmp_path / "run", online=dict(ONLINE), label="tiny-fno")
    result = train(cfg)
    recorded = result.run["train_config"]["online"]
    assert recorded["start"] == 5 and recorded["fresh_per_step"] == 2
    table = tomllib.loads(training_toml(result.run["train_config"]))["training"]
    assert table["online"] == {k: v for k, v in recorded.items() if v is not None}
    draft = tomllib.loads((tmp_path / "run" / "submission.toml").read_text())
    assert draft["train_split"] == "online"
    meta = tmp_path / "meta.toml"
    meta.write_text(META.replace('train_split = "train"', 'train_split = "online"') + "\n"
                    + training_toml(result.run["train_config"]))
    entry = submit(result.predictions, meta, DS, board_dir=tmp_path / "board", root=tiny_root)
    stored = json.loads((entry / "meta.json").read_text())["submission"]
    assert stored["train_split"] == "online" and stored["training"]["online"] == recorded

    import pdeforge.baselines.online as online_mod

    opened = []
    real_open = online_mod.open_online
    monkeypatch.setattr(online_mod, "open_online",
                        lambda *a, **k: opened.append(a[0].online) or real_open(*a, **k))
    report = reproduce(entry, retrain=True, root=tiny_root, out_dir=tmp_path / "again")
    assert report.ok, str(report)
    assert opened and opened[0]["start"] == 5  # trained online again, from the same seed range
    rel = report.comparison("rel_l2")
    assert rel.diff == 0.0 and (rel.diff_lo, rel.diff_hi) == (0.0, 0.0)
    again = report.run["online"]
    assert again["samples_generated"] == result.run["online"]["samples_generated"]
    assert again["per_rank"][0]["first_index"] == 5
    assert "online (start=5" in str(report) and "bit for bit" in str(report)
    rc, text, _ = _run_cli(monkeypatch, capsys, "reproduce", entry, "--retrain", "--root", tiny_root)
    assert rc == 0 and "REPRODUCED by retraining" in text


@pytest.mark.parametrize("split, online, fragment", [
    ("train", dict(ONLINE), "'train_split' 'train' and the [training] table disagree"),
    ("online", None, "'train_split' 'online' and the [training] table disagree"),
    ("online", {**ONLINE, "scheduler": "tcp://10.0.0.1:8786"}, "online 'scheduler' must be left out"),
    ("online", {"bufer": 8}, "unknown online setting 'bufer'"),
    ("online", {"buffer": 0}, "online buffer must be an integer >= 1"),
])
def test_online_training_table_errors(split, online, fragment):
    meta = _meta(online=online)
    meta["train_split"] = split
    with pytest.raises(MetadataError) as info:
        validate_metadata(meta, splits=["train", "val", "test"], dataset=DS, config=CFG)
    assert fragment in str(info.value)


def test_online_training_table_round_trip():
    meta = _meta(online={"buffer": 16, "fresh_per_step": 4})
    meta["train_split"] = "online"
    out = validate_metadata(meta, splits=["train", "val", "test"], dataset=DS, config=CFG)
    assert out["train_split"] == "online"
    assert out["training"]["online"]["buffer"] == 16 and out["training"]["online"]["workers"] == 1
    assert validate_metadata(_meta(), splits=["train", "val", "test"], dataset=DS,
                             config=CFG)["training"]["online"] is None
    # the Dask address is dropped when the table is written
    text = training_toml({**out["training"], "online": {**out["training"]["online"],
                                                         "scheduler": "tcp://h:1"}})
    assert "scheduler" not in text and "fresh_per_step = 4" in text
