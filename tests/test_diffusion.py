"""Diffusion family: heat equation (Crank–Nicolson on the ConDiff FV matrix) and 2D
FitzHugh–Nagumo (IMEX SBDF2, DCT-diagonal zero-flux Laplacian); orders, conservation,
dt-halving, and the dataset spine end to end (shards, bit-identical regeneration, rollout)."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy import pi

from pdeforge.datasets import store
from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import effective_card, generate_dataset
from pdeforge.generators import fv
from pdeforge.generators.diffusion import (
    cell_centres, fhn_rollout, heat_rollout, neumann_eigenvalues, neumann_laplacian, _dct, _idct,
)

QUIET = dict(progress=False, log=lambda *a: None)
DU, DV, K = 1e-3, 5e-3, 5e-3


# --- heat: exact eigenmode decay ----------------------------------------------------------------


def eigenmode(n):
    """k ≡ 1 matrix, u0 = sin(πx) sin(πy) on the unknowns, and the discrete eigenvalue λ_h."""
    A = fv.condiff_matrix(np.ones((n + 1, n + 1)))
    x = fv.interior_coords(n)
    u0 = np.sin(pi * x)[:, None] * np.sin(pi * x)[None, :]
    h = 1.0 / (n + 1)
    return A, u0, 8.0 / h**2 * np.sin(pi * h / 2) ** 2


@pytest.mark.parametrize("startup", [0, 4])
def test_heat_time_order_two(startup):
    """Against the semi-discrete solution e^{−λ_h t} u0 (pure time error): CN is second order,
    with or without the Rannacher start (4 backward-Euler half steps)."""
    n, T = 15, 0.1
    A, u0, lam = eigenmode(n)
    np.testing.assert_allclose(A @ u0.ravel(), lam * u0.ravel(), rtol=1e-12)  # an exact eigenvector
    errors = []
    for steps in (10, 20, 40):
        frames = heat_rollout(A, u0, np.zeros_like(u0), T / steps, steps // 2, 3, startup)
        errors.append(np.abs(frames[-1] - np.exp(-lam * T) * u0).max())
        # frame 1 is at T/2
        assert np.abs(frames[1] - np.exp(-lam * T / 2) * u0).max() < 4 * errors[-1] + 1e-12
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 3.8) & (ratios < 4.3)), (errors, ratios)


def test_heat_space_time_order_two_against_the_pde():
    """Against the exact PDE solution e^{−2π² t} sin(πx) sin(πy), dt ∝ h: second order."""
    T, errors = 0.1, []
    for n in (7, 15, 31, 63):
        A, u0, _ = eigenmode(n)
        steps = 8 * (n + 1)
        frames = heat_rollout(A, u0, np.zeros_like(u0), T / steps, steps, 2)
        errors.append(np.abs(frames[-1] - np.exp(-2 * pi**2 * T) * u0).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 3.8) & (ratios < 4.3)), (errors, ratios)
    assert errors[-1] < 1e-4


def test_heat_reaches_the_condiff_steady_state():
    """u0 = 0, constant f: u(t) → A^{-1} f (the ConDiff solution of the same k, f)."""
    n = 16
    rng = np.random.default_rng(0)
    k = np.exp(0.5 * rng.standard_normal((n + 1, n + 1)))
    f = rng.standard_normal((n, n))
    A = fv.condiff_matrix(k)
    frames = heat_rollout(A, np.zeros((n, n)), f, 0.01, 10, 11)
    steady, _ = fv.solve_condiff(k, f)
    np.testing.assert_array_equal(frames[0], 0.0)
    assert np.linalg.norm(frames[-1] - steady) < 1e-6 * np.linalg.norm(steady)


# --- diff_react ---------------------------------------------------------------------------------


def test_dct_solve_is_the_zero_flux_fv_operator():
    """The DCT-diagonal implicit solve equals a sparse solve with the assembled FV matrix."""
    n, h, c = 9, 2.0 / 9, 0.37
    L = neumann_laplacian(n, h)
    assert abs(L - L.T).max() == 0
    np.testing.assert_allclose(L @ np.ones(n * n), 0.0, atol=1e-12)  # zero flux: constants are in the kernel
    b = np.random.default_rng(1).standard_normal((n, n))
    ref = spla.spsolve(sp.csc_matrix(sp.identity(n * n) - c * L), b.ravel()).reshape(n, n)
    got = _idct(_dct(b) / (1.0 - c * neumann_eigenvalues(n, h)))
    np.testing.assert_allclose(got, ref, atol=1e-13)
    np.testing.assert_allclose(cell_centres(4), [-0.75, -0.25, 0.25, 0.75])


def test_pure_diffusion_conserves_mass():
    """Reaction off, zero flux: ∑u and ∑v stay at their initial values to round-off."""
    n = 32
    w0 = np.random.default_rng(2).standard_normal((2, n, n)) + 0.3
    frames = fhn_rollout(w0[0], w0[1], 2.0 / n, 0.05, 0.1, K, 0.01, 10, 6, reaction=False)
    mass = frames.sum(axis=(2, 3))
    scale = np.abs(w0).sum()
    assert np.abs(mass - mass[0]).max() < 1e-13 * scale, mass - mass[0]
    assert frames[-1].std() < 0.2 * frames[0].std()  # and it did diffuse


def test_reaction_matches_an_ode_solve_at_second_order():
    """D = 0 and uniform data: the scheme is the AB2/BDF2 ODE integrator, checked against solve_ivp."""
    from scipy.integrate import solve_ivp

    def rhs(t, y):
        u, v = y
        return [u - u**3 - K - v, u - v]

    ref = solve_ivp(rhs, (0, 2.0), [1.5, -0.5], rtol=1e-12, atol=1e-12).y[:, -1]
    errors = []
    for steps in (50, 100, 200):
        w = fhn_rollout(np.full((2, 2), 1.5), np.full((2, 2), -0.5), 1.0, 0.0, 0.0, K, 2.0 / steps, steps, 2)
        errors.append(np.abs(w[-1, :, 0, 0] - ref).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errors, ratios)


def test_dt_halving_changes_frames_little():
    """The card's dt (T/100/steps_per_frame) on noise data: halving it changes every frame of
    (u, v) by < 1e-3 (measured 2.4e-4), and the change shrinks ~4× per halving (second order)."""
    card, _ = effective_card("diffusion")
    dr = card.get("diff_react")
    spf, frames, T = int(dr["steps_per_frame"]), int(dr["frames"]), float(dr["t_final"])
    dt = T / ((frames - 1) * spf)
    n = 32
    w0 = np.random.default_rng(3).standard_normal((2, n, n))
    run = [fhn_rollout(w0[0], w0[1], 2.0 / n, dr["Du"], dr["Dv"], dr["k"], dt / m, spf * m, frames)
           for m in (1, 2, 4)]
    d1, d2 = np.abs(run[0] - run[1]).max(), np.abs(run[1] - run[2]).max()
    assert d1 < 1e-3, d1
    assert 3.0 < d1 / d2 < 5.0, (d1, d2)
    assert np.isfinite(run[0]).all() and 0.3 < np.abs(run[0][-1]).max() < 3  # a nontrivial pattern


# --- the family on the dataset spine ------------------------------------------------------------

TINY = {"heat_grid": "15", "dr_grid": "16", "heat_frames": "5", "dr_frames": "5",
        "dr_t_final": "0.2", "variances": "0.1", "n_train": "2", "n_test": "1", "n_val": "0",
        "samples_per_shard": "2"}


def test_card_defaults():
    card, family = effective_card("diffusion")
    names = [c.name for c in family.configs(card)]
    assert names == ["heat_cubic0.1_grid64", "heat_cubic1.0_grid64", "diff_react_grid64"]
    dr = family.config(card, "diff_react_grid64")
    coords = family.coords(card, dr)
    assert len(coords["t"].values) == 101 and coords["t"].values[-1] == 5.0
    np.testing.assert_allclose(coords["x"].values[[0, -1]], [-1 + 1 / 64, 1 - 1 / 64])
    attrs = family.attrs(card, dr)
    assert (attrs["Du"], attrs["Dv"], attrs["k"]) == (DU, DV, K)
    heat = family.config(card, "heat_cubic1.0_grid64")
    assert family.variables(card, heat)["u"].dims == ("t", "x", "y")
    assert family.content_key(card, heat) != family.content_key(card, family.config(card, "heat_cubic0.1_grid64"))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion")
    generate_dataset("diffusion", TINY, root=root, workers=1, **QUIET)
    return root


def test_rollout_loader_shapes(tiny_root):
    """(check, verify, rerun and worker identity: tests/test_family_contract.py)"""
    card, family = effective_card("diffusion", TINY)
    for config, (n, vt, vs) in {"heat_cubic0.1_grid15": (15, 1, 2), "diff_react_grid16": (16, 2, 0)}.items():
        cdir = store.config_dir(store.resolve_root(tiny_root), "diffusion", config)
        assert len(sorted(cdir.rglob("shard-*.nc"))) == 2  # train (2 samples, one shard) + test
        ds = TorchDataset("diffusion", config=config, root=tiny_root, mode="rollout", history=2, horizon=1)
        assert ds.n_windows == 5 - 2 - 1 + 1 and len(ds) == 2 * ds.n_windows
        x, y = ds[len(ds) - 1]
        # x: 2 frames of each time-dependent input + the static inputs (heat: k, f); y: one frame
        assert tuple(x.shape) == (2 * vt + vs, n, n) and tuple(y.shape) == (vt, n, n)
        assert np.isfinite(x.numpy()).all() and np.isfinite(y.numpy()).all()


def test_samples_are_bit_identical_on_rerun(tiny_root):
    """A fresh in-process regeneration of a stored sample reproduces it bit for bit."""
    from pdeforge import open_dataset

    card, family = effective_card("diffusion", TINY)
    for config in ("heat_cubic0.1_grid15", "diff_react_grid16"):
        stored = open_dataset("diffusion", config=config, split="train", root=tiny_root)
        fresh = family.generate(card, family.config(card, config), "train", 0, 2)
        for v, arr in fresh.items():
            np.testing.assert_array_equal(stored[v].values, arr)
        np.testing.assert_array_equal(stored["u"].values[:, 0] == 0, config.startswith("heat"))
    dr = open_dataset("diffusion", config="diff_react_grid16", split="train", root=tiny_root)
    assert dr["u"].dtype == np.float32 and dr["t"].values[-1] == pytest.approx(0.2)


def test_plot_shows_time_series_at_their_last_frame(tiny_root, tmp_path):
    from pdeforge import open_dataset
    from pdeforge.datasets.plot import plot_samples

    ds = open_dataset("diffusion", config="diff_react_grid16", split="train", root=tiny_root)
    out = plot_samples(ds, tmp_path / "dr.png", n=2)
    assert out.stat().st_size > 10_000
