"""Tests for the ConDiff finite-volume discretisation (pdeforge.generators.fv)."""

from __future__ import annotations

import dataclasses
import pathlib
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from pdeforge.generators import fv

_BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
if str(_BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(_BENCHMARKS))

from naive_condiff import naive_condiff_matrix, naive_solve  # noqa: E402

PI = np.pi


def _random_k(n: int, seed: int, low: float = 0.1, high: float = 10.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=(n + 1, n + 1))


def _high_contrast_k(n: int, seed: int = 0, spread: float = 11.0) -> np.ndarray:
    """k = exp(g), g a smooth random field with max(g) - min(g) = spread."""
    m = n + 1
    rng = np.random.default_rng(seed)
    freq = np.fft.fftfreq(m, d=1.0 / m)
    k2 = freq[:, None] ** 2 + freq[None, :] ** 2
    filt = np.exp(-0.25 * (2 * PI * 0.1) ** 2 * k2)
    g = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((m, m))) * filt))
    g = (g - g.min()) / (g.max() - g.min()) * spread
    return np.exp(g - spread / 2)


def _loop_matrix(k: np.ndarray) -> np.ndarray:
    """Independent dense assembly straight from the stencil definition."""
    n = k.shape[0] - 1
    A = np.zeros((n * n, n * n))
    for i in range(n):
        for j in range(n):
            faces = {  # neighbour (di, dj) -> face coefficient
                (1, 0): (k[i + 1, j] + k[i + 1, j + 1]) / 2,
                (-1, 0): (k[i, j] + k[i, j + 1]) / 2,
                (0, 1): (k[i, j + 1] + k[i + 1, j + 1]) / 2,
                (0, -1): (k[i, j] + k[i + 1, j]) / 2,
            }
            for (di, dj), c in faces.items():
                A[i * n + j, i * n + j] += c
                if 0 <= i + di < n and 0 <= j + dj < n:
                    A[i * n + j, (i + di) * n + (j + dj)] -= c
    return A * (n + 1) ** 2


# --------------------------------------------------------------------------
# geometry and matrix structure
# --------------------------------------------------------------------------


def test_coordinates():
    n = 7
    np.testing.assert_allclose(fv.interior_coords(n), np.arange(1, 8) / 8)
    np.testing.assert_allclose(fv.coefficient_coords(n), (np.arange(8) + 0.5) / 8)
    with pytest.raises(ValueError):
        fv.interior_coords(0)


def test_matrix_symmetric_positive_definite():
    k = _random_k(8, seed=1)
    A = fv.condiff_matrix(k)
    assert isinstance(A, sp.csr_matrix)
    assert A.shape == (64, 64)
    assert (A - A.T).count_nonzero() == 0  # exactly symmetric
    eig = np.linalg.eigvalsh(A.toarray())
    assert eig.min() > 0


def test_matrix_matches_naive_and_loop_assembly():
    k = _random_k(7, seed=2)
    A = fv.condiff_matrix(k)
    B = naive_condiff_matrix(k)
    assert A.shape == B.shape == (49, 49)
    # Identical sparsity pattern; values equal up to rounding (the two
    # implementations sum the face coefficients in a different order).
    A.sort_indices()
    B.sort_indices()
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    np.testing.assert_allclose(A.data, B.data, rtol=1e-14, atol=0)
    np.testing.assert_allclose(A.toarray(), _loop_matrix(k), rtol=1e-14, atol=0)
    # Canonical CSR: 5-point stencil, sorted, no duplicates.
    assert A.nnz == 5 * 49 - 4 * 7
    assert A.has_canonical_format


def test_naive_solve_agrees():
    k = _random_k(9, seed=3)
    A = fv.condiff_matrix(k)
    b = np.random.default_rng(4).standard_normal(81)
    x, info = fv.solve(A, b, method="direct")
    np.testing.assert_allclose(x, naive_solve(naive_condiff_matrix(k), b), rtol=1e-10, atol=1e-14)
    assert info.method == "direct"


# --------------------------------------------------------------------------
# convergence on manufactured solutions
# --------------------------------------------------------------------------

# Discontinuous coefficient: k = K1 for x < 1/2, K2 for x > 1/2.
#
# Geometry: the unknowns sit at x = (i + 1) h and the k samples (control-volume
# faces / corners) at x = (a + 1/2) h, h = 1/(n + 1).  With n + 1 even
# (n = 15, 31, 63, 127) the line x = 1/2 = ((n + 1)/2) h passes exactly through
# a column of *unknowns*, so no k sample ever lies on the jump: every x-face
# lies entirely in one material and gets its exact k, the control volumes on
# the interface are split half/half and their y-faces get (K1 + K2)/2, the
# exact mean across the face.  Flux continuity is then built into the scheme
# and the error is O(h^2).  With n + 1 odd instead, a column of k samples
# falls on x = 1/2, the x-face there gets K2 instead of the harmonic mean
# 2 K1 K2 / (K1 + K2), and convergence drops to first order (ratios ~ 1.7-1.96
# measured for n = 8 .. 128), so those n are not used here.
#
# Exact solution u = phi(x) sin(pi y) with
#   phi = sin(pi x)/K1 + alpha sinh(pi x)          for x < 1/2,
#   phi = sin(pi x)/K2 + beta  sinh(pi (1 - x))    for x > 1/2,
# where sinh terms solve -phi'' + pi^2 phi = 0 on each side, so
# f = -div(k grad u) = 2 pi^2 sin(pi x) sin(pi y) on both sides (smooth,
# no ambiguity where f is sampled on the interface).  alpha, beta make phi
# continuous (beta = -K1 alpha / K2 also makes k phi' continuous, since the
# sin parts give k phi' = pi cos(pi x), identical on both sides), and
# phi(0) = phi(1) = 0.  u is non-zero on the interface and has a kink there.
K1, K2 = 1.0, 10.0
_S = np.sinh(PI / 2)
_ALPHA = (1 / K2 - 1 / K1) / (_S * (1 + K1 / K2))
_BETA = -K1 * _ALPHA / K2


def _phi_jump(x):
    left = np.sin(PI * x) / K1 + _ALPHA * np.sinh(PI * x)
    right = np.sin(PI * x) / K2 + _BETA * np.sinh(PI * (1 - x))
    return np.where(x < 0.5, left, right)


def _jump_problem(n):
    xk = fv.coefficient_coords(n)
    k = np.repeat(np.where(xk < 0.5, K1, K2)[:, None], n + 1, axis=1)
    X, Y = np.meshgrid(fv.interior_coords(n), fv.interior_coords(n), indexing="ij")
    f = 2 * PI**2 * np.sin(PI * X) * np.sin(PI * Y)
    u = _phi_jump(X) * np.sin(PI * Y)
    return k, f, u


def _smooth_problem(n):
    """k = 1 + sin(2 pi x) cos(2 pi y)/2, u = sin(pi x) sin(2 pi y)."""
    xk = fv.coefficient_coords(n)
    XK, YK = np.meshgrid(xk, xk, indexing="ij")
    k = 1 + 0.5 * np.sin(2 * PI * XK) * np.cos(2 * PI * YK)
    X, Y = np.meshgrid(fv.interior_coords(n), fv.interior_coords(n), indexing="ij")
    u = np.sin(PI * X) * np.sin(2 * PI * Y)
    kval = 1 + 0.5 * np.sin(2 * PI * X) * np.cos(2 * PI * Y)
    k_x = PI * np.cos(2 * PI * X) * np.cos(2 * PI * Y)
    k_y = -PI * np.sin(2 * PI * X) * np.sin(2 * PI * Y)
    u_x = PI * np.cos(PI * X) * np.sin(2 * PI * Y)
    u_y = 2 * PI * np.sin(PI * X) * np.cos(2 * PI * Y)
    # -div(k grad u) = -(k_x u_x + k_y u_y) - k lap(u), lap(u) = -5 pi^2 u
    f = -(k_x * u_x + k_y * u_y) + 5 * PI**2 * kval * u
    return k, f, u


def _check_exact_solution(problem):
    """The manufactured u really is zero on the boundary and continuous (sanity)."""
    x = np.array([0.0, 1.0])
    if problem is _jump_problem:
        np.testing.assert_allclose(_phi_jump(x), 0, atol=1e-14)
        eps = 1e-9
        np.testing.assert_allclose(_phi_jump(0.5 - eps), _phi_jump(0.5 + eps), atol=1e-8)
        # flux k phi' continuous (one-sided difference quotients)
        d = 1e-6
        left = K1 * (_phi_jump(0.5 - d) - _phi_jump(0.5 - 2 * d)) / d
        right = K2 * (_phi_jump(0.5 + 2 * d) - _phi_jump(0.5 + d)) / d
        assert abs(left - right) < 1e-4
        assert abs(_phi_jump(0.5)) > 0.1  # non-trivial interface value


@pytest.mark.parametrize("problem", [_jump_problem, _smooth_problem], ids=["jump", "smooth"])
def test_second_order_convergence(problem):
    _check_exact_solution(problem)
    errors = []
    for n in (15, 31, 63, 127):  # h = 1/16, 1/32, 1/64, 1/128
        k, f, u_exact = problem(n)
        u, info = fv.solve_condiff(k, f, method="direct")
        assert info.residual < 1e-9
        errors.append(np.abs(u - u_exact).max())
    errors = np.array(errors)
    ratios = errors[:-1] / errors[1:]
    assert np.all((ratios > 3.5) & (ratios < 4.5)), (errors, ratios)
    assert errors[-1] < 1e-3


# --------------------------------------------------------------------------
# orientation
# --------------------------------------------------------------------------


def test_orientation_axis0_is_x():
    n = 32
    xk = fv.coefficient_coords(n)
    k = np.ones((n + 1, n + 1))
    k[xk > 0.5, :] = 100.0  # stiff material on the right half (axis 0 = x)
    u, _ = fv.solve_condiff(k, np.ones((n, n)))
    x = fv.interior_coords(n)
    right = u[x > 0.5, :].mean()
    left = u[x < 0.5, :].mean()
    assert right < 0.2 * left
    # and the transposed coefficient gives the transposed solution
    u_t, _ = fv.solve_condiff(k.T.copy(), np.ones((n, n)))
    np.testing.assert_allclose(u_t, u.T, rtol=1e-10, atol=0)


def test_rhs_orientation_and_shape():
    n = 12
    k = _random_k(n, seed=5)
    f = np.zeros((n, n))
    f[2, 9] = 1.0  # point source at x = 3h, y = 10h
    u, _ = fv.solve_condiff(k, f)
    assert u.shape == (n, n)
    assert np.unravel_index(np.argmax(u), u.shape) == (2, 9)
    with pytest.raises(ValueError, match="shape"):
        fv.solve_condiff(k, np.ones((n + 1, n + 1)))


# --------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------


def test_direct_and_amg_agree_on_high_contrast():
    n = 64
    k = _high_contrast_k(n, seed=0)
    assert k.max() / k.min() > 5e4
    f = np.ones((n, n))
    u_d, info_d = fv.solve_condiff(k, f, method="direct", rtol=1e-12)
    u_a, info_a = fv.solve_condiff(k, f, method="amg", rtol=1e-12)
    assert info_d.method == "direct" and info_a.method == "amg"
    assert info_a.iterations > 0 and info_d.iterations == 0
    assert info_d.residual < 1e-9 and info_a.residual < 1e-9
    rel = np.linalg.norm(u_d - u_a) / np.linalg.norm(u_d)
    assert rel < 1e-8


def test_ldl_reuses_symbolic_factorisation_and_agrees_with_lu():
    """Several coefficients on one grid: LDL (cached analysis) = SuperLU to rounding."""
    n = 32
    for seed in range(3):
        k = _high_contrast_k(n, seed=seed)
        f = np.random.default_rng(seed).standard_normal((n, n))
        u_l, info_l = fv.solve_condiff(k, f, method="ldl")
        u_d, _ = fv.solve_condiff(k, f, method="direct")
        assert info_l.method == "ldl" and info_l.residual < 1e-12
        assert np.linalg.norm(u_l - u_d) / np.linalg.norm(u_d) < 1e-10
    # a different pattern (other grid) in between still solves correctly
    k = _random_k(9, seed=11)
    u, info = fv.solve_condiff(k, np.ones((9, 9)), method="ldl")
    assert info.residual < 1e-12


def test_auto_method_uses_threshold():
    k = _random_k(10, seed=6)
    A = fv.condiff_matrix(k)
    b = np.ones(100)
    _, info = fv.solve(A, b)
    assert info.method == "ldl"
    _, info = fv.solve(A, b, method="auto", direct_max_unknowns=99)
    assert info.method == "amg"
    assert info.residual < 1e-9


def test_residual_is_recomputed():
    k = _random_k(10, seed=7)
    A = fv.condiff_matrix(k)
    b = np.random.default_rng(8).standard_normal(100)
    x, info = fv.solve(A, b, method="amg", rtol=1e-6)
    true = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
    assert info.residual == pytest.approx(true, rel=1e-12)
    assert 0 < info.residual < 1e-5  # loose rtol: residual is not a fake 0
    assert dataclasses.is_dataclass(info)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.residual = 0.0  # type: ignore[misc]


def test_bad_solution_is_rejected():
    k = _random_k(10, seed=9)
    A = fv.condiff_matrix(k)
    b = np.ones(100)
    with pytest.raises(fv.SolveError, match="residual"):
        fv.solve(A, b, method="amg", rtol=1e-2, max_residual=1e-8)


def test_zero_rhs_gives_zero():
    A = fv.condiff_matrix(_random_k(6, seed=10))
    x, info = fv.solve(A, np.zeros(36), method="amg")
    assert np.all(x == 0) and x.shape == (36,)
    assert info.residual == 0.0 and info.iterations == 0


def test_unknown_method_lists_known():
    A = fv.condiff_matrix(np.ones((5, 5)))
    with pytest.raises(ValueError) as exc:
        fv.solve(A, np.ones(16), method="cholesky")
    msg = str(exc.value)
    for name in ("auto", "direct", "amg", "cholesky"):
        assert name in msg


@pytest.mark.parametrize(
    "k, match",
    [
        (-np.ones((5, 5)), "positive"),
        (np.zeros((5, 5)), "positive"),
        (np.where(np.eye(5, dtype=bool), np.nan, 1.0), "finite"),
        (np.where(np.eye(5, dtype=bool), np.inf, 1.0), "finite"),
        (np.ones((5, 6)), "square"),
        (np.ones(25), "square"),
        (np.ones((5, 5, 1)), "square"),
        (np.ones((1, 1)), "n >= 1"),
    ],
    ids=["negative", "zero", "nan", "inf", "nonsquare", "1d", "3d", "tiny"],
)
def test_bad_coefficient_raises(k, match):
    with pytest.raises(ValueError, match=match):
        fv.condiff_matrix(k)


def test_amg_solves_are_bit_reproducible_and_leave_the_global_rng_alone():
    """pyamg uses numpy's global generator; two solves of one system must still be identical."""
    n = 40
    A = fv.condiff_matrix(np.exp(np.random.default_rng(3).normal(size=(n + 1, n + 1))))
    b = np.random.default_rng(0).normal(size=n * n)
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    x1, _ = fv.solve(A, b, method="amg")
    assert np.random.random() == before  # the caller's global stream is untouched
    np.random.seed(7)  # a different global state must not change the result
    x2, _ = fv.solve(A, b, method="amg")
    assert np.array_equal(x1, x2)
