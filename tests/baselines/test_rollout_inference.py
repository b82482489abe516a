"""Autoregressive test rollout (pdeforge/baselines/rollout.py) on tiny generated CFD sets: the
model's own outputs are fed back (a model adding a constant per step gives the exact arithmetic
sequence), static channels stay fixed, solid cells are zeroed, history/horizon > 1, and
``train`` writes a full-trajectory predictions file with ``rollout_start`` that validates and
scores to the numbers in run.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from pdeforge.baselines import rollout as ro_mod
from pdeforge.baselines.evaluation import predict
from pdeforge.datasets.family import effective_card
from pdeforge.datasets.loader import TorchDataset, make_loader
from pdeforge.datasets.runner import generate_dataset
from pdeforge.errors import InvalidValueError

QUIET = dict(workers=1, progress=False, log=lambda *a: None)
FRAMES = 6


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ro") / "data"
    for name in ("cavity", "dam"):
        tiny = dict(effective_card(name)[1].tiny)
        tiny.update(frames=str(FRAMES), configs="bc", n_test="2")
        generate_dataset(name, tiny, root=root, **QUIET)
    return root


def _open(root, name, **kw):
    train = TorchDataset(name, "bc_grid60x16", "train", root=root, normalize=True, **kw)
    test = TorchDataset(name, "bc_grid60x16", "test", root=root, normalize=False, **kw)
    return train, test, make_loader(test, 4, shuffle=False)


class AddPerStep(nn.Module):
    """Output frame f (1..F) of target j = the newest input frame of j + f * (c_j + a * s), in
    normalised units, s = the first static channel (a case parameter, normalised)."""

    def __init__(self, H, F, V, c, a=0.0):
        super().__init__()
        self.H, self.F, self.V = H, F, V
        self.c, self.a = torch.tensor(c, dtype=torch.float32), a
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        newest = x[:, (self.H - 1) * self.V:self.H * self.V]
        s = x[:, self.H * self.V:self.H * self.V + 1]
        step = self.c.view(1, -1, 1, 1) + self.a * s
        return torch.cat([newest + f * step for f in range(1, self.F + 1)], dim=1)


def _affine(train, var):
    st = train.stats["variables"][var]
    assert st["transform"] == "none"
    return st["mean"], st["std"]


def _run(model, train, test, loader):
    return ro_mod.rollout_test(model, test, loader, normalize_x=lambda t: train.normalize(t, "x"),
                               denormalize_y=lambda t: train.denormalize(t, "y"),
                               device=torch.device("cpu"), amp=False, batch_size=4)


def test_constant_step_model_gives_the_arithmetic_sequence(root):
    train, test, loader = _open(root, "cavity")
    assert test.mode == "rollout" and test.n_frames == FRAMES and test.targets == ("u", "v")
    (_, su), (_, sv) = _affine(train, "u"), _affine(train, "v")
    cu, cv = 0.03, -0.02  # physical increments per step
    a = 0.01              # plus a term in the (normalised) lid velocity: static channels stay fixed
    model = AddPerStep(1, 1, 2, [cu / su, cv / sv], a)
    ro = _run(model, train, test, loader)
    assert ro.rollout_start == 1 and ro.pred.shape == (2, FRAMES, 2, 60, 16)
    raw = TorchDataset("cavity", "bc_grid60x16", "test", root=root, normalize=False)
    k = raw.x_channels.index("lid_velocity")
    assert k == 2
    for s in range(2):
        x0 = raw[s * raw.n_windows][0].numpy()
        z = float(train.normalize(torch.from_numpy(x0[None]), "x")[0, k, 0, 0])
        for j, (c, sd) in enumerate(((cu, su), (cv, sv))):
            step = c + a * z * sd
            for t in range(FRAMES):
                np.testing.assert_allclose(ro.pred[s, t, j], x0[j] + t * step, rtol=0, atol=2e-6)
    # not the truth: the stored frames 1.. differ from the sequence
    assert np.abs(ro.pred[:, 2:] - ro.truth[:, 2:]).max() > 1e-3
    # the given frame 0 is the truth; scores exclude it
    np.testing.assert_array_equal(ro.pred[:, 0], ro.truth[:, 0])
    assert ro.scores["n_steps"] == FRAMES - 1 and len(ro.scores["curve"]) == FRAMES - 1


def test_first_step_is_the_teacher_forced_prediction_and_later_ones_are_not(root):
    from pdeforge.baselines.registry import build_model

    train, test, loader = _open(root, "cavity")
    torch.manual_seed(0)
    model = build_model("fno", len(test.x_channels), len(test.y_channels), seed=0)
    ro = _run(model, train, test, loader)
    tf = predict(model, loader, torch.device("cpu"), False, normalize_x=lambda t: train.normalize(t, "x"))
    one = np.asarray(train.denormalize(tf.out.astype(np.float64), "y")).reshape(2, test.n_windows, 2, 60, 16)
    np.testing.assert_allclose(ro.pred[:, 1], one[:, 0], rtol=1e-5, atol=1e-6)
    # frame 2: the rollout feeds its own frame 1, teacher forcing the stored one
    assert np.abs(ro.pred[:, 2] - one[:, 1]).max() > 1e-4
    np.testing.assert_allclose(ro.one_step_rel_l2, np.mean([
        np.mean([np.linalg.norm(one[s, w, j] - ro.truth[s, w + 1, j]) / np.linalg.norm(ro.truth[s, w + 1, j])
                 for j in range(2)]) for s in range(2) for w in range(test.n_windows)]), rtol=1e-5)


def test_solid_cells_are_zeroed_and_fed_back_as_zero(root):
    # the solver grid (the tiny 8 x 8 view has no solid cell): the dam's block is solid
    task = dict(inputs=["u", "v", "inlet_velocity", "density"], targets=["u", "v"])
    train, test, loader = _open(root, "dam", **task)
    assert test.mask_var == "mask" and test.targets == ("u", "v")
    (_, su), (_, sv) = _affine(train, "u"), _affine(train, "v")
    cu, cv = 0.05, 0.01
    ro = _run(AddPerStep(1, 1, 2, [cu / su, cv / sv]), train, test, loader)
    fluid = ro.mask[:, 0] != 0
    assert (~fluid).any() and fluid.any()
    for j, c in enumerate((cu, cv)):
        for t in range(1, FRAMES):
            frame = ro.pred[:, t, j]
            assert np.all(frame[~fluid] == 0)
            np.testing.assert_allclose(frame[fluid], (ro.pred[:, 0, j] + t * c)[fluid], rtol=0, atol=2e-6)
    keep = ro_mod.autoregressive_rollout(
        AddPerStep(1, 1, 2, [cu / su, cv / sv]),
        np.stack([test[s * test.n_windows][0].numpy() for s in range(2)]), ro.plan,
        normalize_x=lambda t: train.normalize(t, "x"), denormalize_y=lambda t: train.denormalize(t, "y"),
        device=torch.device("cpu"), mask=ro.mask, solid="keep")
    np.testing.assert_allclose(keep[:, 3, 0], ro.pred[:, 0, 0] + 3 * cu, atol=2e-6)  # solid too


def test_history_and_horizon_above_one(root):
    train, test, loader = _open(root, "cavity", history=2, horizon=2)
    assert test.x_channels[:4] == ["u[t-1]", "v[t-1]", "u[t]", "v[t]"]
    (_, su), (_, sv) = _affine(train, "u"), _affine(train, "v")
    cu, cv = 0.04, 0.02
    ro = _run(AddPerStep(2, 2, 2, [cu / su, cv / sv]), train, test, loader)
    assert ro.rollout_start == 2 and ro.plan.H == 2 and ro.plan.F == 2
    # frames 0, 1 given; 2, 3 from frame 1; 4, 5 from frame 3: frame t = frame 1 + (t - 1) c
    np.testing.assert_array_equal(ro.pred[:, :2], ro.truth[:, :2])
    for t in range(2, FRAMES):
        np.testing.assert_allclose(ro.pred[:, t, 0], ro.truth[:, 1, 0] + (t - 1) * cu, atol=2e-6)
        np.testing.assert_allclose(ro.pred[:, t, 1], ro.truth[:, 1, 1] + (t - 1) * cv, atol=2e-6)
    # the truth assembled from the windows is the stored series
    from pdeforge import open_dataset

    ds = open_dataset("cavity", config="bc_grid60x16", split="test", root=root)
    np.testing.assert_array_equal(ro.truth[:, :, 0], ds["u"].values.astype(np.float32))
    np.testing.assert_array_equal(ro.truth[:, :, 1], ds["v"].values.astype(np.float32))


def test_time_inputs_that_are_not_targets_are_refused(root):
    test = TorchDataset("cavity", "bc_grid60x16", "test", root=root, normalize=False,
                        inputs=["u", "v", "p", "lid_velocity"], targets=["u", "v"])
    with pytest.raises(InvalidValueError, match="p are not targets"):
        ro_mod.rollout_plan(test)


@pytest.mark.parametrize("model", ["fno", "unet", "deeponet", "ffn"])
def test_train_writes_a_rollout_that_validates_and_scores(root, tmp_path, model):
    from pdeforge.baselines.train import TrainConfig, train
    from pdeforge.contracts.predictions import load_predictions
    from pdeforge.leaderboard.score import score

    res = train(TrainConfig(dataset="cavity", config="bc_grid60x16", model=model, epochs=1, batch_size=4,
                            root=str(root), out_dir=str(tmp_path / model), progress=False, device="cpu"))
    run = json.loads(res.run_json.read_text())
    pred, _ = load_predictions(res.predictions, "cavity", root)
    assert pred.attrs["rollout_start"] == 1
    assert pred["u"].dims == ("sample", "t", "x", "y") and pred["u"].shape == (2, FRAMES, 60, 16)
    assert run["n_test"] == 2 and run["rollout"]["n_steps"] == FRAMES - 1
    assert run["rollout"]["model_selection"].startswith("teacher-forced one-step val")
    sc = score(res.predictions, "cavity", root)
    assert list(sc["step"].values) == list(range(1, FRAMES))
    board_rel = float(sc["rel_l2"].mean(dim=("field", "t")).mean())
    assert run["test_rel_l2"] == pytest.approx(board_rel, rel=1e-6)
    assert run["rollout"]["rollout_rel_l2"] == pytest.approx(float(sc["rollout_rel_l2"].mean()), rel=1e-6)
    assert run["rollout"]["steps_to_threshold"] == pytest.approx(float(sc["steps_to_threshold"].mean()))
    np.testing.assert_allclose(run["rollout"]["curve"], sc["rel_l2"].mean(dim=("sample", "field")).values,
                               rtol=1e-6)
    assert run["inference_seconds_per_sample"] > 0


@pytest.mark.parametrize("name", ["deeponet", "ffn"])
def test_residual_variants_add_the_current_frame(name):
    from pdeforge.baselines.registry import build_model

    x = torch.randn(3, 7, 16, 12)
    plain = build_model(name, 7, 2, seed=0)
    auto = build_model(name, 7, 2, seed=0, residual=True)
    assert plain.config["residual"] is False and auto.config["residual"] is True
    auto.load_state_dict(plain.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(auto(x), plain(x) + x[:, :2], rtol=0, atol=0)
    with pytest.raises(ValueError, match="c_in >= c_out"):
        build_model(name, 1, 2, residual=True)


class Explode(nn.Module):
    """Multiplies the current frame by 1e12 per step (in normalised units) and adds 1: blows up."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x[:, :2] * 1e12 + 1.0


def test_a_diverging_rollout_is_frozen_finite_and_recorded(root, tmp_path):
    train, test, loader = _open(root, "cavity")
    ro = _run(Explode(), train, test, loader)
    assert np.isfinite(ro.pred).all() and np.abs(ro.pred).max() <= ro_mod.DIVERGED
    for s, d in enumerate(ro.diverged):
        assert 1 <= d < FRAMES
        for t in range(d, FRAMES):  # frozen at the last non-diverged frame
            np.testing.assert_array_equal(ro.pred[s, t], ro.pred[s, d - 1])
    rec = ro_mod.rollout_record(ro)
    assert rec["diverged_at_frame"] == [int(d) for d in ro.diverged]
    path = ro_mod.write_rollout_predictions(tmp_path / "p.nc", ro, test, "cavity", "bc_grid60x16", "explode", root)
    from pdeforge.leaderboard.score import score

    assert np.isfinite(score(path, "cavity", root)["rel_l2"].values).all()
    good = _run(AddPerStep(1, 1, 2, [0.0, 0.0]), train, test, loader)
    assert ro_mod.rollout_record(good)["diverged_at_frame"] == [None, None]
