"""Tests of leaderboard aggregation (pdeforge.leaderboard.aggregate)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pdeforge.leaderboard.aggregate import aggregate, bootstrap_mean_ci, mean_rank


# --------------------------------------------------------------- bootstrap
def test_bootstrap_deterministic_per_seed():
    v = np.random.default_rng(0).normal(size=50)
    a = bootstrap_mean_ci(v, seed=3)
    b = bootstrap_mean_ci(v, seed=3)
    c = bootstrap_mean_ci(v, seed=4)
    assert a == b
    assert a[1:] != c[1:]
    assert a[0] == c[0]  # the point estimate does not depend on the seed


def test_bootstrap_interval_contains_mean_and_is_plain_mean():
    v = np.random.default_rng(1).exponential(size=200)
    mean, lo, hi = bootstrap_mean_ci(v)
    assert mean == pytest.approx(v.mean(), rel=1e-14)
    assert lo < mean < hi


def test_bootstrap_hand_case_two_values():
    # values {0, 1}: resample mean of n=2 is 0 (p=1/4), 0.5 (p=1/2), 1 (p=1/4);
    # 2.5 % and 97.5 % quantiles of many such draws are 0 and 1.
    mean, lo, hi = bootstrap_mean_ci([0.0, 1.0], n_boot=4000)
    assert (mean, lo, hi) == (0.5, 0.0, 1.0)


def test_bootstrap_width_shrinks_like_inverse_sqrt_n():
    rng = np.random.default_rng(2)
    small = rng.normal(size=100)
    large = rng.normal(size=1600)
    _, lo_s, hi_s = bootstrap_mean_ci(small, n_boot=2000)
    _, lo_l, hi_l = bootstrap_mean_ci(large, n_boot=2000)
    ratio = (hi_s - lo_s) / (hi_l - lo_l)
    assert 3.0 < ratio < 5.3  # sqrt(1600 / 100) = 4
    # and the 95 % width is close to 2 * 1.96 * sigma / sqrt(n) for N(0, 1)
    assert (hi_l - lo_l) == pytest.approx(2 * 1.96 / 40, rel=0.15)


def test_bootstrap_constant_values_zero_width():
    mean, lo, hi = bootstrap_mean_ci(np.full(37, 0.1))
    assert lo == hi
    assert mean == pytest.approx(0.1) and lo == pytest.approx(0.1)


def test_bootstrap_edge_cases():
    assert bootstrap_mean_ci([2.5]) == (2.5, 2.5, 2.5)
    out = bootstrap_mean_ci([1.0, np.nan, 2.0])
    assert all(np.isnan(x) for x in out)
    with pytest.raises(ValueError):
        bootstrap_mean_ci([])
    with pytest.raises(ValueError):
        bootstrap_mean_ci(np.zeros((2, 2)))


def test_bootstrap_alpha_widens_interval():
    v = np.random.default_rng(5).normal(size=100)
    _, lo95, hi95 = bootstrap_mean_ci(v, alpha=0.05)
    _, lo50, hi50 = bootstrap_mean_ci(v, alpha=0.5)
    assert lo95 < lo50 < hi50 < hi95


# --------------------------------------------------------------- aggregate
def _scores():
    # rmse[sample, field, t]; per-sample mean over (field, t) is the sample value
    # sample 0: [[1, 3], [5, 7]] -> mean 4
    # sample 1: [[2, 2], [2, 2]] -> mean 2
    # sample 2: [[0, 0], [0, 12]] -> mean 3
    rmse = np.array([
        [[1.0, 3.0], [5.0, 7.0]],
        [[2.0, 2.0], [2.0, 2.0]],
        [[0.0, 0.0], [0.0, 12.0]],
    ])
    return xr.Dataset(
        {"rmse": (("sample", "field", "t"), rmse),
         "crmse": (("sample", "field", "t"), 2 * rmse)},
        coords={"sample": [10, 11, 12], "field": ["u", "v"], "t": [0.0, 1.0],
                "band": ("sample", ["lo", "hi", "lo"])},
    )


def test_aggregate_order_per_sample_then_over_samples():
    df = aggregate(_scores())
    assert list(df.columns) == ["metric", "mean", "ci_lo", "ci_hi", "n"]
    row = df.set_index("metric").loc["rmse"]
    # (4 + 2 + 3) / 3 = 3
    assert row["mean"] == pytest.approx(3.0)
    assert row["n"] == 3
    # bootstrap over the 3 per-sample values {4, 2, 3}: bounded by their min/max
    assert 2.0 <= row["ci_lo"] <= 3.0 <= row["ci_hi"] <= 4.0
    assert df.set_index("metric").loc["crmse", "mean"] == pytest.approx(6.0)


def test_aggregate_bootstraps_samples_not_snapshots():
    ds = _scores()
    df = aggregate(ds, n_boot=500, seed=1).set_index("metric")
    per_sample = ds["rmse"].mean(("field", "t")).values
    ref = bootstrap_mean_ci(per_sample, n_boot=500, seed=1)
    assert tuple(df.loc["rmse", ["mean", "ci_lo", "ci_hi"]]) == pytest.approx(ref)


def test_aggregate_keep_field():
    df = aggregate(_scores(), keep_dims=("field",))
    sub = df[df.metric == "rmse"].set_index("field")
    # field u: sample means over t: (1+3)/2=2, 2, 0 -> mean 4/3
    # field v: (5+7)/2=6, 2, 6 -> mean 14/3
    assert sub.loc["u", "mean"] == pytest.approx(4.0 / 3.0)
    assert sub.loc["v", "mean"] == pytest.approx(14.0 / 3.0)
    assert len(df) == 4


def test_aggregate_by_coordinate_and_by_array():
    ds = _scores()
    df = aggregate(ds, by="band")
    sub = df[df.metric == "rmse"].set_index("band")
    # lo: samples 0 and 2 -> (4 + 3) / 2 ; hi: sample 1 -> 2
    assert sub.loc["lo", "mean"] == pytest.approx(3.5)
    assert sub.loc["lo", "n"] == 2
    assert sub.loc["hi", "mean"] == pytest.approx(2.0)
    assert sub.loc["hi", "ci_lo"] == sub.loc["hi", "ci_hi"] == pytest.approx(2.0)
    df2 = aggregate(ds, by=np.array([0, 1, 0]))
    sub2 = df2[df2.metric == "rmse"].set_index("group")
    assert sub2.loc[0, "mean"] == pytest.approx(3.5)
    with pytest.raises(ValueError, match="one label per"):
        aggregate(ds, by=[0, 1])


def test_aggregate_nan_propagates():
    ds = _scores()
    ds["rmse"][0, 0, 0] = np.nan
    row = aggregate(ds).set_index("metric").loc["rmse"]
    assert np.isnan(row["mean"])


def test_aggregate_errors():
    ds = _scores()
    with pytest.raises(ValueError, match="not found"):
        aggregate(ds, over="case")
    with pytest.raises(ValueError, match="keep_dims"):
        aggregate(ds, keep_dims=("z",))


def test_aggregate_is_not_a_batch_ratio():
    # per-sample ratios must be averaged, not the ratio of batch sums:
    # errors 1 and 1 on targets of norm 1 and 100 -> rel errors 1.0 and 0.01 -> mean 0.505
    # (a batch ratio would give 2 / 101 = 0.0198)
    from pdeforge.contracts.metrics import compute_all

    y = np.zeros((2, 1, 2))
    y[0, 0, 0] = 1.0
    y[1, 0, 0] = 100.0
    p = y.copy()
    p[:, 0, 1] = 1.0
    P = xr.DataArray(p, dims=("sample", "x", "y"))
    Y = xr.DataArray(y, dims=("sample", "x", "y"))
    df = aggregate(compute_all(P, Y, metrics=["rel_l2"])).set_index("metric")
    assert df.loc["rel_l2", "mean"] == pytest.approx(0.505)


# ---------------------------------------------------------------- mean rank
def _table(rows):
    return pd.DataFrame(rows, columns=["dataset", "model", "score"])


def test_mean_rank_with_ties():
    t = _table([
        ("d1", "A", 0.1), ("d1", "B", 0.2), ("d1", "C", 0.3),
        ("d2", "A", 0.5), ("d2", "B", 0.5), ("d2", "C", 0.1),   # A, B tie for 2nd/3rd -> 2.5
    ])
    r = mean_rank(t)
    # A: (1 + 2.5)/2 = 1.75 ; B: (2 + 2.5)/2 = 2.25 ; C: (3 + 1)/2 = 2
    assert r.loc["A", "mean_rank"] == pytest.approx(1.75)
    assert r.loc["B", "mean_rank"] == pytest.approx(2.25)
    assert r.loc["C", "mean_rank"] == pytest.approx(2.0)
    assert list(r.index) == ["A", "C", "B"]
    assert (r["n_datasets"] == 2).all()


def test_mean_rank_higher_is_better():
    t = _table([("d1", "A", 0.9), ("d1", "B", 0.1)])
    assert mean_rank(t, higher_is_better=True).loc["A", "mean_rank"] == 1.0
    assert mean_rank(t).loc["A", "mean_rank"] == 2.0


def test_mean_rank_custom_columns():
    t = pd.DataFrame({"ds": ["x", "x"], "m": ["A", "B"], "rel_l2": [2.0, 1.0]})
    r = mean_rank(t, score="rel_l2", dataset="ds", model="m")
    assert list(r.index) == ["B", "A"]


def test_mean_rank_missing_policies():
    t = _table([
        ("d1", "A", 0.1), ("d1", "B", 0.2), ("d1", "C", 0.3),
        ("d2", "A", np.nan), ("d2", "B", 0.5),               # A NaN, C absent on d2
    ])
    with pytest.raises(ValueError, match="missing"):
        mean_rank(t)
    w = mean_rank(t, missing="worst")
    # d2: B = 1, A and C tie for last (2, 3) -> 2.5 each
    assert w.loc["A", "mean_rank"] == pytest.approx((1 + 2.5) / 2)
    assert w.loc["B", "mean_rank"] == pytest.approx((2 + 1) / 2)
    assert w.loc["C", "mean_rank"] == pytest.approx((3 + 2.5) / 2)
    assert w.loc["A", "n_datasets"] == 1
    i = mean_rank(t, missing="ignore")
    assert i.loc["A", "mean_rank"] == pytest.approx(1.0)
    assert i.loc["B", "mean_rank"] == pytest.approx(1.5)


def test_mean_rank_duplicates_rejected():
    t = _table([("d1", "A", 0.1), ("d1", "A", 0.2)])
    with pytest.raises(ValueError, match="duplicate"):
        mean_rank(t)
