"""Rollout metrics (issue #9): hand-computed values on small synthetic time series (masked and
unmasked), the ``rollout_start`` attribute of the predictions format, and the scorer, the
``pdeforge score`` table and the board on a tiny generated ``ns2d`` dataset."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from pdeforge.contracts.errors import SubmissionError
from pdeforge.contracts.metrics import (
    ROLLOUT_THRESHOLD,
    DegenerateTargetWarning,
    compute_all,
    cumulative_mean,
    get_metric,
    list_metrics,
    rollout_rel_l2,
    steps_to_threshold,
)
from pdeforge.contracts.predictions import Reference, write_predictions
from pdeforge.datasets.family import effective_card
from pdeforge.datasets.runner import generate_dataset
from pdeforge.datasets.store import find_config_dirs, open_split
from pdeforge.leaderboard.score import (
    RolloutStartWarning,
    rollout_curve,
    score,
    score_predictions,
    summarize,
)

# ---------------------------------------------------------------- hand cases, unmasked
# y_k = 1 on a 2x2 grid (||y_k|| = 2) and a uniform error d_k (||e_k|| = 2 d_k), so the per-step
# rel_l2 is e_k = d_k exactly.
D = np.array([0.05, 0.2, 0.05])
Y = np.ones((3, 2, 2))
P = Y + D[:, None, None]


def test_registry_kinds_and_directions():
    assert list_metrics("rollout") == ["rollout_rel_l2", "steps_to_threshold"]
    assert not set(list_metrics()) & set(list_metrics("rollout"))
    assert get_metric("steps_to_threshold").higher_is_better is True
    assert get_metric("rollout_rel_l2").higher_is_better is False
    for name in list_metrics("rollout"):
        m = get_metric(name)
        assert m.rollout and m.relative and len(m.doc) > 100
        assert "::" in m.doc  # the formula is in the docstring
    assert not any(get_metric(n).rollout for n in list_metrics())
    with pytest.raises(ValueError, match="kind"):
        list_metrics("rollouts")
    assert ROLLOUT_THRESHOLD == 0.1


def test_hand_case_unmasked():
    # sqrt(sum_k 4 d_k^2 / sum_k 4) = sqrt((0.0025 + 0.04 + 0.0025) / 3) = sqrt(0.015)
    assert rollout_rel_l2(P, Y) == pytest.approx(np.sqrt(0.015), rel=1e-12)
    # step 1: 0.05 <= 0.1, step 2: 0.2 > 0.1 -> one step before the threshold
    assert steps_to_threshold(P, Y) == 1.0
    # the cumulative mean of the per-step curve: 0.05, 0.25/2, 0.3/3
    e = get_metric("rel_l2")(P, Y)
    np.testing.assert_allclose(e, D, rtol=1e-12)
    np.testing.assert_allclose(cumulative_mean(e), [0.05, 0.125, 0.1], rtol=1e-12)


def test_accumulated_error_weights_steps_by_target_energy():
    # y_1 = 1 (||y_1||^2 = 4), y_2 = 3 (||y_2||^2 = 36); error 0.2 on step 1 only
    y = np.stack([np.ones((2, 2)), 3 * np.ones((2, 2))])
    p = y.copy()
    p[0] += 0.2
    # sqrt(4 * 0.04 / 40) = sqrt(0.004); the mean of the per-step rel_l2 is (0.2 + 0) / 2
    assert rollout_rel_l2(p, y) == pytest.approx(np.sqrt(0.004), rel=1e-12)
    assert np.mean(get_metric("rel_l2")(p, y)) == pytest.approx(0.1, rel=1e-12)


def test_steps_to_threshold_edges():
    y = np.ones((4, 2, 2))
    # never exceeded -> n_steps
    assert steps_to_threshold(y + 0.01, y) == 4.0
    # the first step exceeds -> 0
    assert steps_to_threshold(y + 0.5, y) == 0.0
    # equal to the threshold is not "exceeding" (0.5 is exact in binary: ||e|| = 1, ||y|| = 2)
    assert steps_to_threshold(y + 0.5, y, threshold=0.5) == 4.0
    # a later recovery does not count: steps 1, 2 fine, 3 bad, 4 fine -> 2
    d = np.array([0.0, 0.05, 0.3, 0.0])[:, None, None]
    assert steps_to_threshold(y + d, y) == 2.0
    # leading axes are kept: (sample=2, t=4, 2, 2) -> (2,)
    out = steps_to_threshold(np.stack([y + d, y + 0.01]), np.stack([y, y]))
    np.testing.assert_array_equal(out, [2.0, 4.0])
    # overflow (inf error) counts as exceeding
    with np.errstate(over="ignore"):
        assert steps_to_threshold(np.full_like(y, 1e300), y) == 0.0


def test_degenerate_targets_give_nan():
    y = np.ones((3, 2, 2))
    y[1] = 0.0  # a frame at rest
    with pytest.warns(DegenerateTargetWarning):
        assert np.isnan(steps_to_threshold(y + 0.01, y))
    # the trajectory as a whole is not degenerate
    assert np.isfinite(rollout_rel_l2(y + 0.01, y))
    with pytest.warns(DegenerateTargetWarning):
        assert np.isnan(rollout_rel_l2(np.ones((3, 2, 2)), np.zeros((3, 2, 2))))
    c = cumulative_mean([1.0, np.nan, 3.0])
    assert c[0] == 1.0 and np.isnan(c[1:]).all()


def test_rollout_metrics_need_a_time_axis():
    with pytest.raises(ValueError, match="time axis"):
        rollout_rel_l2(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="time axis"):
        steps_to_threshold(np.ones((4,)), np.ones((4,)), ndim_space=1)


# ---------------------------------------------------------------- hand cases, masked
# 2x3 grid, the middle column solid; on fluid points y = 1 (4 points, ||y||^2 = 4) and the error
# is d_k; the solid points hold garbage that must not matter.
FLUID = np.array([[True, False, True], [True, False, True]])


def _masked_case(d):
    nt = len(d)
    y = np.where(FLUID, 1.0, 123.0) * np.ones((nt, 2, 3))
    p = y + np.asarray(d)[:, None, None]
    p = np.where(FLUID, p, -5e3)  # solid: huge error
    return p, y


def test_hand_case_masked():
    p, y = _masked_case([0.05, 0.2, 0.05])
    m = FLUID
    assert rollout_rel_l2(p, y, mask=m) == pytest.approx(np.sqrt(0.015), rel=1e-12)
    assert steps_to_threshold(p, y, mask=m) == 1.0
    # 0/1 numbers work as well, and a mask per frame (time-varying) broadcasts
    assert rollout_rel_l2(p, y, mask=m.astype(np.int8)) == rollout_rel_l2(p, y, mask=m)
    assert steps_to_threshold(p, y, mask=np.broadcast_to(m, p.shape)) == 1.0
    # unmasked, the solid garbage dominates
    assert rollout_rel_l2(p, y) > 10 and steps_to_threshold(p, y) == 0.0
    # the mask's fluid points only: same numbers as the unmasked metric on the fluid columns
    cols = [0, 2]
    assert rollout_rel_l2(p, y, mask=m) == pytest.approx(
        rollout_rel_l2(p[:, :, cols], y[:, :, cols]), rel=1e-12)


def test_masked_frame_without_fluid_raises():
    p, y = _masked_case([0.0, 0.0])
    m = np.broadcast_to(FLUID, p.shape).copy()
    m[1] = False
    for fn in (rollout_rel_l2, steps_to_threshold):
        with pytest.raises(ValueError, match="no fluid"):
            fn(p, y, mask=m)


def test_compute_all_rollout_metrics_with_a_per_sample_mask_and_t_not_first():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(4, 2, 2, 3)) + 3.0  # (t, sample, x, y)
    p = y + 0.1 * rng.normal(size=y.shape)
    P_ = xr.DataArray(p, dims=("t", "sample", "x", "y"), coords={"t": np.arange(4.0)})
    Y_ = xr.DataArray(y, dims=P_.dims, coords=P_.coords)
    fluid = np.stack([FLUID, np.ones((2, 3), dtype=bool)])  # sample 1 all fluid
    mask = xr.DataArray(fluid, dims=("sample", "x", "y"))
    ds = compute_all(P_, Y_, metrics=["rel_l2", "rollout_rel_l2", "steps_to_threshold"],
                     mask=mask)
    assert ds["rel_l2"].dims == ("t", "sample")
    assert ds["rollout_rel_l2"].dims == ("sample",) and ds["rollout_rel_l2"].attrs["rollout"] == 1
    assert ds["steps_to_threshold"].attrs["higher_is_better"] == 1
    for s in range(2):
        ps, ys = p[:, s], y[:, s]
        assert ds["rollout_rel_l2"].values[s] == pytest.approx(
            rollout_rel_l2(ps, ys, mask=fluid[s]), rel=1e-14)
        # by hand: the norms over the fluid points of all frames
        e2 = np.sum(np.where(fluid[s], ps - ys, 0.0) ** 2)
        y2 = np.sum(np.where(fluid[s], ys, 0.0) ** 2)
        assert ds["rollout_rel_l2"].values[s] == pytest.approx(np.sqrt(e2 / y2), rel=1e-12)
        assert ds["steps_to_threshold"].values[s] == steps_to_threshold(ps, ys, mask=fluid[s])
    # the default is the snapshot metrics only; a rollout metric without time is an error
    assert list(compute_all(P_, Y_).data_vars) == list_metrics()
    with pytest.raises(ValueError, match="time dim"):
        compute_all(P_.isel(t=0), Y_.isel(t=0), metrics=["rollout_rel_l2"])


# ---------------------------------------------------------------- the scorer on a tiny ns2d

NS = "ns2d"
A = np.array([0.01, 0.04, 0.07])  # per-sample error growth: rel_l2 at step k = a * k


@pytest.fixture(scope="module")
def ns_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ns2d")
    over = dict(effective_card(NS)[1].tiny)
    over["n_test"] = "3"
    generate_dataset(NS, over, root=root, workers=1, progress=False, log=lambda *a: None)
    return root


@pytest.fixture(scope="module")
def ns_config(ns_root):
    return min(find_config_dirs(ns_root, NS), key=lambda d: d.stat().st_size).name


@pytest.fixture(scope="module")
def ns_truth(ns_root, ns_config):
    with open_split(NS, config=ns_config, split="test", root=ns_root) as ds:
        return ds.load()


def _rollout_pred(truth):
    """Frame 0 copied; frame k = (1 + a_s k) y_k, so its rel_l2 is a_s k."""
    w = truth["w"].values  # (sample, t, x, y)
    k = np.arange(w.shape[1])
    return w * (1.0 + A[:, None, None, None] * k[None, :, None, None])


def test_rollout_start_excludes_the_given_frame(ns_root, ns_config, ns_truth, tmp_path):
    w = ns_truth["w"].values
    n_s, n_t = w.shape[:2]
    assert n_s == 3 and n_t >= 3  # frames t = 0 (initial state), 1 .. n_t - 1
    path = write_predictions(tmp_path / "p.nc", _rollout_pred(ns_truth), NS, ns_config, "ar",
                             root=ns_root, rollout_start=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RolloutStartWarning)  # the attribute is set: no warning
        s = score(path, NS, root=ns_root)
    k = np.arange(1, n_t)
    assert s.attrs["rollout_start"] == 1
    np.testing.assert_array_equal(s["t"].values, ns_truth["t"].values[1:])
    np.testing.assert_array_equal(s["step"].values, k)
    # per-step rel_l2 = a_s k
    np.testing.assert_allclose(s["rel_l2"].sel(field="w").values, A[:, None] * k, rtol=1e-10)
    # steps to 0.1 over k = 1, 2 (n_t = 3): 0.01/0.02 -> 2, 0.04/0.08 -> 2, 0.07/0.14 -> 1
    if n_t == 3:
        np.testing.assert_array_equal(s["steps_to_threshold"].sel(field="w").values, [2, 2, 1])
    want_steps = [np.argmax(np.append(a * k > 0.1, True)) for a in A]
    np.testing.assert_array_equal(s["steps_to_threshold"].sel(field="w").values, want_steps)
    # accumulated error, by hand from the truth's norms: sqrt(sum_k a^2 k^2 |y_k|^2 / sum_k |y_k|^2)
    n2 = np.sum(w[:, 1:] ** 2, axis=(2, 3))  # (sample, step)
    want = np.sqrt(np.sum((A[:, None] * k) ** 2 * n2, axis=1) / np.sum(n2, axis=1))
    np.testing.assert_allclose(s["rollout_rel_l2"].sel(field="w").values, want, rtol=1e-10)
    assert s["rollout_rel_l2"].dims == ("sample", "field")

    # the summary: rel_l2 is the mean over samples of the per-sample mean over steps
    t = summarize(s, by=False).set_index("metric")
    assert t.loc["rel_l2", "mean"] == pytest.approx(np.mean(A) * np.mean(k), rel=1e-10)
    assert t.loc["steps_to_threshold", "mean"] == pytest.approx(np.mean(want_steps))
    # the curve: at step k the mean over samples, a bootstrap interval around it
    c = rollout_curve(s)
    step = c[c.metric == "rel_l2"]
    np.testing.assert_array_equal(step.step, k)
    np.testing.assert_allclose(step["mean"], np.mean(A) * k, rtol=1e-10)
    assert (step.ci_lo < step["mean"]).all() and (step["mean"] < step.ci_hi).all()
    assert (step.ci_lo >= A.min() * k - 1e-12).all() and (step.ci_hi <= A.max() * k + 1e-12).all()
    assert (step.n == 3).all()
    cum = c[c.metric == "cum_rel_l2"]
    np.testing.assert_allclose(cum["mean"], np.mean(A) * np.cumsum(k) / k, rtol=1e-10)
    # the last cumulative value is the summary's rel_l2
    assert cum["mean"].iloc[-1] == pytest.approx(t.loc["rel_l2", "mean"], rel=1e-12)


def test_without_rollout_start_every_frame_is_scored_and_a_copy_is_noted(ns_root, ns_config,
                                                                         ns_truth, tmp_path):
    path = write_predictions(tmp_path / "p.nc", _rollout_pred(ns_truth), NS, ns_config, "ar",
                             root=ns_root)
    with pytest.warns(RolloutStartWarning, match="rollout_start=1"):
        s = score(path, NS, root=ns_root)
    n_t = ns_truth.sizes["t"]
    assert s.attrs["rollout_start"] == 0
    np.testing.assert_array_equal(s["step"].values, np.arange(1, n_t + 1))
    np.testing.assert_array_equal(s["rel_l2"].sel(field="w").values[:, 0], 0.0)  # frame 0
    # the copied frame counts as a (perfect) step
    k = np.arange(1, n_t)
    want = [1 + np.argmax(np.append(a * k > 0.1, True)) for a in A]
    np.testing.assert_array_equal(s["steps_to_threshold"].sel(field="w").values, want)
    # no warning when frame 0 is not the truth
    p = _rollout_pred(ns_truth)
    p[:, 0] *= 1.01
    path = write_predictions(tmp_path / "q.nc", p, NS, ns_config, "direct", root=ns_root)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RolloutStartWarning)
        score(path, NS, root=ns_root)


@pytest.mark.parametrize("value, fragment", [
    (1.0, "must be an integer"), ("1", "must be an integer"), (True, "must be an integer"),
    (-1, "out of range"), (3, "out of range"), (99, "out of range"),
])
def test_bad_rollout_start_is_refused(ns_root, ns_config, ns_truth, tmp_path, value, fragment):
    if value == 3 and ns_truth.sizes["t"] != 3:
        pytest.skip("the range case assumes 3 frames")
    if not isinstance(value, bool):  # netCDF has no boolean attributes
        path = write_predictions(tmp_path / "p.nc", _rollout_pred(ns_truth), NS, ns_config,
                                 "ar", root=ns_root)
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
        ds.attrs["rollout_start"] = value
        bad = tmp_path / "bad.nc"
        ds.to_netcdf(bad, engine="h5netcdf")
        with pytest.raises(SubmissionError) as info:
            score(bad, NS, root=ns_root)
        assert fragment in str(info.value) and str(bad) in str(info.value)
    with pytest.raises(SubmissionError, match=fragment):
        write_predictions(tmp_path / "w.nc", _rollout_pred(ns_truth), NS, ns_config, "ar",
                          root=ns_root, rollout_start=value)


def test_rollout_start_on_a_dataset_without_time_is_refused(tiny_root, tmp_path):
    with open_split("condiff", config="cubic0.1_grid16", split="test", root=tiny_root) as t:
        u = t["u"].values
    with pytest.raises(SubmissionError, match="no 't' dim"):
        write_predictions(tmp_path / "p.nc", u, "condiff", "cubic0.1_grid16", "m",
                          root=tiny_root, rollout_start=0)


def test_non_time_scores_are_unchanged(tiny_root, tmp_path):
    """ConDiff: no rollout metrics, no step coordinate, no rollout_start attribute; asking for a
    rollout metric is an error."""
    with open_split("condiff", config="cubic0.1_grid16", split="test", root=tiny_root) as t:
        u = t["u"].values
    path = write_predictions(tmp_path / "p.nc", u * 1.01, "condiff", "cubic0.1_grid16", "m",
                             root=tiny_root)
    s = score(path, "condiff", root=tiny_root)
    assert list(s.data_vars) == list_metrics() == s.attrs["metrics"].split()
    assert "step" not in s.coords and "rollout_start" not in s.attrs
    from pdeforge.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="time-series"):
        score(path, "condiff", root=tiny_root, metrics=["rel_l2", "steps_to_threshold"])


@pytest.mark.filterwarnings("ignore::pdeforge.contracts.metrics.DegenerateTargetWarning")  # vrmse
def test_scorer_masks_rollout_metrics():
    """A synthetic reference with a fluid mask: the rollout metrics see fluid points only and
    the given frame is dropped before the mask is applied."""
    n, nt = 2, 3
    y = np.where(FLUID, 1.0, 50.0) * np.ones((n, nt, 2, 3))
    d = np.array([0.0, 0.05, 0.2])  # frame 0 exact (given), then 0.05, 0.2
    p = np.where(FLUID, y + d[None, :, None, None], 1e3)
    truth = xr.Dataset({
        "u": (("sample", "t", "x", "y"), y, {"role": "target"}),
        "fluid": (("x", "y"), FLUID.astype(np.int8), {"role": "mask"}),
    }, coords={"sample": np.arange(n), "t": np.arange(nt, dtype=float), "x": [0.0, 1.0],
               "y": [0.0, 1.0, 2.0]}, attrs={"targets": "u"})
    ref = Reference("synthetic", "c", None, {"content_key": "k"}, truth, ["u"], [], ["fluid"])
    pred = xr.Dataset({"u": (truth["u"].dims, p)}, coords=truth.coords,
                      attrs={"model": "m", "rollout_start": 1})
    s = score_predictions(pred, ref)
    assert s.attrs["masks"] == "u=fluid"
    np.testing.assert_allclose(s["rel_l2"].sel(field="u").values, [[0.05, 0.2]] * n, rtol=1e-12)
    # sqrt((4 * 0.05^2 + 4 * 0.2^2) / 8)
    np.testing.assert_allclose(s["rollout_rel_l2"].sel(field="u").values,
                               np.sqrt((0.05 ** 2 + 0.2 ** 2) / 2), rtol=1e-12)
    np.testing.assert_array_equal(s["steps_to_threshold"].sel(field="u").values, [1.0, 1.0])


# ---------------------------------------------------------------- CLI and board




def test_score_cli_prints_the_rollout_table(ns_root, ns_config, ns_truth, tmp_path, run_cli):
    path = write_predictions(tmp_path / "p.nc", _rollout_pred(ns_truth), NS, ns_config, "ar",
                             root=ns_root, rollout_start=1)
    rc, out, _ = run_cli("score", path, "--dataset", NS, "--root", ns_root)
    assert rc == 0
    assert "error against rollout step" in out and "frames from index 1 on" in out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["step", "t"])
    first = lines[head + 1].split()
    assert first[0] == "1" and float(first[2]) == pytest.approx(np.mean(A), rel=1e-3)
    assert "steps_to_threshold" in out and "rollout_rel_l2" in out
    # without the attribute the copied frame 0 is noted
    path = write_predictions(tmp_path / "q.nc", _rollout_pred(ns_truth), NS, ns_config, "ar",
                             root=ns_root)
    rc, out, _ = run_cli("score", path, "--dataset", NS, "--root", ns_root)
    assert rc == 0 and out.startswith("note: frame 0 of the predictions equals the truth")


META = "\n".join([
    'authors = ["Ann Author"]', "parameters = 1000", "train_time_hours = 0.1",
    'hardware = "CPU"', 'train_split = "train"', "date = 2025-01-31",
]) + "\n"


def test_board_shows_rollout_columns_and_plot_and_reproduces(ns_root, ns_config, ns_truth,
                                                             tmp_path):
    from pdeforge.leaderboard.render import render
    from pdeforge.leaderboard.reproduce import reproduce
    from pdeforge.leaderboard.submit import submit

    board = tmp_path / "board"
    for name, scale in (("AR-good", 1.0), ("AR-bad", 3.0)):
        p = ns_truth["w"].values * (1 + scale * (_rollout_pred(ns_truth) / ns_truth["w"].values
                                                 - 1))
        pred = write_predictions(tmp_path / f"{name}.nc", p, NS, ns_config, name, root=ns_root,
                                 rollout_start=1)
        meta = tmp_path / f"{name}.toml"
        meta.write_text(f"model = {json.dumps(name)}\n" + META)
        entry = submit(pred, meta, NS, board_dir=board, root=ns_root)
        report = reproduce(entry, root=ns_root)
        assert report.ok, str(report)
    out = render(board, root=ns_root)
    plots = {p.name for p in out["plots"]}
    curve = next(p for p in plots if p.endswith("--rel_l2-vs-step.png"))
    assert (board / "plots" / curve).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = out["markdown"].read_text()
    assert "steps\\_to\\_threshold (higher is better)" in md and "rollout\\_rel\\_l2" in md
    assert f"(plots/{curve})" in md
    page = out["html"].read_text()
    assert f'src="plots/{curve}"' in page and "steps_to_threshold (higher is better)" in page
    # AR-good ranks first (rel_l2 three times smaller)
    rows = [line for line in md.splitlines() if line.startswith("| 1 |") or
            line.startswith("| 2 |")]
    assert "AR-good" in rows[0] and "AR-bad" in rows[-1]
