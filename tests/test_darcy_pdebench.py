"""PDEBench Darcy family: card, thresholded-bump coefficient, FV accuracy (manufactured solution,
P1-FEM cross-check, PDEBench's fixed point), linearity in β, and the dataset spine end to end."""

import math

import numpy as np
import pytest

from shared_data import darcy_manufactured
from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import effective_card, generate_dataset
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators.darcy_pdebench import (
    bump_sum, cell_centres, draw_bumps, expected_threshold, solve_cells, threshold_coefficient,
)

QUIET = dict(workers=1, progress=False, log=lambda *a: None)
BETAS = ["beta0.01", "beta0.1", "beta1.0", "beta10.0", "beta100.0"]
TINY = {"grid": "16", "n_train": "3", "n_test": "2", "n_val": "1",
        "configs": "beta0.01_grid16,beta100.0_grid16", "samples_per_shard": "2"}


def mesh(n):
    x = cell_centres(n)
    return np.meshgrid(x, x, indexing="ij")


# --- card --------------------------------------------------------------------------------------


def test_card_defaults_follow_pdebench():
    card, family = effective_card("darcy_pdebench")
    configs = family.configs(card)
    assert [c.name for c in configs] == BETAS
    assert [c.params["beta"] for c in configs] == [0.01, 0.1, 1.0, 10.0, 100.0]
    assert family.splits(card) == {"train": 1000, "test": 200, "val": 100}
    assert card.get("task.inputs") == ["a"] and card.get("task.targets") == ["u"]
    coords = family.coords(card, configs[0])
    np.testing.assert_allclose(coords["x"].values, (np.arange(128) + 0.5) / 128, rtol=0, atol=1e-15)
    attrs = family.attrs(card, configs[-1])
    assert attrs["beta"] == 100.0 and attrs["grid_cells"] == 128 and "PDEBench" in card.get("dataset.citation")
    # other betas and split sizes do not change a config's content key; the solver does
    small, _ = effective_card("darcy_pdebench", {"betas": "1.0", "n_train": "5"})
    key = family.content_key(card, configs[2])
    assert family.content_key(small, family.configs(small)[0]) == key
    ghost, _ = effective_card("darcy_pdebench", {"boundary": "ghost"})
    assert family.content_key(ghost, configs[2]) != key


def test_names_and_values_are_checked():
    with pytest.raises(UnknownNameError) as e:
        effective_card("darcy_pdebench", {"configs": "beta2.0"})
    assert "beta2.0" in str(e.value) and "beta0.01" in str(e.value) and "beta100.0" in str(e.value)
    card, family = effective_card("darcy_pdebench", {"grid": "64", "betas": "1,10"})
    assert [c.name for c in family.configs(card)] == ["beta1.0_grid64", "beta10.0_grid64"]
    for key, value in [("grid", "1"), ("betas", "-1"), ("boundary", "periodic"), ("threshold", "batch")]:
        with pytest.raises(InvalidValueError):
            effective_card("darcy_pdebench", {key: value})


# --- coefficient -------------------------------------------------------------------------------


def test_coefficient_is_the_thresholded_bump_sum():
    """Re-derive a few samples from their seeds with the formula written out point by point."""
    card, family = effective_card("darcy_pdebench", {"grid": "32"})
    params = family.configs(card)[0].params
    x = cell_centres(32)
    t = expected_threshold(32)
    for index in range(3):
        g, thr, a = family.sample_coefficient(card, params, "test", index)
        assert thr == t and set(np.unique(a)) <= {0.1, 1.0}
        np.testing.assert_array_equal(a == 1.0, g > t)
        rng = np.random.Generator(np.random.PCG64(sample_seedseq(42, "darcy_pdebench_grid32", "test", index)))
        centres, widths = rng.random((5, 2)), 0.5 * (1.0 - rng.random(5))
        for i, j in [(0, 0), (5, 27), (16, 16), (31, 2)]:
            direct = sum(math.exp(-((x[i] - cx) ** 2 + (x[j] - cy) ** 2) / s) for (cx, cy), s in zip(centres, widths))
            assert g[i, j] == pytest.approx(direct, rel=1e-13)
    np.testing.assert_array_equal(threshold_coefficient(np.array([0.5, 1.0, 1.5]), 1.0), [0.1, 0.1, 1.0])


def test_expected_threshold_is_the_mean_of_sample_means():
    """The infinite-batch limit of PDEBench's threshold, against a Monte Carlo batch mean."""
    n, m = 16, 4000
    rng = np.random.default_rng(11)
    x = cell_centres(n)
    means = np.array([bump_sum(*draw_bumps(rng), x, x).mean() for _ in range(m)])
    stderr = means.std() / np.sqrt(m)
    assert abs(means.mean() - expected_threshold(n)) < 4 * stderr
    # twice the width range and twice the bumps change it the way the formula says
    assert expected_threshold(n, 10) == pytest.approx(2 * expected_threshold(n), rel=1e-12)
    assert expected_threshold(n, 5, 1.0) > expected_threshold(n)


@pytest.mark.parametrize("mode", ["expected", "sample_mean"])
def test_both_phases_have_sensible_fractions(mode):
    card, family = effective_card("darcy_pdebench", {"grid": "32", "threshold": mode})
    params = family.configs(card)[0].params
    fractions = []
    for i in range(150):
        g, t, a = family.sample_coefficient(card, params, "train", i)
        if mode == "sample_mean":
            assert t == g.mean()
        fractions.append((a == 1.0).mean())
    fractions = np.array(fractions)
    assert 0.3 < fractions.mean() < 0.65, fractions.mean()
    if mode == "expected":  # one threshold for all: a sample's bumps set its phase fractions
        assert fractions.std() > 0.1
    else:  # a sample's own mean always splits it into two phases
        assert fractions.min() > 0 and fractions.max() < 1


# --- finite volumes ----------------------------------------------------------------------------


def convergence(errors):
    errors = np.asarray(errors)
    return errors[:-1] / errors[1:]


@pytest.mark.parametrize("mean", ["arithmetic", "harmonic"])
def test_second_order_on_a_manufactured_solution(mean):
    u, a, f = darcy_manufactured()
    errors = []
    for n in (16, 32, 64, 128):
        X, Y = mesh(n)
        uh, info = solve_cells(a(X, Y), f(X, Y), mean=mean)
        assert info.residual < 1e-10
        errors.append(np.abs(uh - u(X, Y)).max())
    ratios = convergence(errors)
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errors, ratios)
    assert errors[-1] < 5e-4


def test_ghost_closure_is_only_first_order():
    """u = 0 half a cell outside (0,1)² (PDEBench's closure) costs one order."""
    u, a, f = darcy_manufactured()
    errors = []
    for n in (16, 32, 64, 128):
        X, Y = mesh(n)
        errors.append(np.abs(solve_cells(a(X, Y), f(X, Y), boundary="ghost")[0] - u(X, Y)).max())
    ratios = convergence(errors)
    assert np.all((ratios > 1.7) & (ratios < 2.3)), (errors, ratios)


def pdebench_tendency(u, a, beta, ghost):
    """du/dt of PDEBench's update, written out: two-cell halo, ``a`` copied into it, flux
    −½(a_P + a_Q)(u_Q − u_P)/h on every face. ``ghost="zero"`` is its closure (ghost u = 0);
    ``"odd"`` mirrors u with the opposite sign (u = 0 on the boundary face)."""
    n = u.shape[0]
    up, ap = np.pad(u, 2), np.pad(a, 2, mode="edge")
    if ghost == "odd":
        up[1, 2:-2], up[-2, 2:-2], up[2:-2, 1], up[2:-2, -2] = -u[0], -u[-1], -u[:, 0], -u[:, -1]
    fx = -0.5 * (ap[2:-1, 2:-2] + ap[1:-2, 2:-2]) * n * (up[2:-1, 2:-2] - up[1:-2, 2:-2])
    fy = -0.5 * (ap[2:-2, 2:-1] + ap[2:-2, 1:-2]) * n * (up[2:-2, 2:-1] - up[2:-2, 1:-2])
    return -n * (fx[1:] - fx[:-1]) - n * (fy[:, 1:] - fy[:, :-1]) + beta


def test_steady_solution_is_the_fixed_point_of_pdebenchs_march():
    card, family = effective_card("darcy_pdebench", {"grid": "24"})
    _, _, a = family.sample_coefficient(card, family.configs(card)[0].params, "train", 0)
    beta = 10.0
    ghost, _ = solve_cells(a, beta, boundary="ghost")
    face, _ = solve_cells(a, beta, boundary="face")
    assert np.abs(pdebench_tendency(ghost, a, beta, "zero")).max() < 1e-9 * beta
    assert np.abs(pdebench_tendency(face, a, beta, "odd")).max() < 1e-9 * beta
    # the closures differ (the check can fail): face's u is not PDEBench's fixed point
    assert np.abs(pdebench_tendency(face, a, beta, "zero")).max() > 0.1 * beta
    assert ghost.min() > face.min() > 0


def disc_coefficient(x, y):
    """One thresholded bump, exp(−r²/0.1) > 0.4: a = 1 in the disc of radius √(0.1 ln 2.5) ≈ 0.30
    about (0.45, 0.55), 0.1 outside."""
    return threshold_coefficient(np.exp(-((x - 0.45) ** 2 + (y - 0.55) ** 2) / 0.1), 0.4)


@pytest.fixture(scope="module")
def fem_reference():
    """P1 FEM on the 257² node grid with the exact discontinuous coefficient (degree-4 rule)."""
    from pdeforge.generators.fem.skfem_backend import solve_p1

    return solve_p1(disc_coefficient, 1.0, 257, intorder=4)


@pytest.mark.parametrize("mean", ["arithmetic", "harmonic"])
def test_finite_volumes_converge_to_p1_fem_on_a_discontinuous_coefficient(fem_reference, mean):
    errors = []
    for n in (16, 32, 64, 128):
        X, Y = mesh(n)
        uh, _ = solve_cells(disc_coefficient(X, Y), 1.0, mean=mean)
        idx = np.rint(cell_centres(n) * 256).astype(int)  # cell centres are FEM nodes
        ref = fem_reference[np.ix_(idx, idx)]
        errors.append(np.abs(uh - ref).max() / ref.max())
    assert np.all(convergence(errors) > 1), errors
    slope = -np.polyfit(np.log([16, 32, 64, 128]), np.log(errors), 1)[0]
    assert slope > 0.8, (errors, slope)  # about first order, as usual for a jump across cells
    assert errors[-1] < 0.02


def test_solution_is_linear_in_beta_and_configs_share_coefficients():
    card, family = effective_card("darcy_pdebench", {"grid": "16"})
    batches = {c.params["beta"]: family.generate(card, c, "val", 0, 3) for c in family.configs(card)}
    one = batches[1.0]
    assert np.all(one["residual"] < 1e-10) and np.all(one["u"] > 0)
    for beta, batch in batches.items():
        np.testing.assert_array_equal(batch["a"], one["a"])
        np.testing.assert_array_equal(batch["beta"], beta)
        np.testing.assert_allclose(batch["u"], beta * one["u"], rtol=1e-12, atol=0)


def test_orientation_axis0_is_x():
    """a small on x < 1/2 → u larger there (harder to drain)."""
    X, _ = mesh(32)
    u, _ = solve_cells(np.where(X < 0.5, 0.1, 1.0), 1.0)
    assert u[X < 0.5].mean() > 3 * u[X > 0.5].mean()


# --- the family on the dataset spine -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pdebench(tmp_path_factory):
    root = tmp_path_factory.mktemp("darcy_pdebench")
    generate_dataset("darcy_pdebench", TINY, root=root, **QUIET)
    return root


def test_stored_attributes_and_coordinates(tiny_pdebench):
    """(check, verify, rerun and worker identity: tests/test_family_contract.py)"""
    from pdeforge import open_dataset

    ds = open_dataset("darcy_pdebench", config="beta100.0_grid16", split="train", root=tiny_pdebench)
    assert ds.attrs["beta"] == 100.0 and ds["u"].attrs["role"] == "target"
    np.testing.assert_allclose(ds["x"].values, (np.arange(16) + 0.5) / 16)


def test_uniform_loader_serves_a_to_u(tiny_pdebench):
    ds = TorchDataset("darcy_pdebench", config="beta0.01_grid16", root=tiny_pdebench)
    assert len(ds) == 3
    x, y = ds[0]
    assert tuple(x.shape) == (1, 16, 16) and tuple(y.shape) == (1, 16, 16)
    raw = TorchDataset("darcy_pdebench", config="beta100.0_grid16", root=tiny_pdebench, normalize=False,
                       inputs=["a", "beta"])
    x, y = raw[1]
    assert tuple(x.shape) == (2, 16, 16)
    assert set(np.unique(x[0].numpy())) <= {np.float32(0.1), np.float32(1.0)}
    assert np.all(x[1].numpy() == 100.0) and y.min() > 0
