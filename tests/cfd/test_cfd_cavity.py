"""Lid-driven cavity against Ghia, Ghia & Shin (1982) centreline tables.

Unit square, lid 1 m/s, ρ = 1, μ = 1/Re, marched to steady state (relative change per
convective time < 1e-6).  Error = max |ours − Ghia| over the table's interior points, in lid
units, ours linearly interpolated between faces.  Measured (2-core box): Re 100 on 64² u 0.0038,
v 0.0086 (staggered faces), 0.0036 / 0.0087 from the stored cell-centre fields; the error does
not shrink under refinement (32²: 0.0020 / 0.0084, 128²: 0.0049 / 0.0091) because it is mostly
the difference between two converged discretisations, not our grid error (see
test_re100_self_convergence, slow).  Thresholds: 0.012 at Re 100 on 64² (default run, ~5 CPU-s);
0.02 (the issue's bound) at Re 400 and 1000 on 128² (slow).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from pdeforge.generators.cfd import solve_case
from pdeforge.generators.cfd.reference import centrelines, ghia_points


def _steady_cavity(re: float, n: int):
    return solve_case("cavity", {"lid_velocity": 1.0, "density": 1.0, "viscosity": 1.0 / re},
                      nx=n, ny=n, t_end=400.0, steady=True, tol=1e-6)


def _errors_staggered(result, re):
    y, ug, x, vg = ghia_points(re)
    yu, uu, xv, vv = centrelines(result.solver)
    return np.abs(np.interp(y, yu, uu) - ug).max(), np.abs(np.interp(x, xv, vv) - vg).max()


def _errors_cell_centres(result, re):
    """From the stored (cell-centre) frame, bilinear with the wall values as the outer ring."""
    y, ug, x, vg = ghia_points(re)
    n = len(result.x)
    xe, ye = np.r_[0.0, result.x, 1.0], np.r_[0.0, result.y, 1.0]
    U = np.zeros((n + 2, n + 2)); U[1:-1, 1:-1] = result.u[-1]; U[1:-1, -1] = 1.0
    V = np.zeros((n + 2, n + 2)); V[1:-1, 1:-1] = result.v[-1]
    fu, fv = RegularGridInterpolator((xe, ye), U), RegularGridInterpolator((xe, ye), V)
    eu = np.abs(fu(np.c_[np.full_like(y, 0.5), y]) - ug).max()
    ev = np.abs(fv(np.c_[x, np.full_like(x, 0.5)]) - vg).max()
    return eu, ev


@pytest.fixture(scope="module")
def re100_64():
    return _steady_cavity(100, 64)


def test_ghia_re100_64(re100_64):
    r = re100_64
    assert r.diagnostics["converged"]
    assert r.diagnostics["reynolds"] == pytest.approx(100.0)
    eu, ev = _errors_staggered(r, 100)
    assert eu < 0.012 and ev < 0.012, (eu, ev)
    eu, ev = _errors_cell_centres(r, 100)
    assert eu < 0.012 and ev < 0.012, (eu, ev)


def test_cavity_fields_are_consistent(re100_64):
    r = re100_64
    assert r.u.shape == r.v.shape == r.p.shape == (1, 64, 64)
    assert r.mask.shape == (64, 64) and r.mask.all()
    assert np.allclose(r.x, (np.arange(64) + 0.5) / 64) and np.allclose(r.y, r.x)
    # divergence after projection at round-off (relative to U/h)
    assert r.diagnostics["max_divergence_rel"].max() < 1e-12
    # closed box: pressure has zero mean; the primary vortex turns clockwise (u > 0 near the
    # lid, u < 0 below the centre on the vertical centreline)
    assert abs(r.p[-1].mean()) < 1e-12
    assert r.u[-1, 32, -3] > 0.3 and r.u[-1, 32, 20] < -0.1


@pytest.mark.slow
@pytest.mark.parametrize("re", [400, 1000])
def test_ghia_high_re_128(re):
    r = _steady_cavity(re, 128)
    assert r.diagnostics["converged"]
    eu, ev = _errors_staggered(r, re)
    assert eu < 0.02 and ev < 0.02, (eu, ev)


@pytest.mark.slow
def test_re100_self_convergence():
    """Our own solution converges at second order at the Ghia points (measured successive max
    differences 32→64: 5.4e-3, 64→128: 1.1e-3, ratio 4.9); the Richardson limit lies 4e-4 from
    the 128² solution and 0.0093 from Ghia — the Ghia residual is not our grid error."""
    y, _, x, _ = ghia_points(100)
    vals = []
    for n in (32, 64, 128):
        yu, uu, xv, vv = centrelines(_steady_cavity(100, n).solver)
        vals.append(np.r_[np.interp(y, yu, uu), np.interp(x, xv, vv)])
    d1, d2 = np.abs(vals[1] - vals[0]).max(), np.abs(vals[2] - vals[1]).max()
    assert d1 / d2 > 3.0, (d1, d2)
    assert np.abs((vals[2] - vals[1]) / 3).max() < 1e-3
