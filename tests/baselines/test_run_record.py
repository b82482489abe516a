"""The files a run leaves (pdeforge.baselines.run_record) and the checkpoint (pdeforge.baselines.checkpoint)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
import torch

from pdeforge.baselines import build_model
from pdeforge.baselines.checkpoint import (
    CHECKPOINT_FORMAT, checkpoint_header, load_checkpoint, save_checkpoint,
)
from pdeforge.baselines.run_record import (
    RUN_JSON, SUBMISSION, hardware_string, plain_json, solver_seconds_per_sample, speedup,
    submission_draft, write_run_files,
)
from pdeforge.errors import InvalidValueError


def test_solver_seconds_from_manifest():
    m = {"splits": {"train": {"shards": [{"start": 0, "stop": 4, "generate_cpu_seconds": 2.0},
                                         {"start": 4, "stop": 6, "generate_cpu_seconds": 1.0}]},
                    "test": {"shards": [{"start": 0, "stop": 2, "generate_cpu_seconds": 1.0},
                                        {"start": 2, "stop": 3}]}}}  # no CPU time: left out
    assert solver_seconds_per_sample(m) == pytest.approx(4.0 / 8)
    assert solver_seconds_per_sample({"splits": {}}) is None
    assert speedup(0.5, 0.01) == pytest.approx(50.0)
    assert speedup(None, 0.01) is None and speedup(0.5, 0.0) is None


def test_hardware_string_names_the_cpu():
    text = hardware_string(torch.device("cpu"))
    assert text.startswith("CPU ") and f"{torch.get_num_threads()} torch threads" in text


def _run():
    import numpy as np

    return plain_json({"model": "fno", "model_label": 'fno "x"', "preset": "default", "epochs": 3,
                       "best_epoch": 2, "train_config": {"seed": 5}, "dataset": "condiff",
                       "parameters": np.int64(1234), "train_time_hours": 0.0012345678,
                       "hardware": "CPU test", "history": [{"val_rel_l2": float("nan")}],
                       "grid": (16, 16)})


def test_run_files_are_written_atomically_and_parse(tmp_path):
    run = _run()
    assert run["parameters"] == 1234 and run["grid"] == [16, 16]
    path = write_run_files(tmp_path, run)
    assert path == tmp_path / RUN_JSON
    text = path.read_text()
    assert text.endswith("\n") and list(json.loads(text)) == list(run)  # key order kept
    assert json.loads(text)["history"][0]["val_rel_l2"] != json.loads(text)["history"][0]["val_rel_l2"]  # NaN
    meta = tomllib.loads((tmp_path / SUBMISSION).read_text())
    assert meta["model"] == 'fno "x"' and meta["parameters"] == 1234 and meta["authors"] == ["FILL IN"]
    assert meta["train_time_hours"] == pytest.approx(0.001235, abs=1e-6) and meta["train_split"] == "train"
    assert "seed 5" in meta["notes"] and "best val epoch 2" in meta["notes"]
    assert submission_draft(run).splitlines()[1].startswith("#   pdeforge submit predictions.nc")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_checkpoint_round_trip_and_atomic_write(tmp_path, monkeypatch):
    model = build_model("fno", 2, 1, seed=3, width=4, modes=2, n_layers=1)
    header = checkpoint_header(model, model_name="fno", x_channels=["k", "f"], y_channels=["u"],
                               train_config={"seed": 3}, dataset="d", config="c", content_key="ck")
    assert header["c_in"] == 2 and header["c_out"] == 1 and header["format"] == CHECKPOINT_FORMAT
    path = save_checkpoint(tmp_path / "checkpoint.pt", header, model, epoch=4, best_val_rel_l2=0.25)
    back, ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 4 and ckpt["best_val_rel_l2"] == 0.25 and ckpt["content_key"] == "ck"
    assert not back.training and back.config == model.config
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in back.state_dict().items())
    # a failing write leaves the previous checkpoint in place and no temporary behind
    def boom(obj, f):
        Path(f).write_bytes(b"partial")
        raise OSError(5, "disk on fire")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk on fire"):
        save_checkpoint(path, header, model, epoch=5, best_val_rel_l2=0.1)
    monkeypatch.undo()
    assert load_checkpoint(path)[1]["epoch"] == 4
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(InvalidValueError, match="not a pdeforge-checkpoint/1 checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
