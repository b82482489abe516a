"""Manufactured solution for the Taylor–Hood Oseen operator of pdeforge.generators.fem.ns.

On the unit square, u = curl(sin²(πx) sin²(πy)) (divergence-free, zero on the boundary),
p = cos(πx) cos(πy) (zero mean), a non-constant convecting field w_h (P2 interpolant of
(sin πy, cos πx)) and μ = 0.1, ρ = 1: f = ρ(w_h·∇)u − μΔu + ∇p. The discrete problem uses the
package's own matrices (taylor_hood, convection_matrix); the pressure is fixed by a zero-mean
Lagrange multiplier. Expected L² rates: velocity 3, pressure 2.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from pdeforge.generators.fem.ns.solver import convection_matrix, taylor_hood

pi = np.pi
MU, RHO = 0.1, 1.0


def exact(x, y):
    s, c = np.sin, np.cos
    # psi = sin^2(pi x) sin^2(pi y); u = psi_y, v = -psi_x
    u = 2 * pi * s(pi * x) ** 2 * s(pi * y) * c(pi * y)
    v = -2 * pi * s(pi * x) * c(pi * x) * s(pi * y) ** 2
    p = c(pi * x) * c(pi * y)
    return u, v, p


def derivatives(x, y):
    s, c = np.sin, np.cos
    sx, cx, sy, cy = s(pi * x), c(pi * x), s(pi * y), c(pi * y)
    ux = 4 * pi**2 * sx * cx * sy * cy
    uy = 2 * pi**2 * sx**2 * (cy**2 - sy**2)
    vx = -2 * pi**2 * (cx**2 - sx**2) * sy**2
    vy = -ux
    lap_u = 2 * pi**3 * (2 * (cx**2 - sx**2) * sy * cy - 4 * sx**2 * sy * cy)
    lap_v = -2 * pi**3 * (-4 * sx * cx * sy**2 + 2 * sx * cx * (cy**2 - sy**2))
    px, py = -pi * sx * cy, -pi * cx * sy
    return ux, uy, vx, vy, lap_u, lap_v, px, py


def solve(n_refine: int):
    from skfem import Functional, LinearForm, MeshTri

    mesh = MeshTri().refined(n_refine)
    bu, bp, M, K, B = taylor_hood(mesh)
    X = bu.doflocs
    W = np.where(np.arange(bu.N) % 2 == 0, np.sin(pi * X[1]), np.cos(pi * X[0]))  # P2 interpolant of w
    C = convection_matrix(bu, W)

    @LinearForm
    def load(v, w):
        x, y = w.x
        ux, uy, vx, vy, lap_u, lap_v, px, py = derivatives(x, y)
        wx, wy = w["wh"]
        fx = RHO * (wx * ux + wy * uy) - MU * lap_u + px
        fy = RHO * (wx * vx + wy * vy) - MU * lap_v + py
        return fx * v[0] + fy * v[1]

    f = load.assemble(bu, wh=bu.interpolate(W))

    @LinearForm
    def ones(q, w):
        return q

    ell = ones.assemble(bp)
    A = sp.bmat([[RHO * C + MU * K, -B.T, None], [-B, None, ell[:, None]], [None, ell[None, :], None]], format="csr")
    rhs = np.concatenate([f, np.zeros(bp.N + 1)])
    D = bu.get_dofs().all()
    free = np.setdiff1d(np.arange(A.shape[0]), D)
    x = np.zeros(A.shape[0])
    x[free] = spl.spsolve(A[free][:, free].tocsc(), rhs[free])
    U, P = x[: bu.N], x[bu.N : bu.N + bp.N]

    @Functional
    def err_u(w):
        u, v, _ = exact(*w.x)
        return (w["uh"][0] - u) ** 2 + (w["uh"][1] - v) ** 2

    @Functional
    def err_p(w):
        return (w["ph"] - exact(*w.x)[2]) ** 2

    h = 1.0 / 2**n_refine
    return h, np.sqrt(err_u.assemble(bu, uh=bu.interpolate(U))), np.sqrt(err_p.assemble(bp, ph=bp.interpolate(P)))


@pytest.fixture(scope="module")
def errors():
    return [solve(k) for k in (2, 3, 4, 5)]


def test_velocity_l2_rate_is_three(errors):
    rates = [np.log2(a[1] / b[1]) for a, b in zip(errors, errors[1:])]
    print("velocity L2 errors", [e[1] for e in errors], "rates", rates)
    assert 2.85 < rates[-1] < 3.3
    assert all(r > 2.6 for r in rates[1:])


def test_pressure_l2_rate_is_two(errors):
    rates = [np.log2(a[2] / b[2]) for a, b in zip(errors, errors[1:])]
    print("pressure L2 errors", [e[2] for e in errors], "rates", rates)
    assert 1.85 < rates[-1] < 2.6
    assert all(r > 1.7 for r in rates[1:])
