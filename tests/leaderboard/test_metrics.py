"""Tests of the pinned metric definitions (pdeforge.contracts.metrics)."""

import numpy as np
import pytest
import xarray as xr

from pdeforge.contracts import metrics as M
from pdeforge.contracts.metrics import (
    METRICS,
    DegenerateTargetWarning,
    compute_all,
    get_metric,
    list_metrics,
)

# ---------------------------------------------------------------- hand cases
# 2x2 case:  y = [[1, 2], [3, 4]],  p = [[1, 2], [3, 6]],  e = p - y = [[0, 0], [0, 2]]
Y22 = np.array([[1.0, 2.0], [3.0, 4.0]])
P22 = np.array([[1.0, 2.0], [3.0, 6.0]])

HAND_22 = {
    # ||e|| = sqrt(4) = 2 ; ||y|| = sqrt(1 + 4 + 9 + 16) = sqrt(30)
    "rel_l2": 2.0 / np.sqrt(30.0),          # 0.365148...
    # sqrt(4 / 4) = 1
    "rmse": 1.0,
    # rmse / sqrt(30 / 4) = 1 / sqrt(7.5)
    "nrmse": 1.0 / np.sqrt(7.5),            # 0.365148...
    # mean y = 2.5, deviations -1.5 -0.5 0.5 1.5 -> var = (2.25+0.25+0.25+2.25)/4 = 1.25
    "vrmse": 1.0 / np.sqrt(1.25),           # 0.894427...
    # max |e| = 2
    "max_err": 2.0,
    # 2x2: every point is on the outer ring -> brmse = rmse = 1
    "brmse": 1.0,
    # all modes of a 2x2 grid have |k| <= sqrt(2) < 4 -> everything in the low band
    "frmse_low": 1.0,
    "frmse_mid": 0.0,
    "frmse_high": 0.0,
    # mean p = 12/4 = 3, mean y = 10/4 = 2.5 -> 0.5
    "crmse": 0.5,
}


def test_registry_contents_and_attributes():
    assert list_metrics() == list(HAND_22)  # the snapshot metrics (the default kind)
    rollout = ["rollout_rel_l2", "steps_to_threshold"]  # tests/leaderboard/test_rollout.py
    assert list_metrics("rollout") == rollout
    assert list_metrics("all") == list(HAND_22) + rollout
    assert METRICS.names() == sorted(list(HAND_22) + rollout)  # a pdeforge.registry.Registry
    for name in list_metrics():
        m = METRICS.get(name)
        assert m.name == name
        assert callable(m.fn)
        assert m.higher_is_better is False
        assert m.doc and len(m.doc) > 20, name


@pytest.mark.parametrize("name", list(HAND_22))
def test_metric_hand_case_2x2(name):
    got = get_metric(name)(P22, Y22)
    assert np.ndim(got) == 0
    assert got == pytest.approx(HAND_22[name], rel=1e-12, abs=1e-12)


def test_hand_case_3x3_brmse_rmse_max_crmse():
    # e = [[1, 0, 0], [0, 5, 0], [0, 0, -1]] on a target y = 1 everywhere
    y = np.ones((3, 3))
    e = np.array([[1.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, -1.0]])
    p = y + e
    # ring = 8 points, squared errors on ring: 1 + 1 = 2 -> sqrt(2 / 8) = 0.5
    assert M.brmse(p, y) == pytest.approx(0.5, rel=1e-12)
    # all 9 points: (1 + 25 + 1) / 9 = 3 -> sqrt(3)
    assert M.rmse(p, y) == pytest.approx(np.sqrt(3.0), rel=1e-12)
    assert M.max_err(p, y) == pytest.approx(5.0)
    # mean e = (1 + 5 - 1) / 9 = 5/9
    assert M.crmse(p, y) == pytest.approx(5.0 / 9.0, rel=1e-12)
    # ||e|| = sqrt(27), ||y|| = sqrt(9) = 3 -> sqrt(27)/3 = sqrt(3)
    assert M.rel_l2(p, y) == pytest.approx(np.sqrt(3.0), rel=1e-12)


def test_brmse_with_mask():
    y = np.zeros((3, 3))
    e = np.array([[1.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, -1.0]])
    centre = np.zeros((3, 3), dtype=bool)
    centre[1, 1] = True
    assert M.brmse(e, y, boundary=centre) == pytest.approx(5.0)
    two = centre.copy()
    two[0, 0] = True
    # (1 + 25) / 2 = 13 -> sqrt(13)
    assert M.brmse(e, y, boundary=two) == pytest.approx(np.sqrt(13.0), rel=1e-12)
    # the mask is used instead of the ring: ring value would be 0.5
    assert M.brmse(e, y, boundary=M.boundary_ring_mask((3, 3))) == pytest.approx(0.5)


def test_brmse_mask_errors():
    y = np.zeros((3, 3))
    with pytest.raises(ValueError, match="no points"):
        M.brmse(y, y, boundary=np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        M.brmse(y, y, boundary=np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="boolean"):
        M.brmse(y, y, boundary=np.ones((3, 3)))


def test_boundary_ring_mask_4x5():
    m = M.boundary_ring_mask((4, 5))
    # interior is 2 x 3 = 6 points, ring = 20 - 6 = 14
    assert m.sum() == 14
    assert not m[1:-1, 1:-1].any()


def test_nrmse_equals_rel_l2_per_snapshot():
    rng = np.random.default_rng(1)
    p, y = rng.normal(size=(2, 3, 4, 8, 8)), rng.normal(size=(2, 3, 4, 8, 8))
    np.testing.assert_allclose(M.nrmse(p, y), M.rel_l2(p, y), rtol=1e-13)


# ------------------------------------------------------------------ spectra
def _grid(n):
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return i, j


def test_parseval_bands_sum_to_rmse_squared():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(3, 2, 32, 40))
    y = rng.normal(size=(3, 2, 32, 40))
    lo, mid, hi = M.frmse_low(p, y), M.frmse_mid(p, y), M.frmse_high(p, y)
    r = M.rmse(p, y)
    assert lo.shape == mid.shape == hi.shape == r.shape == (3, 2)
    np.testing.assert_allclose(lo**2 + mid**2 + hi**2, r**2, rtol=1e-12)
    # white noise on 32x40 puts energy in every band
    assert (lo > 0).all() and (mid > 0).all() and (hi > 0).all()


def test_constant_error_is_low_band():
    y = np.zeros((16, 16))
    p = np.full((16, 16), 3.0)  # k = 0 only
    assert M.frmse_low(p, y) == pytest.approx(3.0, rel=1e-12)
    assert M.frmse_mid(p, y) == pytest.approx(0.0, abs=1e-12)
    assert M.frmse_high(p, y) == pytest.approx(0.0, abs=1e-12)


def test_low_frequency_error_in_low_band():
    i, _ = _grid(16)
    e = np.cos(2 * np.pi * 1 * i / 16)  # |k| = 1, rmse = sqrt(1/2)
    z = np.zeros_like(e)
    assert M.frmse_low(e, z) == pytest.approx(np.sqrt(0.5), rel=1e-12)
    assert M.frmse_mid(e, z) == pytest.approx(0.0, abs=1e-12)
    assert M.frmse_high(e, z) == pytest.approx(0.0, abs=1e-12)


def test_mid_frequency_error_in_mid_band():
    i, j = _grid(32)
    e = np.sin(2 * np.pi * (3 * i + 4 * j) / 32)  # |k| = sqrt(9 + 16) = 5
    z = np.zeros_like(e)
    assert M.frmse_mid(e, z) == pytest.approx(np.sqrt(0.5), rel=1e-12)
    assert M.frmse_low(e, z) == pytest.approx(0.0, abs=1e-12)
    assert M.frmse_high(e, z) == pytest.approx(0.0, abs=1e-12)


def test_band_edge_is_half_open():
    i, _ = _grid(32)
    z = np.zeros((32, 32))
    e4 = np.cos(2 * np.pi * 4 * i / 32)   # |k| = 4 exactly -> mid, not low
    assert M.frmse_low(e4, z) == pytest.approx(0.0, abs=1e-12)
    assert M.frmse_mid(e4, z) == pytest.approx(np.sqrt(0.5), rel=1e-12)
    e12 = np.cos(2 * np.pi * 12 * i / 32)  # |k| = 12 exactly -> high
    assert M.frmse_mid(e12, z) == pytest.approx(0.0, abs=1e-12)
    assert M.frmse_high(e12, z) == pytest.approx(np.sqrt(0.5), rel=1e-12)


def test_checkerboard_error_in_high_band():
    i, j = _grid(32)
    e = 2.0 * (-1.0) ** (i + j)  # k = (16, 16) -> |k| = 22.6; rmse = 2
    z = np.zeros_like(e)
    assert M.frmse_high(e, z) == pytest.approx(2.0, rel=1e-12)
    assert M.frmse_low(e, z) == pytest.approx(0.0, abs=1e-12)
    assert M.frmse_mid(e, z) == pytest.approx(0.0, abs=1e-12)


def test_frmse_1d_spatial():
    x = np.arange(64)
    e = np.cos(2 * np.pi * 20 * x / 64) + 1.0  # k = 0 (amplitude 1) and |k| = 20
    z = np.zeros_like(e)
    # low: the constant, rms 1 ; high: the cosine, rms sqrt(1/2)
    assert M.frmse_low(e, z, ndim_space=1) == pytest.approx(1.0, rel=1e-12)
    assert M.frmse_high(e, z, ndim_space=1) == pytest.approx(np.sqrt(0.5), rel=1e-12)


def test_radial_wavenumber_integer_grid():
    k = M.radial_wavenumber((4, 4))
    # fftfreq(4, d=1/4) = [0, 1, -2, -1]
    assert k[0, 0] == 0 and k[1, 0] == 1 and k[2, 0] == 2 and k[3, 3] == pytest.approx(np.sqrt(2))


# ------------------------------------------------------- shapes and errors
def test_leading_dims_vectorised_and_match_loop():
    rng = np.random.default_rng(2)
    p = rng.normal(size=(2, 3, 4, 6, 5)).astype(np.float32)
    y = rng.normal(size=(2, 3, 4, 6, 5)).astype(np.float32)
    for name in list_metrics():
        out = get_metric(name)(p, y)
        assert out.shape == (2, 3, 4), name
        assert out.dtype == np.float64, name
        ref = get_metric(name)(p[1, 2, 3], y[1, 2, 3])
        assert out[1, 2, 3] == pytest.approx(ref, rel=1e-12), name


def test_3d_spatial():
    rng = np.random.default_rng(3)
    p, y = rng.normal(size=(2, 5, 6, 7)), rng.normal(size=(2, 5, 6, 7))
    r = M.rmse(p, y, ndim_space=3)
    assert r.shape == (2,)
    b = [M.frmse_low(p, y, ndim_space=3), M.frmse_mid(p, y, ndim_space=3),
         M.frmse_high(p, y, ndim_space=3)]
    np.testing.assert_allclose(sum(v**2 for v in b), r**2, rtol=1e-12)
    assert M.brmse(p, y, ndim_space=3).shape == (2,)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        M.rmse(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="spatial axes"):
        M.rmse(np.zeros(4), np.zeros(4), ndim_space=2)


def test_unknown_metric_lists_known_names():
    from pdeforge.errors import PdeforgeError, UnknownNameError

    with pytest.raises(UnknownNameError) as ei:
        get_metric("rel_l3")
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, PdeforgeError)
    msg = str(ei.value)
    assert "rel_l3" in msg
    for name in list_metrics():
        assert name in msg


def test_duplicate_registration_rejected():
    with pytest.raises(ValueError, match="registered twice"):
        M.register_metric("rmse")(lambda p, y, ndim_space=2: 0.0)
    assert METRICS.get("rmse").fn is M.rmse
    assert list_metrics().count("rmse") == 1


# --------------------------------------------------------- zero targets
def test_zero_target_relative_metrics_nan_with_warning():
    y = np.zeros((2, 4, 4))
    y[1] = np.arange(16.0).reshape(4, 4)  # second snapshot is fine
    p = y + 0.1
    for name in ("rel_l2", "nrmse", "vrmse"):
        with pytest.warns(DegenerateTargetWarning, match="1 of 2"):
            out = get_metric(name)(p, y)
        assert np.isnan(out[0]), name
        assert np.isfinite(out[1]), name
    # absolute metrics are unaffected by a zero target
    for name in ("rmse", "max_err", "brmse", "crmse", "frmse_low"):
        out = get_metric(name)(p, y)
        assert np.all(np.isfinite(out)), name
    assert M.rmse(p, y)[0] == pytest.approx(0.1)


def test_zero_target_perfect_prediction_is_still_nan():
    z = np.zeros((4, 4))
    with pytest.warns(DegenerateTargetWarning):
        assert np.isnan(M.rel_l2(z, z))


def test_constant_target_vrmse_nan_but_rel_l2_finite():
    y = np.full((3, 3), 0.1)  # std is round-off only
    p = y + 0.01
    with pytest.warns(DegenerateTargetWarning):
        assert np.isnan(M.vrmse(p, y))
    # ||e|| / ||y|| = 0.01 / 0.1
    assert M.rel_l2(p, y) == pytest.approx(0.1, rel=1e-9)


def test_tiny_but_nonzero_target_is_not_degenerate():
    y = 1e-30 * np.array([[1.0, 2.0], [3.0, 4.0]])
    p = 1e-30 * np.array([[1.0, 2.0], [3.0, 6.0]])
    assert M.rel_l2(p, y) == pytest.approx(2.0 / np.sqrt(30.0), rel=1e-12)
    assert M.vrmse(p, y) == pytest.approx(1.0 / np.sqrt(1.25), rel=1e-12)


# ------------------------------------------------------------ compute_all
def _da(rng, shape=(3, 2, 4, 8, 8), dims=("sample", "field", "t", "x", "y")):
    return xr.DataArray(
        rng.normal(size=shape), dims=dims,
        coords={"sample": np.arange(shape[0]) + 100, "field": ["u", "v"][: shape[1]],
                "t": np.linspace(0, 1, shape[2]), "x": np.arange(shape[3]),
                "y": np.arange(shape[4])},
    )


def test_compute_all_keeps_non_spatial_dims():
    rng = np.random.default_rng(4)
    p, y = _da(rng), _da(rng)
    ds = compute_all(p, y)
    assert isinstance(ds, xr.Dataset)
    assert list(ds.data_vars) == list_metrics()
    for name in list_metrics():
        assert ds[name].dims == ("sample", "field", "t"), name
        assert ds[name].shape == (3, 2, 4)
        np.testing.assert_allclose(ds[name].values, get_metric(name)(p.values, y.values))
    assert list(ds["field"].values) == ["u", "v"]
    assert list(ds["sample"].values) == [100, 101, 102]
    assert "x" not in ds.coords and "y" not in ds.coords


def test_compute_all_transposed_target_and_subset():
    rng = np.random.default_rng(5)
    p, y = _da(rng), _da(rng)
    ds = compute_all(p, y.transpose("y", "t", "x", "sample", "field"), metrics=["rmse", "crmse"])
    assert list(ds.data_vars) == ["rmse", "crmse"]
    np.testing.assert_allclose(ds["rmse"].values, M.rmse(p.values, y.values))


def test_compute_all_spatial_dims_not_last():
    rng = np.random.default_rng(6)
    p = xr.DataArray(rng.normal(size=(5, 3, 6)), dims=("x", "sample", "y"))
    y = xr.DataArray(rng.normal(size=(5, 3, 6)), dims=("x", "sample", "y"))
    ds = compute_all(p, y, metrics="rmse")
    assert ds["rmse"].dims == ("sample",)
    ref = M.rmse(p.transpose("sample", "x", "y").values, y.transpose("sample", "x", "y").values)
    np.testing.assert_allclose(ds["rmse"].values, ref)


def test_compute_all_boundary_mask():
    rng = np.random.default_rng(7)
    p, y = _da(rng), _da(rng)
    mask = np.zeros((8, 8), dtype=bool)
    mask[3, 5] = True
    ds = compute_all(p, y, metrics=["brmse"],
                     boundary_mask=xr.DataArray(mask.T, dims=("y", "x")))
    ref = np.abs(p.values[..., 3, 5] - y.values[..., 3, 5])
    np.testing.assert_allclose(ds["brmse"].values, ref, rtol=1e-12)


def test_compute_all_errors():
    rng = np.random.default_rng(8)
    p = _da(rng)
    with pytest.raises(ValueError, match="size of dim 't'"):
        compute_all(p, _da(rng, shape=(3, 2, 5, 8, 8)))
    with pytest.raises(ValueError, match="dims"):
        compute_all(p, p.isel(t=0))
    with pytest.raises(ValueError, match="spatial dims"):
        compute_all(p, p, spatial_dims=("x", "z"))
    with pytest.raises(ValueError, match="coordinate 'sample'"):
        compute_all(p, p.assign_coords(sample=[0, 1, 2]))
    with pytest.raises(ValueError, match="known metrics"):
        compute_all(p, p, metrics=["nope"])
    with pytest.raises(TypeError):
        compute_all(p.values, p.values)


@pytest.mark.parametrize("shape", [(32, 32), (31, 33), (30, 27), (25, 1), (7,), (12, 9, 10)])
def test_frmse_matches_explicit_full_fft(shape):
    # reference straight from the definition: full fftn, explicit band masks
    rng = np.random.default_rng(9)
    p, y = rng.normal(size=(2,) + shape), rng.normal(size=(2,) + shape)
    nd = len(shape)
    axes = tuple(range(-nd, 0))
    E = np.fft.fftn(p - y, axes=axes, norm="ortho")
    grids = np.meshgrid(*[np.fft.fftfreq(n) * n for n in shape], indexing="ij")
    k = np.sqrt(sum(g**2 for g in grids))
    N = np.prod(shape)
    bands = M.frmse_bands(p, y, ndim_space=nd)
    for name, (lo, hi) in {"low": (0, 4), "mid": (4, 12), "high": (12, np.inf)}.items():
        sel = (k >= lo) & (k < hi)
        ref = np.sqrt((np.abs(E) ** 2)[..., sel].sum(-1) / N)
        np.testing.assert_allclose(bands[name], ref, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(get_metric(f"frmse_{name}")(p, y, ndim_space=nd), ref,
                                   rtol=1e-11, atol=1e-14)


# --------------------------------------------------------- fluid masks (issue #12)
# 3x3 case: y = 1..9 row by row; solid at (0, 2) and (2, 2), where the error is huge (50,
# 100) and must not count; on the 7 fluid points e = 1 at (0, 0) and 2 at (1, 1).
YM = np.arange(1.0, 10.0).reshape(3, 3)
EM = np.array([[1.0, 0.0, 50.0], [0.0, 2.0, 0.0], [0.0, 0.0, 100.0]])
MASK = np.array([[1, 1, 0], [1, 1, 1], [1, 1, 0]], dtype=bool)
# fluid y: 1 2 4 5 6 7 8 -> sum y^2 = 195, sum y = 33; fluid sum e^2 = 5; N = 7
HAND_MASKED = {
    "rel_l2": np.sqrt(5.0 / 195.0),
    "rmse": np.sqrt(5.0 / 7.0),
    "nrmse": np.sqrt(5.0 / 195.0),
    # var = 195/7 - (33/7)^2 = 276/49 -> vrmse = sqrt(5/7) / (sqrt(276)/7) = sqrt(35/276)
    "vrmse": np.sqrt(35.0 / 276.0),
    "max_err": 2.0,
    # the only interior fluid point is (1, 1); the other 6 fluid points touch the grid edge
    # or a solid point: e^2 on them = 1 -> sqrt(1/6)
    "brmse": np.sqrt(1.0 / 6.0),
    # mean of e over the fluid: 3/7
    "crmse": 3.0 / 7.0,
}


@pytest.mark.parametrize("name", list(HAND_MASKED))
def test_masked_metric_hand_case_3x3(name):
    got = get_metric(name)(YM + EM, YM, mask=MASK)
    assert got == pytest.approx(HAND_MASKED[name], rel=1e-12)
    # 0/1 numbers are accepted as well as booleans
    assert get_metric(name)(YM + EM, YM, mask=MASK.astype(np.float32)) == got


def test_masked_values_on_solid_points_do_not_matter():
    rng = np.random.default_rng(3)
    p2 = np.where(MASK, YM + EM, rng.normal(size=(3, 3)) * 1e6)
    y2 = np.where(MASK, YM, rng.normal(size=(3, 3)) * 1e6)
    for name in list_metrics():
        a = get_metric(name)(YM + EM, YM, mask=MASK)
        b = get_metric(name)(p2, y2, mask=MASK)
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15), name


def test_fluid_boundary_around_an_obstacle_5x5():
    mask = np.ones((5, 5), dtype=bool)
    mask[2, 2] = False  # one solid cell in the middle
    ring = M.fluid_boundary(mask, 2)
    # outer ring (16) + the 4 fluid neighbours of the obstacle; interior fluid: 4 diagonals
    assert ring.sum() == 20 and not ring[2, 2]
    assert ring[1, 2] and ring[3, 2] and ring[2, 1] and ring[2, 3]
    assert not ring[1, 1] and not ring[1, 3] and not ring[3, 1] and not ring[3, 3]
    np.testing.assert_array_equal(M.fluid_boundary(np.ones((4, 5), bool), 2),
                                  M.boundary_ring_mask((4, 5)))
    y = np.zeros((5, 5))
    e = np.zeros((5, 5))
    e[1, 2], e[2, 2], e[1, 1] = 1.0, 9.0, 3.0  # at the obstacle, in it, interior
    assert M.brmse(e, y, mask=mask) == pytest.approx(np.sqrt(1.0 / 20.0), rel=1e-12)
    assert M.rmse(e, y, mask=mask) == pytest.approx(np.sqrt(10.0 / 24.0), rel=1e-12)


def test_masked_frmse_is_the_spectrum_of_the_error_zeroed_outside_the_fluid():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(2, 12, 10))
    p = y + rng.normal(size=y.shape)
    mask = rng.random(size=(12, 10)) > 0.3
    n_fluid = mask.sum()
    bands = M.frmse_bands(p, y, mask=mask)
    # Parseval: the bands add up to the masked rmse
    total = bands["low"] ** 2 + bands["mid"] ** 2 + bands["high"] ** 2
    np.testing.assert_allclose(total, M.rmse(p, y, mask=mask) ** 2, rtol=1e-12)
    # = the unmasked metric of the zeroed error, renormalised from N to the fluid count
    zeroed = y + np.where(mask, p - y, 0.0)
    scale = np.sqrt(mask.size / n_fluid)
    for band in ("low", "mid", "high"):
        np.testing.assert_allclose(bands[band], scale * M.frmse_bands(zeroed, y)[band],
                                   rtol=1e-12)
    # 2x2 grid: every mode is in the low band, so frmse_low is the masked rmse
    m22 = np.array([[True, False], [True, True]])
    assert M.frmse_low(P22, Y22, mask=m22) == pytest.approx(np.sqrt(4.0 / 3.0), rel=1e-12)
    assert M.frmse_mid(P22, Y22, mask=m22) == 0.0


def test_all_fluid_mask_agrees_with_no_mask():
    rng = np.random.default_rng(5)
    y = rng.normal(size=(3, 9, 8))
    p = y + 0.1 * rng.normal(size=y.shape)
    ones = np.ones((9, 8), dtype=bool)
    for name in list_metrics():
        np.testing.assert_allclose(get_metric(name)(p, y, mask=ones), get_metric(name)(p, y),
                                   rtol=1e-12, err_msg=name)


def test_mask_per_sample_broadcast_over_time_in_compute_all():
    rng = np.random.default_rng(6)
    y = xr.DataArray(rng.normal(size=(2, 3, 3, 3)), dims=("sample", "t", "x", "y"),
                     coords={"sample": [10, 11]})
    masks = np.stack([MASK, np.ones((3, 3), dtype=bool)])
    p = y.copy(data=y.values + np.broadcast_to(EM, y.shape))
    mask = xr.DataArray(masks.transpose(0, 2, 1), dims=("sample", "y", "x"),
                        coords={"sample": [10, 11]})
    ds = compute_all(p, y, metrics=["max_err", "rmse"], mask=mask)
    assert ds["max_err"].dims == ("sample", "t")
    np.testing.assert_allclose(ds["max_err"].sel(sample=10).values, 2.0)  # solid 50, 100 out
    np.testing.assert_allclose(ds["max_err"].sel(sample=11).values, 100.0)  # all fluid
    np.testing.assert_allclose(ds["rmse"].sel(sample=10).values, np.sqrt(5.0 / 7.0), rtol=1e-12)
    with pytest.raises(ValueError, match="coordinate 'sample' differs"):
        compute_all(p, y, mask=mask.assign_coords(sample=[0, 1]))
    with pytest.raises(ValueError, match="spatial dims"):
        compute_all(p, y, mask=mask.isel(y=0))


def test_mask_errors():
    with pytest.raises(ValueError, match="no fluid point in 1 of 1"):
        M.rmse(YM, YM, mask=np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="only 0"):
        M.rmse(YM, YM, mask=np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="does not broadcast"):
        M.rmse(YM, YM, mask=np.ones((4, 3), dtype=bool))


def test_contracts_import_neither_the_trainer_nor_the_board():
    """pdeforge.contracts is what both sides share: importing it loads neither side, and the
    trainer's modules do not import the board."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, pdeforge.contracts.metrics, pdeforge.contracts.predictions, "
            "pdeforge.contracts.training, pdeforge.contracts.errors; "
            "bad = sorted(m for m in sys.modules if m.startswith(('pdeforge.leaderboard', "
            "'pdeforge.baselines'))); print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = Path(__file__).resolve().parents[2] / "pdeforge" / "baselines"
    offenders = [f"{p.name}:{i}" for p in sorted(root.glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if "pdeforge.leaderboard" in line]
    assert offenders == []
