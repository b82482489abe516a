"""scikit-fem backend: P1/P2 convergence, and agreement with the finite-difference Darcy solver.

Measured (2-core CPU; g = :func:`g_fixed`, a = ψ(g) ∈ {3, 12}; P1 integrates the exact
discontinuous a with a degree-6 rule; relative max differences on the common coarse nodes):

* ``|u_FD − u_P1| / max|u|`` at n = 33, 65, 129: 3.9e-2, 1.6e-2, 5.9e-3 (about first order, as
  expected for a coefficient that jumps across curves cutting the grid).
* FD error against P1 at n = 257, at n = 17, 33, 65: arithmetic face mean 5.0e-2, 2.5e-2,
  1.0e-2; harmonic 5.1e-2, 2.1e-2, 8.3e-3. Against P1 at n = 513 (not run here) the errors at
  n = 33, 65, 129, 257 were arithmetic 3.4e-2, 1.9e-2, 6.2e-3, 3.2e-3 and harmonic 3.7e-2,
  1.4e-2, 6.9e-3, 2.9e-3: neither mean is consistently more accurate.
"""

import numpy as np
import pytest
from numpy import cos, pi, sin

pytest.importorskip("skfem")

from pdeforge.generators.darcy_fd import node_coords, psi, solve_darcy  # noqa: E402
from pdeforge.generators.fem.skfem_backend import (  # noqa: E402
    grid_index, l2_error, solve_fem, solve_p1, unit_square_mesh,
)


from shared_data import darcy_manufactured as manufactured  # noqa: E402


def grid(n):
    return np.meshgrid(node_coords(n), node_coords(n), indexing="ij")


def test_mesh_is_the_node_grid():
    n = 5
    mesh = unit_square_mesh(n)
    i, j = grid_index(mesh, n)
    assert mesh.p.shape == (2, n * n) and mesh.t.shape == (3, 2 * (n - 1) ** 2)
    assert sorted(zip(i.tolist(), j.tolist())) == [(a, b) for a in range(n) for b in range(n)]


def orders(errors):
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


@pytest.mark.parametrize("coefficient", ["quadrature", "nodal"])
def test_p1_second_order(coefficient):
    u, a, f = manufactured()
    l2, nodal = [], []
    for n in (17, 33, 65):
        X, Y = grid(n)
        sol = solve_fem(a if coefficient == "quadrature" else a(X, Y), f, n, order=1, coefficient=coefficient)
        assert sol.info.residual < 1e-10
        l2.append(l2_error(sol, u))
        nodal.append(np.abs(sol.u - u(X, Y)).max())
    assert np.all(np.abs(orders(l2) - 2) < 0.15), l2
    assert np.all(np.abs(orders(nodal) - 2) < 0.15), nodal
    assert nodal[-1] < 1e-3


def test_p2_third_order_in_l2():
    u, a, f = manufactured()
    l2 = [l2_error(solve_fem(a, f, n, order=2), u) for n in (9, 17, 33)]
    assert np.all(orders(l2) > 2.8), l2


def test_nodal_and_element_coefficients_agree_for_p1():
    """For P1 (exact quadrature) the P1 interpolant of node values and the vertex mean per
    triangle give the same stiffness matrix, hence the same solution."""
    n = 9
    X, Y = grid(n)
    a = 1 + X + 2 * Y**2
    np.testing.assert_allclose(solve_p1(a, 1.0, n, coefficient="nodal"),
                               solve_p1(a, 1.0, n, coefficient="element"), rtol=1e-12, atol=1e-15)


# --- FD (the Darcy family's solver) against P1 with a discontinuous coefficient -----------------


def g_fixed(x, y):
    """A fixed smooth field whose zero level set cuts the grid obliquely (64 % positive)."""
    return (0.6 * cos(pi * x) * cos(2 * pi * y) + 0.5 * cos(2 * pi * x + 0.3) * cos(pi * y + 0.7)
            + 0.15 * sin(3 * pi * x * y) + 0.05)


def a_psi(x, y):
    return psi(g_fixed(x, y))


def test_fd_and_p1_agree_increasingly_well_for_a_discontinuous_coefficient(capsys):
    diffs = []
    for n in (33, 65, 129):
        X, Y = grid(n)
        u_fd, _ = solve_darcy(a_psi(X, Y), 1.0)
        u_fe = solve_p1(a_psi, 1.0, n, intorder=6)
        r = (n - 1) // 32  # compare on the common 33-grid nodes
        diffs.append(np.abs(u_fd - u_fe)[::r, ::r].max() / np.abs(u_fe).max())
    with capsys.disabled():
        print("\n|u_FD - u_P1| / max|u| at n = 33, 65, 129:", ", ".join(f"{d:.2e}" for d in diffs))
    assert diffs[0] > diffs[1] > diffs[2]
    assert diffs[2] < 0.25 * diffs[0] and diffs[2] < 1e-2


def test_fd_face_means_converge_to_the_fem_limit(capsys):
    """Arithmetic (FNO) and harmonic face means: both converge to the P1 limit, at similar error
    levels (neither is consistently better for ψ-coefficients), so the FNO choice costs nothing."""
    n_ref = 257
    ref = solve_p1(a_psi, 1.0, n_ref, intorder=6)
    scale = np.abs(ref).max()
    errs = {"arithmetic": [], "harmonic": []}
    coarse = ref[::16, ::16]  # compare on the 17 x 17 nodes common to every grid
    for n in (17, 33, 65):
        X, Y = grid(n)
        r = (n - 1) // 16
        for mean in errs:
            u, _ = solve_darcy(a_psi(X, Y), 1.0, mean=mean)
            errs[mean].append(np.abs(u[::r, ::r] - coarse).max() / scale)
    with capsys.disabled():
        for mean, e in errs.items():
            print(f"\nFD {mean} error vs P1 (n = {n_ref}) at n = 17, 33, 65:", ", ".join(f"{v:.2e}" for v in e))
    for e in errs.values():
        assert e[-1] < 0.5 * e[0]
    ratio = np.array(errs["arithmetic"]) / np.array(errs["harmonic"])
    assert np.all((ratio > 0.4) & (ratio < 2.5)), ratio
