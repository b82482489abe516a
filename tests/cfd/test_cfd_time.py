"""Second order in time: halving dt changes a transient frame 4× less (velocity and pressure).

Fixed grids, the same end time reached with k, 2k, 4k, 8k equal steps; differences between
successive runs.  Measured ratios: cavity (32², Re 100, t = 1 s from the impulsive start)
4.02, 4.01 in u and v, 4.02, 4.01 in p; dam (60 × 16, Re_H 200, t = 0.5 s) 4.22, 4.04 in u, v
and 3.95, 4.06 in p.  Without the end-of-step pressure extrapolation p is first order (2.0).
Asserted: every ratio in [3.5, 4.6].
"""

from __future__ import annotations

import pytest

from pdeforge.generators.cfd import make_solver


def _run(problem, params, nx, ny, t, k):
    s, _, _ = make_solver(problem, params, nx=nx, ny=ny)
    for _ in range(k):
        s.step(t / k)
    return s.u.copy(), s.v.copy(), s.pressure()


@pytest.mark.parametrize("problem,params,nx,ny,t,k", [
    ("cavity", {}, 32, 32, 1.0, 100),
    ("dam", {"inlet_velocity": 0.5}, 60, 16, 0.5, 50),
])
def test_dt_halving_ratio(problem, params, nx, ny, t, k):
    runs = [_run(problem, params, nx, ny, t, k * 2**m) for m in range(4)]
    dvel = [max(abs(a[0] - b[0]).max(), abs(a[1] - b[1]).max()) for a, b in zip(runs, runs[1:])]
    dp = [abs(a[2] - b[2]).max() for a, b in zip(runs, runs[1:])]
    for d in (dvel, dp):
        for a, b in zip(d, d[1:]):
            assert 3.5 < a / b < 4.6, (dvel, dp)
