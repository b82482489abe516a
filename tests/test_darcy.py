"""Darcy family (FNO setup): GRF spectrum, ψ, FD solver accuracy, and the dataset spine end to end."""


import numpy as np
import pytest
from numpy import pi

from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import effective_card, generate_dataset
from pdeforge.errors import InvalidValueError
from pdeforge.generators.darcy_fd import darcy_matrix, node_coords, psi, solve_darcy
from pdeforge.generators.grf_neumann import NeumannGRF, kl_std

QUIET = dict(progress=False, log=lambda *a: None)
TINY = {"solve": "41", "store": "21,11", "n_train": "5", "n_test": "2", "n_val": "1",
        "samples_per_shard": "3"}


# --- Gaussian random field ------------------------------------------------------------------


def cosine_matrix(s, points):
    """C[n, k] = φ_k(t_n) (orthonormal Neumann cosines) at the evaluation points of ``points``."""
    t = np.arange(s) / (s - 1) if points == "nodes" else (np.arange(s) + 0.5) / s
    k = np.arange(s)
    return np.cos(pi * k[None, :] * t[:, None]) * np.where(k == 0, 1.0, np.sqrt(2.0))[None, :]


def test_kl_std_is_the_fno_formula():
    s = 6
    sigma = kl_std(s, alpha=2.0, tau=3.0)
    k1, k2 = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    expected = 3.0 / (pi**2 * (k1**2 + k2**2) + 9.0)
    expected[0, 0] = 0.0
    np.testing.assert_allclose(sigma, expected, rtol=1e-14)
    # general alpha, tau: tau^(alpha-1) (pi^2 |k|^2 + tau^2)^(-alpha/2)
    np.testing.assert_allclose(kl_std(s, 3.0, 2.0)[1, 2], 2.0**2 * (5 * pi**2 + 4.0) ** -1.5, rtol=1e-14)


@pytest.mark.parametrize("points", ["nodes", "fno"])
def test_synthesis_is_the_cosine_expansion(points):
    """g = Σ σ_k ξ_k φ_k at the evaluation points, against an explicit cosine sum."""
    s = 11
    grf = NeumannGRF(s, points=points)
    xi = np.random.default_rng(3).standard_normal((s, s))
    C = cosine_matrix(s, points)
    np.testing.assert_allclose(grf.synthesize(xi), C @ (grf.sigma * xi) @ C.T, atol=1e-14)
    np.testing.assert_allclose(grf.coords, np.arange(s) / (s - 1) if points == "nodes" else (np.arange(s) + 0.5) / s)


def test_fno_points_reproduce_matlab_idct2():
    """points="fno" is GRF.m: U = idct2(s σ ξ) with MATLAB's orthonormal inverse DCT-II."""
    s = 9
    n, k = np.arange(s)[:, None], np.arange(s)[None, :]
    w = np.where(k == 0, np.sqrt(1.0 / s), np.sqrt(2.0 / s))
    D = w * np.cos(pi * (2 * n + 1) * k / (2 * s))  # x = D X: MATLAB idct along one axis
    xi = np.random.default_rng(0).standard_normal((s, s))
    L = s * kl_std(s) * xi
    np.testing.assert_allclose(NeumannGRF(s, points="fno").synthesize(xi), D @ L @ D.T, atol=1e-14)


def test_empirical_spectrum_matches_the_formula():
    """Mode coefficients recovered from sampled fields have variance σ_k² (within sampling error)."""
    s, m = 13, 3000
    grf = NeumannGRF(s)
    rng = np.random.default_rng(7)
    g = np.stack([grf.sample(rng) for _ in range(m)])
    Cinv = np.linalg.inv(cosine_matrix(s, "nodes"))
    coef = np.einsum("kn,snm,lm->skl", Cinv, g, Cinv)  # coefficients of φ_k in each sample
    assert np.abs(coef[:, 0, 0]).max() < 1e-12  # the mean mode is removed
    var = (coef**2).mean(axis=0)
    ratio = var.ravel()[1:] / grf.sigma.ravel()[1:] ** 2
    # each ratio is a chi^2_m / m variable: std sqrt(2/m) = 0.026; 168 modes, 5 sigma
    assert np.abs(ratio - 1).max() < 5 * np.sqrt(2 / m), ratio
    assert abs(ratio.mean() - 1) < 5 * np.sqrt(2 / m / ratio.size)
    # modes are uncorrelated
    z = coef.reshape(m, -1)[:, 1:] / grf.sigma.ravel()[1:]
    corr = np.corrcoef(z.T)
    assert np.abs(corr - np.eye(len(corr))).max() < 6 / np.sqrt(m)
    # pointwise variance Σ σ_k² φ_k(x)² φ_k(y)²
    emp = g.var(axis=0)
    np.testing.assert_allclose(emp, grf.pointwise_variance(), rtol=5 * np.sqrt(2 / m))


def test_psi_takes_only_the_two_values_and_thresholds_at_zero():
    card, family = effective_card("darcy", {"solve": "33", "store": "33"})
    config = family.configs(card)[0]
    fractions = []
    for i in range(20):
        g, a, _, _ = family.sample_full(card, config.params, "train", i)
        assert set(np.unique(a)) <= {3.0, 12.0}
        np.testing.assert_array_equal(a == 12.0, g >= 0)
        fractions.append((a == 12.0).mean())
    # mean mode removed: each phase covers half the square on average
    assert 0.3 < np.mean(fractions) < 0.7
    assert set(np.unique(psi(np.array([-1e-300, 0.0, 2.0])))) == {3.0, 12.0}
    np.testing.assert_array_equal(psi(np.array([-1.0, 0.0, 1.0]), 5.0, 1.0), [1.0, 5.0, 5.0])


# --- finite-difference solver ---------------------------------------------------------------


from shared_data import darcy_manufactured as manufactured  # noqa: E402


@pytest.mark.parametrize("mean", ["arithmetic", "harmonic"])
def test_fd_second_order_on_a_manufactured_solution(mean):
    u, a, f = manufactured()
    errors = []
    for n in (17, 33, 65):
        X, Y = np.meshgrid(node_coords(n), node_coords(n), indexing="ij")
        uh, info = solve_darcy(a(X, Y), f(X, Y), mean=mean)
        assert info.residual < 1e-10
        assert np.all(uh[[0, -1], :] == 0) and np.all(uh[:, [0, -1]] == 0)
        errors.append(np.abs(uh - u(X, Y)).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 3.7) & (ratios < 4.3)), (errors, ratios)
    assert errors[-1] < 1e-3


def test_arithmetic_matrix_is_the_fno_solve_gwf_stencil():
    """Loop assembly of the published scheme: face coefficient (a_p + a_q)/2, scaled by (S−1)²."""
    S = 7
    a = np.random.default_rng(1).uniform(1, 10, (S, S))
    n = S - 2
    ref = np.zeros((n * n, n * n))
    idx = lambda i, j: (i - 1) * n + (j - 1)
    for i in range(1, S - 1):
        for j in range(1, S - 1):
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                c = 0.5 * (a[i, j] + a[i + di, j + dj]) * (S - 1) ** 2
                ref[idx(i, j), idx(i, j)] += c
                if 1 <= i + di <= S - 2 and 1 <= j + dj <= S - 2:
                    ref[idx(i, j), idx(i + di, j + dj)] -= c
    A = darcy_matrix(a)
    np.testing.assert_allclose(A.toarray(), ref, rtol=1e-14)
    assert abs(A - A.T).max() == 0
    H = darcy_matrix(a, "harmonic").toarray()
    assert np.isclose(H[idx(1, 1), idx(2, 1)], -2 * a[1, 1] * a[2, 1] / (a[1, 1] + a[2, 1]) * (S - 1) ** 2)


def test_orientation_axis0_is_x():
    """a small on x < 1/2 → u larger there (it is harder to drain)."""
    S = 33
    x = node_coords(S)
    a = np.where(x[:, None] < 0.5, 1.0, 100.0) * np.ones((1, S))
    u, _ = solve_darcy(a, 1.0)
    assert u[x < 0.5].mean() > 10 * u[x > 0.5].mean()


# --- the family on the dataset spine ----------------------------------------------------------


def test_card_defaults_follow_fno():
    card, family = effective_card("darcy")
    configs = family.configs(card)
    assert [c.name for c in configs] == ["fno_s85", "fno_s141", "fno_s211"]
    assert [c.params["stride"] for c in configs] == [5, 3, 2]
    assert family.splits(card) == {"train": 1000, "test": 200, "val": 100}
    assert card.get("task.inputs") == ["a"] and card.get("task.targets") == ["u"]
    attrs = family.attrs(card, configs[0])
    assert attrs["grid_solve"] == 421 and attrs["grid_store"] == 85
    coords = family.coords(card, configs[0])
    np.testing.assert_allclose(coords["x"].values, np.linspace(0, 1, 85), atol=1e-15)
    with pytest.raises(InvalidValueError, match="available: .*85.*141.*211"):
        effective_card("darcy", {"store": "100"})


@pytest.fixture(scope="module")
def tiny_darcy(tmp_path_factory):
    root = tmp_path_factory.mktemp("darcy")
    generate_dataset("darcy", TINY, root=root, workers=1, **QUIET)
    return root


def test_loader_serves_a_to_u(tiny_darcy):
    """(check, verify, rerun and worker identity: tests/test_family_contract.py)"""
    ds = TorchDataset("darcy", config="fno_s21_solve41", root=tiny_darcy)
    x, y = ds[0]
    assert tuple(x.shape) == (1, 21, 21) and tuple(y.shape) == (1, 21, 21)
    raw = TorchDataset("darcy", config="fno_s21_solve41", root=tiny_darcy, normalize=False)
    a, u = raw[0][0].numpy()[0], raw[0][1].numpy()[0]
    assert set(np.unique(a)) <= {3.0, 12.0}
    assert np.all(u[[0, -1], :] == 0) and np.all(u[:, [0, -1]] == 0) and u.max() > 0


def test_stored_grids_are_stride_subsamples_of_one_solve(tiny_darcy):
    from pdeforge import open_dataset

    card, family = effective_card("darcy", TINY)
    fine = open_dataset("darcy", config="fno_s21_solve41", split="train", root=tiny_darcy)
    coarse = open_dataset("darcy", config="fno_s11_solve41", split="train", root=tiny_darcy)
    assert fine.attrs["grid_solve"] == 41 and coarse.attrs["grid_store"] == 11
    np.testing.assert_array_equal(fine["u"].values[:, ::2, ::2], coarse["u"].values)
    np.testing.assert_array_equal(fine["a"].values[:, ::2, ::2], coarse["a"].values)
    np.testing.assert_allclose(coarse["x"].values, np.linspace(0, 1, 11), atol=1e-15)
    _, a, u, info = family.sample_full(card, family.configs(card)[0].params, "train", 3)
    np.testing.assert_array_equal(fine["u"].values[3], u[::2, ::2])
    assert fine["residual"].values[3] == info.residual < 1e-9
    # the loader's resolution rule (point injection) gives the coarse config exactly
    inj = TorchDataset("darcy", config="fno_s21_solve41", root=tiny_darcy, normalize=False, resolution=11)
    ref = TorchDataset("darcy", config="fno_s11_solve41", root=tiny_darcy, normalize=False)
    assert np.array_equal(inj[1][1].numpy(), ref[1][1].numpy())
