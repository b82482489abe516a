"""Flow over a dam (rectangular step on the floor of a channel), CFDBench's geometry.

Channel 1.5 m × 0.4 m, step 0.1 m high and 0.05 m wide at x = 0.5 m, ρ = 100, μ = 0.1
(ν = 1e-3 m²/s), uniform inlet, 120 × 32 cells (step = 4 × 8 cells).  Steady states at
Re_H = U H/ν = 20, 40, 80: recirculation behind the step with reattachment at x_r/h = 1.38,
2.12, 3.50 (measured; no published reference fits this blockage, so the test asserts the
monotone trend and, in the slow test, grid convergence).
"""

from __future__ import annotations

import numpy as np
import pytest

from pdeforge.errors import InvalidValueError
from pdeforge.generators.cfd import solve_case


def reattachment(r) -> float:
    """Distance (m) from the step's downstream face to where u on the first fluid row turns positive."""
    x1 = r.params["step_position"] + r.params["step_width"]
    i1 = int(round(x1 / r.diagnostics["dx"]))
    row = r.u[-1, i1:, 0]
    neg = np.nonzero(row < 0)[0]
    assert len(neg), "no recirculation behind the step"
    assert neg[0] <= 1, "the recirculation should start at the step"
    return (neg.max() + 1) * r.diagnostics["dx"]


def _steady(u_in, nx=120, ny=32):
    return solve_case("dam", {"inlet_velocity": u_in}, nx=nx, ny=ny, t_end=300, steady=True, tol=1e-5)


@pytest.fixture(scope="module")
def steady_dams():
    return [_steady(u) for u in (0.05, 0.1, 0.2)]


def test_recirculation_grows_with_reynolds(steady_dams):
    res = [r.diagnostics["reynolds"] for r in steady_dams]
    assert res == pytest.approx([20.0, 40.0, 80.0])
    assert [r.diagnostics["re_step"] for r in steady_dams] == pytest.approx([5.0, 10.0, 20.0])
    xr = [reattachment(r) / 0.1 for r in steady_dams]
    assert all(r.diagnostics["converged"] for r in steady_dams)
    assert xr[0] < xr[1] < xr[2], xr
    assert 0.5 < xr[0] < 3 and 2 < xr[2] < 6, xr


def test_no_flow_in_solid_and_mass_conserved(steady_dams):
    for r in steady_dams:
        s, d = r.solver, r.solver.domain
        solid = d.solid
        assert r.mask.sum() == solid.size - 32  # 4 × 8 solid cells
        assert not r.mask[40:44, :8].any() and r.mask[:, 8:].all()
        # every face touching a solid cell carries no flow; stored fields are 0 there
        touch_u = np.zeros(s.u.shape, bool); touch_u[:-1] |= solid; touch_u[1:] |= solid
        touch_v = np.zeros(s.v.shape, bool); touch_v[:, :-1] |= solid; touch_v[:, 1:] |= solid
        assert not s.u[touch_u].any() and not s.v[touch_v].any()
        assert not r.u[:, solid].any() and not r.v[:, solid].any() and not r.p[:, solid].any()
        q = r.params["inlet_velocity"] * 0.4
        assert r.diagnostics["inflow"][-1] == pytest.approx(q, rel=1e-14)
        assert r.diagnostics["outflow"][-1] == pytest.approx(q, rel=1e-12)
        assert r.diagnostics["max_divergence_rel"].max() < 1e-12


def test_cfdbench_reference_case_runs_transient():
    """Re_H = 400 (CFDBench's reference dam case), 1 s of flow at CFDBench's 0.1 s frame rate."""
    r = solve_case("dam", {}, nx=120, ny=32, t_end=1.0, n_frames=11)
    d = r.diagnostics
    assert d["reynolds"] == pytest.approx(400.0)
    assert r.u.shape == (11, 120, 32) and np.isfinite(r.u).all() and np.isfinite(r.p).all()
    assert d["max_divergence_rel"].max() < 1e-12
    assert np.allclose(d["outflow"], 0.4, rtol=1e-12)
    assert d["max_courant"] < 0.45
    # fluid accelerates over the step
    assert r.u[-1, 42, 8:].max() > 1.2


def test_step_must_be_on_the_grid():
    with pytest.raises(InvalidValueError, match="grid line"):
        solve_case("dam", {"step_height": 0.103}, nx=120, ny=32, t_end=0.01, n_frames=2)
    r = solve_case("dam", {"step_height": 0.103}, nx=120, ny=32, t_end=0.01, n_frames=2, snap=True)
    assert r.params["step_height"] == pytest.approx(0.1)


@pytest.mark.slow
def test_reattachment_grid_convergence():
    """Re_H = 80 on 120 × 32 and 240 × 64: x_r agrees within two coarse cells."""
    coarse, fine = _steady(0.2), _steady(0.2, nx=240, ny=64)
    assert abs(reattachment(coarse) - reattachment(fine)) < 2 * coarse.diagnostics["dx"]
