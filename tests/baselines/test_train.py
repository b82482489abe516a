"""Tests of the baseline trainer (pdeforge.baselines.train) and ``pdeforge train``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import pdeforge.baselines.loop as loop_mod
from pdeforge.baselines import build_model, list_models
from pdeforge.baselines.commands import parse_train_options
from pdeforge.baselines.loop import make_optimizer, make_scheduler
from pdeforge.baselines.losses import make_loss
from pdeforge.baselines.run_record import solver_seconds_per_sample
from pdeforge.baselines.train import TrainConfig, load_checkpoint, train
from pdeforge.datasets import store
from pdeforge.datasets.loader import TorchDataset, make_loader
from pdeforge.errors import InvalidValueError, UnknownNameError

CONFIG = "cubic0.1_grid16"
SMALL_FNO = {"width": 8, "modes": 4, "n_layers": 2, "projection_channels": 16}

#: tiny configurations for the overfit test; models not listed use their default config
TINY_CONFIGS = {
    "fno": SMALL_FNO,
    "unet": {"base_channels": 4, "levels": 2},
    "resnet": {"hidden_channels": 8, "dilations": ((1, 1),)},
    "dilresnet": {"hidden_channels": 8, "dilations": ((1, 2, 1),)},
    "deeponet": {"p": 8, "branch_channels": 4, "branch_layers": 2, "pool_size": 2,
                 "branch_hidden": 16, "trunk_width": 16, "trunk_layers": 2},
    "ffn": {"hidden": 16, "n_layers": 2},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(root, out, **kw) -> TrainConfig:
    base = dict(dataset="condiff", config=CONFIG, model="fno", model_config=dict(SMALL_FNO),
                epochs=3, batch_size=4, lr=3e-3, seed=0, root=str(root),
                out_dir=None if out is None else str(out),
                progress=False)
    base.update(kw)
    return TrainConfig(**base)


class _Spy:
    """Records TorchDataset constructions and reads, per split, in order."""

    def __init__(self, monkeypatch):
        self.events: list[tuple] = []
        init, getitems, getitem = TorchDataset.__init__, TorchDataset.__getitems__, TorchDataset.__getitem__
        spy = self

        def _init(ds, *args, **kwargs):
            init(ds, *args, **kwargs)
            spy.events.append(("init", ds.split))

        def _getitems(ds, indices):
            spy.events.append(("read", ds.split, [int(i) for i in indices]))
            return getitems(ds, indices)

        def _getitem(ds, i):
            spy.events.append(("read", ds.split, [int(i)]))
            return getitem(ds, i)

        monkeypatch.setattr(TorchDataset, "__init__", _init)
        monkeypatch.setattr(TorchDataset, "__getitems__", _getitems)
        monkeypatch.setattr(TorchDataset, "__getitem__", _getitem)

    def reads(self, split) -> list[int]:
        return [i for e in self.events if e[0] == "read" and e[1] == split for i in e[2]]

    def position(self, kind, split, last=False) -> int:
        hits = [k for k, e in enumerate(self.events) if e[0] == kind and e[1] == split]
        return hits[-1] if last else hits[0]


# --------------------------------------------------------------------------- a full run


def test_tiny_run_selects_on_val_and_reads_test_once(tiny_root, tmp_path, monkeypatch):
    spy = _Spy(monkeypatch)
    fake_val = iter([0.5, 0.2, 0.9])  # epoch 2 is the best by validation
    real_eval = loop_mod.evaluate_rel_l2
    val_calls = []

    def fake_evaluate(model, loader, *args, **kwargs):
        val_calls.append(loader.dataset.split)
        real_eval(model, loader, *args, **kwargs)  # really reads the val split
        return next(fake_val)

    monkeypatch.setattr(loop_mod, "evaluate_rel_l2", fake_evaluate)
    det_before = torch.are_deterministic_algorithms_enabled()
    out = tmp_path / "run"
    res = train(_cfg(tiny_root, out))

    # files
    for name in ("checkpoint.pt", "run.json", "predictions.nc", "submission.toml"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run == res.run

    # model selection: on val only, best epoch by val, the checkpoint holds that epoch
    assert val_calls == ["val"] * 3
    assert run["epochs"] == 3 and len(run["history"]) == 3
    assert [h["val_rel_l2"] for h in run["history"]] == [0.5, 0.2, 0.9]
    assert run["best_epoch"] == 2 and run["best_val_rel_l2"] == 0.2
    model, ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and ckpt["best_val_rel_l2"] == 0.2
    assert ckpt["model_name"] == "fno" and ckpt["model_config"] == res.model.config
    assert ckpt["model_config"]["width"] == 8 and ckpt["model_config"]["modes"] == 4
    assert ckpt["train_config"]["epochs"] == 3 and ckpt["train_config"]["seed"] == 0
    cdir = store.find_config_dirs(tiny_root, "condiff")
    cdir = next(d for d in cdir if d.name == CONFIG)
    manifest = store.read_manifest(cdir)
    assert ckpt["content_key"] == manifest["content_key"] == run["content_key"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, res.model.state_dict()[k].cpu()), k

    # the test split: opened once, after the last validation, every sample read exactly once
    assert [e for e in spy.events if e == ("init", "test")] == [("init", "test")]
    assert spy.position("init", "test") > spy.position("read", "val", last=True)
    assert sorted(spy.reads("test")) == [0, 1, 2]
    assert spy.position("read", "test") > spy.position("read", "val", last=True)
    assert sorted(set(spy.reads("train"))) == list(range(6))

    # predictions file: leaderboard format, test sample indices and target dims/coords
    from pdeforge.contracts.predictions import load_predictions

    pred, ref = load_predictions(out / "predictions.nc", "condiff", root=tiny_root)
    truth = store.open_split(cdir, split="test")
    assert list(pred.data_vars) == ["u"]
    assert pred["u"].dims == truth["u"].dims and pred["u"].shape == truth["u"].shape
    assert sorted(pred["sample"].values.tolist()) == sorted(truth["sample"].values.tolist())
    assert pred.attrs["model"] == run["model_label"] == "fno-default"
    assert pred.attrs["content_key"] == manifest["content_key"]

    # test metric: per-sample mean rel-L2 against the stored targets = what the scorer reports
    from pdeforge.contracts.metrics import rel_l2

    want = float(np.mean(rel_l2(pred["u"].values, truth["u"].values)))
    truth.close()
    assert run["test_rel_l2"] == pytest.approx(want, rel=1e-5)

    # run.json bookkeeping
    assert run["parameters"] == sum(p.numel() for p in model.parameters())
    assert run["n_train"] == 6 and run["n_val"] == 2 and run["n_test"] == 3
    assert run["x_channels"] == ["k", "f"] and run["y_channels"] == ["u"]
    assert run["train_wall_seconds"] > 0 and run["inference_seconds_per_sample"] > 0
    assert run["solver_seconds_per_sample"] == pytest.approx(solver_seconds_per_sample(manifest))
    if run["solver_seconds_per_sample"]:
        assert run["speedup"] == pytest.approx(
            run["solver_seconds_per_sample"] / run["inference_seconds_per_sample"])
    assert run["device"] == "cpu" and run["amp"] is False
    assert run["torch_version"] == torch.__version__ and run["hardware"]
    assert torch.are_deterministic_algorithms_enabled() == det_before  # restored


def test_solver_seconds_from_manifest():
    m = {"splits": {"train": {"shards": [{"start": 0, "stop": 4, "generate_cpu_seconds": 2.0},
                                         {"start": 4, "stop": 6, "generate_cpu_seconds": 1.0}]},
                    "test": {"shards": [{"start": 0, "stop": 2, "generate_cpu_seconds": 1.0}]}}}
    assert solver_seconds_per_sample(m) == pytest.approx(4.0 / 8)
    assert solver_seconds_per_sample({"splits": {}}) is None


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_run_different_seed_different(tiny_root, tmp_path):
    runs = {}
    for tag, seed in (("a", 0), ("b", 0), ("c", 1)):
        runs[tag] = train(_cfg(tiny_root, tmp_path / tag, epochs=2, seed=seed))
    a, b, c = runs["a"], runs["b"], runs["c"]
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    keys = ("history", "best_epoch", "best_val_rel_l2", "test_rel_l2", "parameters")
    assert {k: a.run[k] for k in keys} == {k: b.run[k] for k in keys}
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.run["test_rel_l2"] != c.run["test_rel_l2"]


# --------------------------------------------------------------------------- overfit


@pytest.fixture(scope="module")
def overfit_batch(tiny_root):
    ds = TorchDataset("condiff", CONFIG, "train", root=tiny_root)
    x, y = next(iter(make_loader(ds, batch_size=len(ds), shuffle=False)))
    return ds, x, y


@pytest.mark.parametrize("name", list_models())
def test_loss_drops_when_overfitting(name, overfit_batch):
    ds, x, y = overfit_batch
    torch.manual_seed(0)
    model = build_model(name, x.shape[1], y.shape[1], seed=0, **TINY_CONFIGS.get(name, {}))
    loss_fn = make_loss("rel_l2", lambda t: ds.denormalize(t, "y"))
    steps = 20
    opt = make_optimizer(model, lr=1e-2, weight_decay=1e-4)
    sched = make_scheduler(opt, "cosine", steps, 1e-2)

    def full_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(loss_fn(model(x), y))

    before = full_loss()
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
    after = full_loss()
    assert np.isfinite(after)
    assert after < 0.9 * before, (name, before, after)


# --------------------------------------------------------------------------- CLI


def _register_train(cli, monkeypatch) -> None:
    """Make sure ``pdeforge train`` is registered (once) for this test."""
    module = "pdeforge.baselines.commands"
    if module not in cli.EXTRA_COMMANDS:
        monkeypatch.setattr(cli, "EXTRA_COMMANDS", [*cli.EXTRA_COMMANDS, module])


def test_cli_parses_keys_and_model_overrides():
    cfg = parse_train_options("condiff", [
        "config=cubic0.1_grid16", "model=FNO", "preset=full", "epochs=7", "batch_size=8",
        "lr=2e-3", "seed=3", "out=runs/x", "amp=auto", "n_train=none", "model.width=12",
        "modes=(4, 3)", "activation=relu", "progress=false"], root="/data")
    assert cfg.model == "fno" and cfg.preset == "full" and cfg.epochs == 7
    assert cfg.batch_size == 8 and cfg.lr == 2e-3 and cfg.seed == 3
    assert cfg.out_dir == "runs/x" and cfg.amp is None and cfg.n_train is None
    assert cfg.root == "/data" and cfg.progress is False and cfg.dataset == "condiff"
    assert cfg.model_config == {"width": 12, "modes": (4, 3), "activation": "relu"}
    assert parse_train_options("condiff", ["root=/r"], root="/data").root == "/r"


def test_cli_unknown_key_lists_valid_keys():
    with pytest.raises(UnknownNameError) as err:
        parse_train_options("condiff", ["config=c", "epoch=3"])
    assert err.value.kind == "parameter" and err.value.name == "epoch"
    for key in ("epochs", "batch_size", "lr", "preset", "seed", "root", "out", "model.width"):
        assert key in err.value.known, key
    assert "epochs" in str(err.value)
    # a key of another model is unknown for this one
    with pytest.raises(UnknownNameError, match="base_channels"):
        parse_train_options("condiff", ["model=unet", "model.width=3"])
    with pytest.raises(InvalidValueError, match="epochs"):
        parse_train_options("condiff", ["epochs=many"])


def test_cli_unknown_model_lists_models(tiny_root, capsys, monkeypatch):
    with pytest.raises(UnknownNameError) as err:
        parse_train_options("condiff", ["model=transformer"])
    assert err.value.kind == "model" and set(err.value.known) == set(list_models())
    with pytest.raises(UnknownNameError, match="known models: deepcfd, deeponet"):
        train(TrainConfig(model="nope", root=str(tiny_root)))

    import pdeforge.cli as cli

    _register_train(cli, monkeypatch)
    assert cli.main(["train", "condiff", "model=transformer", "--root", str(tiny_root)]) == 2
    err_text = capsys.readouterr().err
    assert "unknown model 'transformer'" in err_text and "fno" in err_text and "unet" in err_text


def test_cli_train_runs(tiny_root, tmp_path, capsys, monkeypatch):
    import pdeforge.cli as cli

    _register_train(cli, monkeypatch)
    out = tmp_path / "cli"
    rc = cli.main(["--root", str(tiny_root), "train", "condiff", f"config={CONFIG}", "model=fno",
                   "epochs=1", "batch_size=6", "width=8", "modes=4", "n_layers=1",
                   "progress=false", f"out={out}"])
    assert rc == 0
    run = json.loads((out / "run.json").read_text())
    assert run["epochs"] == 1 and run["model_config"]["n_layers"] == 1
    assert (out / "predictions.nc").is_file()
    assert "test rel-L2" in capsys.readouterr().out


def test_default_out_dir(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = train(_cfg(tiny_root, None, epochs=2, n_train=3, loss="mse", schedule="onecycle",
                     model_config={"width": 4, "modes": 2, "n_layers": 1}))
    assert res.out_dir == tmp_path.joinpath("runs", "condiff", CONFIG, "fno").relative_to(tmp_path)
    assert (tmp_path / "runs" / "condiff" / CONFIG / "fno" / "run.json").is_file()
    assert res.run["n_train"] == 3 and res.run["steps"] == 2
    assert res.run["train_config"]["loss"] == "mse" and np.isfinite(res.run["test_rel_l2"])


# --------------------------------------------------------------------------- masked splits


def test_masked_run_scores_fluid_points_and_predicts_the_full_field(masked_config, tmp_path):
    import xarray as xr

    from shared_data import SOLID_VALUE

    cfg = TrainConfig(dataset=str(masked_config), model="fno", model_config=dict(SMALL_FNO), epochs=2,
                      batch_size=4, lr=3e-3, seed=0, out_dir=str(tmp_path / "run"), progress=False)
    res = train(cfg)
    run = res.run
    assert run["x_channels"] == ["a", "vel", "nu", "mask"] and run["y_channels"] == ["u"]
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_rel_l2"]) for h in run["history"])
    # the predictions file holds the full field (solid cells too); the test rel-L2 is over fluid only
    with xr.open_dataset(res.predictions) as pred, xr.open_dataset(masked_config / "test" / "shard-00000.nc") as t:
        p, y = pred["u"].values.astype(np.float64), t["u"].values.astype(np.float64)
        m = t["mask"].values.astype(np.float64)
    solid = m == 0
    assert p.shape == y.shape and solid.any() and np.all(y[solid] == SOLID_VALUE)
    assert np.all(np.isfinite(p)) and np.abs(p[solid]).max() > 0 and not np.allclose(p[solid], 0)
    fluid_only = np.mean([np.linalg.norm(m[i] * (p[i] - y[i])) / np.linalg.norm(m[i] * y[i]) for i in range(len(p))])
    everywhere = np.mean([np.linalg.norm(p[i] - y[i]) / np.linalg.norm(y[i]) for i in range(len(p))])
    assert run["test_rel_l2"] == pytest.approx(fluid_only, rel=1e-5)
    assert abs(everywhere - fluid_only) > 1e-3  # the test tells the two apart
    # the same run again: bit for bit (the mask path is deterministic too)
    again = train(dataclasses.replace(cfg, out_dir=str(tmp_path / "again")))
    assert again.run["history"] == run["history"] and again.run["test_rel_l2"] == run["test_rel_l2"]
