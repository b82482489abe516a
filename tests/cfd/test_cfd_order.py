"""Second order in space: a steady manufactured solution and the exact discrete Poiseuille flow.

Manufactured solution on the unit square with no-slip walls (ν = 0.1 m²/s):
ψ = sin²(πx) sin²(πy), u = ∂ψ/∂y, v = −∂ψ/∂x, P = cos(πx) cos(πy), forcing
f = (u·∇)u + ∇P − ν∇²u.  Marched to the steady state of the scheme (independent of dt, see
mac.py) from the exact fields.  Measured max errors at the faces / cell centres:
16²: u 3.85e-2, P 1.49e-1; 32²: 9.57e-3, 3.75e-2; 64²: 2.41e-3, 9.40e-3 — ratios 4.02 and 3.98
(velocity), 3.97 and 3.99 (pressure).  Asserted: every ratio in [3.6, 4.4].
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sy

from pdeforge.generators.cfd import Domain, MACSolver, solve_case, stable_dt

NU = 0.1


def _manufactured():
    X, Y = sy.symbols("x y")
    psi = sy.sin(sy.pi * X) ** 2 * sy.sin(sy.pi * Y) ** 2
    U, V, P = sy.diff(psi, Y), -sy.diff(psi, X), sy.cos(sy.pi * X) * sy.cos(sy.pi * Y)
    lap = lambda e: sy.diff(e, X, 2) + sy.diff(e, Y, 2)  # noqa: E731
    fu = U * sy.diff(U, X) + V * sy.diff(U, Y) + sy.diff(P, X) - NU * lap(U)
    fv = U * sy.diff(V, X) + V * sy.diff(V, Y) + sy.diff(P, Y) - NU * lap(V)
    return {k: sy.lambdify((X, Y), e, "numpy") for k, e in dict(u=U, v=V, p=P, fu=fu, fv=fv).items()}


def _mms_errors(n: int, f) -> tuple[float, float]:
    h = 1.0 / n
    xu, yu = np.meshgrid(np.arange(n + 1) * h, (np.arange(n) + 0.5) * h, indexing="ij")
    xv, yv = np.meshgrid((np.arange(n) + 0.5) * h, np.arange(n + 1) * h, indexing="ij")
    xc, yc = np.meshgrid((np.arange(n) + 0.5) * h, (np.arange(n) + 0.5) * h, indexing="ij")
    s = MACSolver(Domain(1.0, 1.0, n, n, np.zeros((n, n), bool)), NU,
                  forcing=(f["fu"](xu, yu), f["fv"](xv, yv)))
    s.set_state(f["u"](xu, yu), f["v"](xv, yv), f["p"](xc, yc), project=False)
    dt = stable_dt(h, np.pi, NU)
    for _ in range(20000):
        u0, v0 = s.u.copy(), s.v.copy()
        s.step(dt)
        if max(np.abs(s.u - u0).max(), np.abs(s.v - v0).max()) / dt < 1e-9:
            break
    else:
        raise AssertionError("no steady state")
    eu = max(np.abs(s.u - f["u"](xu, yu)).max(), np.abs(s.v - f["v"](xv, yv)).max())
    pe = f["p"](xc, yc)
    ep = np.abs((s.P - s.P.mean()) - (pe - pe.mean())).max()
    return eu, ep


def test_manufactured_solution_second_order():
    f = _manufactured()
    errs = [_mms_errors(n, f) for n in (16, 32, 64)]
    for (eu0, ep0), (eu1, ep1) in zip(errs, errs[1:]):
        assert 3.6 < eu0 / eu1 < 4.4, errs
        assert 3.6 < ep0 / ep1 < 4.4, errs
    assert errs[-1][0] < 3e-3


@pytest.mark.parametrize("n", [8, 16, 32])
def test_poiseuille_is_the_exact_discrete_solution(n):
    """With the reflected-ghost wall closure the discrete developed profile is the parabola
    shifted by c h²/4, c = 6U/(H² + 2h²), with dP/dx = −2νc: the scheme reproduces it to the
    steady tolerance (measured 1.8e-10 in u, 1.4e-7 relative in dP/dx)."""
    H, L, U = 1.0, 4.0, 1.0
    r = solve_case("tube", dict(inlet_velocity=U, density=1.0, viscosity=NU, width=H, length=L,
                                inlet_profile="parabolic"), nx=4 * n, ny=n, t_end=200, steady=True, tol=1e-9)
    s, h = r.solver, H / n
    y = (np.arange(n) + 0.5) * h
    c = 6 * U / (H**2 + 2 * h**2)
    assert np.abs(s.u[-2] - c * (y * (H - y) + h**2 / 4)).max() < 1e-8
    P = s.P[:, n // 2]
    dpdx = (P[3 * n] - P[2 * n]) / (n * L / (4 * n))
    assert dpdx == pytest.approx(-2 * NU * c, rel=1e-6)


def test_poiseuille_converges_second_order_to_the_continuum():
    """Against u = 6U y(H−y)/H² and dp/dx = −12μU/H²: measured profile errors 2.20e-2, 5.77e-3,
    1.46e-3 (ratios 3.82, 3.95), pressure-gradient errors 3.0 %, 0.78 %, 0.19 % (= 2(h/H)²)."""
    H, L, U = 1.0, 4.0, 1.0
    eu, ep = [], []
    for n in (8, 16, 32):
        r = solve_case("tube", dict(inlet_velocity=U, density=1.0, viscosity=NU, width=H, length=L,
                                    inlet_profile="parabolic"), nx=4 * n, ny=n, t_end=200, steady=True,
                       tol=1e-9)
        y = r.y
        eu.append(np.abs(r.solver.u[-2] - 6 * U * y * (H - y) / H**2).max())
        p = r.p[-1, :, n // 2]
        dpdx = (p[3 * n] - p[2 * n]) / (r.x[3 * n] - r.x[2 * n])
        ep.append(abs(dpdx / (-12 * NU * U / H**2) - 1))  # density 1: p = P
    for a, b in zip(eu, eu[1:]):
        assert 3.5 < a / b < 4.5, eu
    for a, b in zip(ep, ep[1:]):
        assert 3.5 < a / b < 4.5, ep
    assert ep[-1] < 3e-3
