"""TrainConfig validation (pdeforge.baselines.config) and the runtime helpers."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pdeforge.baselines.config import DEVICES, LOSSES, PRESETS, SCHEDULES, TrainConfig
from pdeforge.baselines.runtime import deterministic, resolve_amp, resolve_device, seed_everything
from pdeforge.errors import InvalidValueError, UnknownNameError


def test_defaults_validate_and_model_is_lower_cased():
    cfg = TrainConfig(model="FNO", model_config={"width": 8})
    assert cfg.validate() is cfg and cfg.model == "fno"
    d = cfg.to_dict()
    assert d["model_config"] == {"width": 8} and set(d) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("field, value, known", [
    ("model", "transformer", None), ("preset", "huge", PRESETS), ("schedule", "step", SCHEDULES),
    ("loss", "l1", LOSSES), ("device", "tpu", DEVICES),
])
def test_unknown_names_list_the_valid_ones(field, value, known):
    with pytest.raises(UnknownNameError) as err:
        TrainConfig(**{field: value}).validate()
    assert err.value.kind == field and err.value.name == value
    if known is not None:
        assert err.value.known == sorted(known)
    else:
        assert {"fno", "unet", "deeponet"} <= set(err.value.known)


@pytest.mark.parametrize("field, value, fragment", [
    ("epochs", 0, "epochs must be an integer >= 1"),
    ("epochs", 2.0, "epochs must be an integer >= 1"),
    ("batch_size", True, "batch_size must be an integer >= 1"),
    ("n_train", 0, "n_train must be an integer >= 1 or None"),
    ("eval_batch_size", "4", "eval_batch_size must be an integer >= 1 or None"),
    ("num_workers", -1, "num_workers must be an integer >= 0"),
    ("num_workers", False, "num_workers must be an integer >= 0"),
    ("lr", 0.0, "lr must be a positive number"),
    ("lr", float("inf"), "lr must be a positive number"),
    ("lr", "1e-3", "lr must be a positive number"),
    ("weight_decay", -1e-4, "weight_decay must be a number >= 0"),
    ("model_config", [("width", 8)], "model_config must be a dict"),
])
def test_out_of_range_values_are_refused(field, value, fragment):
    with pytest.raises(InvalidValueError, match=fragment.replace("(", r"\(")):
        TrainConfig(**{field: value}).validate()


def test_model_config_keys_belong_to_the_model():
    assert TrainConfig(model="unet", model_config={"base_channels": 4}).validate()
    with pytest.raises(UnknownNameError, match="unknown unet config key 'width'") as err:
        TrainConfig(model="unet", model_config={"width": 4}).validate()
    assert "base_channels" in err.value.known
    n = TrainConfig(n_train=None, eval_batch_size=None, weight_decay=0).validate()
    assert n.n_train is None and n.weight_decay == 0


def test_device_amp_and_deterministic_mode_restored():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidValueError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(UnknownNameError):
        resolve_device("tpu")
    cpu = torch.device("cpu")
    assert resolve_amp(cpu, None) is False and resolve_amp(cpu, True) is True
    assert resolve_amp(torch.device("cuda"), None) is True
    before = torch.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="inside"):
        with deterministic(cpu):
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            raise RuntimeError("inside")
    assert torch.are_deterministic_algorithms_enabled() == before


def test_seed_everything_fixes_every_generator():
    import random

    import numpy as np

    draws = []
    for _ in range(2):
        seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(()))))
    assert draws[0] == draws[1]
    seed_everything(8)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) != draws[0]
