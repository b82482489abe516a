"""Predictions format, validation errors, scorer (golden values) and summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from pdeforge.contracts.errors import SubmissionError
from pdeforge.contracts.predictions import (
    FORMAT,
    Reference,
    load_predictions,
    write_predictions,
)
from pdeforge.datasets.store import open_split
from pdeforge.errors import PdeforgeError
from pdeforge.leaderboard.score import (
    group_labels,
    load_scores,
    score,
    score_predictions,
    summarize,
)

DS = "condiff"
CFG = "cubic0.1_grid16"


def _truth(root, config=CFG):
    with open_split(DS, config=config, split="test", root=root) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def truth(tiny_root):
    return _truth(tiny_root)


@pytest.fixture(scope="module")
def valid(tiny_root, truth, tmp_path_factory):
    """A valid predictions Dataset (as read back from a written file)."""
    path = tmp_path_factory.mktemp("pred") / "valid.nc"
    write_predictions(path, truth["u"].values * 1.01, DS, CFG, "toy", root=tiny_root)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def _save(ds, path):
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def _expect(ds, tmp_path, root, *fragments):
    path = _save(ds, tmp_path / "bad.nc")
    with pytest.raises(SubmissionError) as info:
        score(path, DS, root=root)
    msg = str(info.value)
    assert str(path) in msg  # names the file
    for f in fragments:
        assert f in msg, msg
    return msg


# ------------------------------------------------------------------ the format


def test_written_file_follows_the_spec(tiny_root, truth, valid):
    assert valid.attrs["format"] == FORMAT == "pdeforge-predictions/1"
    assert valid.attrs["dataset"] == DS and valid.attrs["config"] == CFG
    assert valid.attrs["split"] == "test" and valid.attrs["model"] == "toy"
    manifest = json.loads((tiny_root / DS / CFG / "manifest.json").read_text())
    assert valid.attrs["content_key"] == manifest["content_key"]
    assert list(valid.data_vars) == ["u"]
    assert valid["u"].dims == truth["u"].dims == ("sample", "x", "y")
    for c in ("sample", "x", "y"):
        np.testing.assert_array_equal(valid[c].values, truth[c].values)
    assert valid["u"].dtype == np.float64


def test_write_keeps_float32_and_accepts_mapping_and_dataarray(tiny_root, truth, tmp_path):
    u32 = truth["u"].values.astype(np.float32)
    p = write_predictions(tmp_path / "a.nc", {"u": u32}, DS, CFG, "m", root=tiny_root)
    with xr.open_dataset(p, engine="h5netcdf") as ds:
        assert ds["u"].dtype == np.float32
    # a DataArray in another dim order and sample order is transposed / kept labelled
    da = truth["u"].isel(sample=[2, 0, 1]).transpose("sample", "y", "x")
    p2 = write_predictions(tmp_path / "b.nc", da, DS, CFG, "m", root=tiny_root)
    scores = score(p2, DS, root=tiny_root)
    np.testing.assert_array_equal(scores["rel_l2"].values, 0.0)


def test_write_refuses_invalid_and_leaves_no_file(tiny_root, truth, tmp_path):
    bad = truth["u"].values.copy()
    bad[1, 2, 3] = np.nan
    path = tmp_path / "nan.nc"
    with pytest.raises(SubmissionError, match="NaN"):
        write_predictions(path, bad, DS, CFG, "m", root=tiny_root)
    assert not path.exists() and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(SubmissionError, match="shape"):
        write_predictions(path, bad[:2], DS, CFG, "m", root=tiny_root)
    with pytest.raises(SubmissionError, match="not generated"):
        write_predictions(path, bad, DS, "nope_grid16", "m", root=tiny_root)


# ------------------------------------------------------------------ validation errors


def test_wrong_dims(valid, tmp_path, tiny_root):
    _expect(valid.transpose("sample", "y", "x"), tmp_path, tiny_root, "wrong dims", "'u'",
            "('sample', 'y', 'x')")


def test_wrong_shape(valid, tmp_path, tiny_root):
    _expect(valid.isel(x=slice(0, 15)), tmp_path, tiny_root, "wrong shape", "(3, 15, 16)")


def test_wrong_coordinates(valid, tmp_path, tiny_root):
    shifted = valid.assign_coords(x=valid["x"].values + 1e-3)
    _expect(shifted, tmp_path, tiny_root, "wrong coordinates", "'x'")
    as_f32 = valid.assign_coords(y=valid["y"].values.astype(np.float32))
    _expect(as_f32, tmp_path, tiny_root, "wrong coordinates", "'y'", "float32")


@pytest.mark.parametrize("value, word", [(np.nan, "1 NaN"), (np.inf, "1 inf"), (-np.inf, "1 inf")])
def test_nan_or_inf(valid, tmp_path, tiny_root, value, word):
    ds = valid.copy(deep=True)
    ds["u"].values[2, 5, 5] = value
    _expect(ds, tmp_path, tiny_root, word, "sample 2")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16])
def test_wrong_dtype(valid, tmp_path, tiny_root, dtype):
    ds = valid.copy()
    ds["u"] = valid["u"].astype(dtype)
    _expect(ds, tmp_path, tiny_root, f"dtype {np.dtype(dtype)}", "float32 or float64")


def test_content_key_mismatch(valid, tmp_path, tiny_root):
    ds = valid.copy()
    ds.attrs["content_key"] = "0" * 64
    _expect(ds, tmp_path, tiny_root, "predictions for a different dataset version", "manifest.json")


def test_missing_samples(valid, tmp_path, tiny_root):
    _expect(valid.isel(sample=[0, 2]), tmp_path, tiny_root, "missing samples", "1 of 3", "[1]")


def test_duplicated_samples(valid, tmp_path, tiny_root):
    _expect(valid.isel(sample=[0, 1, 1, 2]), tmp_path, tiny_root, "duplicated samples", "[1]")


def test_unknown_sample_index(valid, tmp_path, tiny_root):
    ds = valid.assign_coords(sample=[0, 1, 99])
    # sample 2 is missing and 99 unknown: the missing one is reported first
    _expect(ds, tmp_path, tiny_root, "missing samples", "[2]")
    more = xr.concat([valid, valid.isel(sample=[0]).assign_coords(sample=[99])], dim="sample")
    _expect(more, tmp_path, tiny_root, "not in the test split", "[99]")


def test_missing_target_variable(valid, tmp_path, tiny_root):
    _expect(valid.rename({"u": "v"}), tmp_path, tiny_root, "missing target variable(s): u")


def test_extra_variable(valid, tmp_path, tiny_root):
    ds = valid.copy()
    ds["k"] = valid["u"]
    _expect(ds, tmp_path, tiny_root, "unexpected variable(s): k")


def test_wrong_split(valid, tmp_path, tiny_root):
    ds = valid.copy()
    ds.attrs["split"] = "val"
    _expect(ds, tmp_path, tiny_root, "wrong split", "'val'")


def test_wrong_format_and_missing_attrs(valid, tmp_path, tiny_root):
    ds = valid.copy()
    ds.attrs["format"] = "something-else"
    _expect(ds, tmp_path, tiny_root, "not a pdeforge-predictions/1 file")
    ds = valid.copy()
    del ds.attrs["model"]
    _expect(ds, tmp_path, tiny_root, "missing global attribute(s): model")


def test_wrong_dataset_or_config(valid, tmp_path, tiny_root):
    path = _save(valid, tmp_path / "p.nc")
    with pytest.raises(SubmissionError, match="for dataset 'condiff', not 'other'"):
        score(path, "other", root=tiny_root)
    ds = valid.copy()
    ds.attrs["config"] = "cubic9_grid16"
    _expect(ds, tmp_path, tiny_root, "config 'cubic9_grid16'", "not generated",
            "poisson_grid16")


def test_unreadable_file(tmp_path, tiny_root):
    path = tmp_path / "junk.nc"
    path.write_bytes(b"not a netcdf file at all")
    with pytest.raises(SubmissionError, match="cannot be read") as info:
        score(path, DS, root=tiny_root)
    assert str(path) in str(info.value)
    with pytest.raises(SubmissionError, match="no such predictions file"):
        score(tmp_path / "absent.nc", DS, root=tiny_root)


def test_submission_error_is_a_pdeforge_error():
    assert issubclass(SubmissionError, PdeforgeError)


def test_permuted_samples_are_accepted(valid, tmp_path, tiny_root):
    a = score(_save(valid, tmp_path / "a.nc"), DS, root=tiny_root)
    b = score(_save(valid.isel(sample=[2, 0, 1]), tmp_path / "b.nc"), DS, root=tiny_root)
    np.testing.assert_array_equal(a["sample"].values, b["sample"].values)
    for m in a.data_vars:
        np.testing.assert_array_equal(a[m].values, b[m].values)


# ------------------------------------------------------------------ golden values


def test_golden_scaled_prediction(tiny_root, truth, tmp_path):
    """pred = (1 + eps_s) * y per sample: every metric by hand."""
    y = truth["u"].values.astype(np.float64)
    eps = np.array([0.01, 0.02, 0.04])
    path = write_predictions(tmp_path / "p.nc", y * (1 + eps)[:, None, None], DS, CFG, "golden",
                             root=tiny_root)
    out = tmp_path / "scores.nc"
    s = score(path, DS, root=tiny_root, out=out)
    assert s["rel_l2"].dims == ("sample", "field")
    assert list(s["field"].values) == ["u"]
    got = {m: s[m].values[:, 0] for m in s.data_vars}
    rms = np.sqrt((y ** 2).mean(axis=(1, 2)))
    np.testing.assert_allclose(got["rel_l2"], eps, rtol=1e-12)
    np.testing.assert_allclose(got["nrmse"], eps, rtol=1e-12)
    np.testing.assert_allclose(got["rmse"], eps * rms, rtol=1e-12)
    np.testing.assert_allclose(got["vrmse"], eps * rms / y.std(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(got["max_err"], eps * np.abs(y).max(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(got["crmse"], eps * np.abs(y.mean(axis=(1, 2))), rtol=1e-10)
    ring = np.concatenate([y[:, 0, :], y[:, -1, :], y[:, 1:-1, 0], y[:, 1:-1, -1]], axis=1)
    np.testing.assert_allclose(got["brmse"], eps * np.sqrt((ring ** 2).mean(axis=1)), rtol=1e-12)
    bands = got["frmse_low"] ** 2 + got["frmse_mid"] ** 2 + got["frmse_high"] ** 2
    np.testing.assert_allclose(np.sqrt(bands), got["rmse"], rtol=1e-10)
    # contrast travels with the scores, as a coordinate along sample
    np.testing.assert_array_equal(s["contrast"].values, truth["contrast"].values)
    assert s.attrs["groupings"] == "contrast"
    # saved file holds the same numbers
    back = load_scores(out)
    for m in s.data_vars:
        np.testing.assert_array_equal(back[m].values, s[m].values)

    table = summarize(s, n_boot=2000)
    overall = table[(table.metric == "rel_l2") & (table.by == "all")].iloc[0]
    assert overall["mean"] == pytest.approx(eps.mean(), rel=1e-12)
    assert 0.01 - 1e-12 <= overall.ci_lo <= overall["mean"] <= overall.ci_hi <= 0.04 + 1e-12
    assert overall.n == 3
    # contrast tertiles: one sample each (three distinct contrasts), ordered by contrast
    by = table[(table.metric == "rel_l2") & (table.by == "contrast")]
    assert list(by.group) == ["low", "mid", "high"]
    order = np.argsort(truth["contrast"].values)
    np.testing.assert_allclose(by["mean"].values, eps[order], rtol=1e-12)
    np.testing.assert_allclose(by["lo"].values, np.sort(truth["contrast"].values))
    assert list(by.n) == [1, 1, 1]


def test_golden_constant_offset(tiny_root, tmp_path):
    """pred = y + c on the Poisson config: absolute metrics equal c."""
    y = _truth(tiny_root, "poisson_grid16")["u"].values
    c = 1e-3
    path = write_predictions(tmp_path / "p.nc", y + c, DS, "poisson_grid16", "offset",
                             root=tiny_root)
    s = score(path, DS, root=tiny_root)
    for m in ("rmse", "max_err", "brmse", "crmse", "frmse_low"):
        np.testing.assert_allclose(s[m].values, c, rtol=1e-9, err_msg=m)
    np.testing.assert_allclose(s["frmse_mid"].values, 0.0, atol=1e-15)
    np.testing.assert_allclose(s["frmse_high"].values, 0.0, atol=1e-15)
    np.testing.assert_allclose(s["rel_l2"].values[:, 0],
                               c * 16 / np.sqrt((y ** 2).sum(axis=(1, 2))), rtol=1e-9)
    # Poisson: contrast is 1 for every sample, so there is no contrast breakdown
    table = summarize(s)
    assert set(table.by) == {"all"}


def test_metrics_subset_and_unknown_metric(valid, tmp_path, tiny_root):
    path = _save(valid, tmp_path / "p.nc")
    s = score(path, DS, root=tiny_root, metrics=["rel_l2", "max_err"])
    assert list(s.data_vars) == ["rel_l2", "max_err"]
    with pytest.raises(PdeforgeError, match="unknown metric 'l7'"):
        score(path, DS, root=tiny_root, metrics=["l7"])


# ------------------------------------------------------------------ generic fields / groupings


def _synthetic_reference():
    rng = np.random.default_rng(0)
    n, nt, nx = 9, 2, 8
    coords = {"sample": np.arange(n), "t": [0.0, 1.0], "x": np.linspace(0, 1, nx),
              "y": np.linspace(0, 1, nx)}
    dims = ("sample", "t", "x", "y")
    truth = xr.Dataset({
        "u": (dims, rng.normal(size=(n, nt, nx, nx)), {"role": "target"}),
        "v": (dims, rng.normal(size=(n, nt, nx, nx)), {"role": "target"}),
        "nu": ("sample", np.arange(n, dtype=float) + 1, {"role": "param"}),
        "re": ("sample", np.full(n, 100.0), {"role": "param"}),
    }, coords=coords, attrs={"targets": "u v"})
    ref = Reference("synthetic", "c", None, {"content_key": "k"}, truth, ["u", "v"], ["nu", "re"])
    return ref


def test_several_targets_and_time_give_field_and_t_dims():
    ref = _synthetic_reference()
    pred = ref.truth[["u", "v"]].copy(deep=True)
    pred["u"] = pred["u"] * 1.1  # rel_l2 0.1 on u, 0 on v
    pred.attrs["model"] = "m"
    s = score_predictions(pred, ref, ["rel_l2"])
    assert s["rel_l2"].dims == ("sample", "field", "t")
    assert list(s["field"].values) == ["u", "v"]
    np.testing.assert_allclose(s["rel_l2"].sel(field="u").values, 0.1, rtol=1e-12)
    np.testing.assert_allclose(s["rel_l2"].sel(field="v").values, 0.0)
    # per-sample mean over fields and t first: (0.1 + 0) / 2
    table = summarize(s, by="nu")
    overall = table[table.by == "all"].iloc[0]
    assert overall["mean"] == pytest.approx(0.05, rel=1e-12)
    nu = table[table.by == "nu"]
    assert list(nu.group) == ["low", "mid", "high"] and list(nu.n) == [3, 3, 3]
    assert list(nu.lo) == [1.0, 4.0, 7.0] and list(nu.hi) == [3.0, 6.0, 9.0]
    # the default groupings come from the attrs; a constant parameter gives no bins
    assert set(summarize(s).by) == {"all", "nu"}
    assert set(summarize(s, by=False).by) == {"all"}
    with pytest.raises(SubmissionError, match="cannot group by 'k'"):
        summarize(s, by="k")


def test_group_labels_tertiles():
    labels, names, ranges = group_labels(np.array([5.0, 1.0, 3.0, 2.0, 6.0, 4.0]))
    np.testing.assert_array_equal(labels, [2, 0, 1, 0, 2, 1])
    assert names == {0: "low", 1: "mid", 2: "high"}
    assert ranges == {0: (1.0, 2.0), 1: (3.0, 4.0), 2: (5.0, 6.0)}
    assert group_labels(np.ones(5)) is None


def test_load_predictions_returns_test_order(valid, tmp_path, tiny_root):
    path = _save(valid.isel(sample=[1, 2, 0]), tmp_path / "p.nc")
    pred, ref = load_predictions(path, DS, root=tiny_root)
    np.testing.assert_array_equal(pred["sample"].values, [0, 1, 2])
    np.testing.assert_array_equal(pred["u"].values, valid["u"].values)
    assert ref.targets == ["u"] and ref.params == ["contrast"]


# ------------------------------------------------------------------ fluid masks (issue #12)


def _masked_reference(per_sample: bool):
    """u (sample, t, x, y) on an 6x5 grid with a solid block, v without a mask on its grid."""
    rng = np.random.default_rng(1)
    n, nt = 4, 2
    solid = np.zeros((6, 5), dtype=bool)
    solid[2:4, 1:3] = True
    fluid = np.broadcast_to(~solid, (n, 6, 5)).copy() if per_sample else ~solid
    if per_sample:
        fluid[1, 0, 0] = False  # sample 1 has one more solid point
    mask_dims = ("sample", "x", "y") if per_sample else ("x", "y")
    truth = xr.Dataset({
        "u": (("sample", "t", "x", "y"), rng.normal(size=(n, nt, 6, 5)), {"role": "target"}),
        "v": (("sample", "q"), rng.normal(size=(n, 7)), {"role": "target"}),
        "fluid": (mask_dims, fluid.astype(np.int8), {"role": "mask"}),
    }, coords={"sample": np.arange(n), "t": [0.0, 1.0], "x": np.arange(6.0),
               "y": np.arange(5.0), "q": np.arange(7.0)}, attrs={"targets": "u v"})
    return Reference("synthetic", "c", None, {"content_key": "k"}, truth, ["u", "v"], [],
                     ["fluid"])


@pytest.mark.parametrize("per_sample", [False, True])
def test_scorer_applies_the_test_splits_mask(per_sample):
    ref = _masked_reference(per_sample)
    pred = ref.truth[["u", "v"]].copy(deep=True)
    fluid = np.broadcast_to(ref.truth["fluid"].values.astype(bool).reshape(
        (4, 1, 6, 5) if per_sample else (1, 1, 6, 5)), (4, 2, 6, 5))
    err = np.where(fluid, 0.01, 1e3)  # huge errors only on solid points
    pred["u"] = pred["u"] + err
    pred.attrs["model"] = "m"
    s = score_predictions(pred, ref, ["rmse", "max_err", "rel_l2"])
    assert s.attrs["masks"] == "u=fluid"
    np.testing.assert_allclose(s["rmse"].sel(field="u").values, 0.01, rtol=1e-12)
    np.testing.assert_allclose(s["max_err"].sel(field="u").values, 0.01, rtol=1e-12)
    u, e = ref.truth["u"].values, err
    want = np.sqrt((np.where(fluid, e, 0) ** 2).sum(axis=(2, 3))
                   / (np.where(fluid, u, 0) ** 2).sum(axis=(2, 3)))
    np.testing.assert_allclose(s["rel_l2"].sel(field="u").values, want, rtol=1e-12)
    # v lies on another grid: unmasked (and exact here)
    np.testing.assert_array_equal(s["rmse"].sel(field="v").values, 0.0)


def test_scores_without_a_mask_carry_no_masks_attribute(valid, tiny_root, tmp_path):
    path = _save(valid, tmp_path / "p.nc")
    assert "masks" not in score(path, DS, root=tiny_root).attrs
