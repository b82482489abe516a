"""DFG 2D-2 (Schäfer & Turek 1996, Re = 100): periodic vortex shedding. Slow (~5 CPU-min).

Semi-implicit BDF2, dt = 0.005 s, from rest (impulsive start) to t = 6 s on the h = 0.04 gmsh
mesh with the wake box (4,189 curved triangles, 19,383 dofs); the shedding is developed by
t ≈ 4.5 s. Quantities over the last four lift periods. Thresholds of issue #10: St in
[0.295, 0.305], c_D,max within 1 % of 3.2290 (the brief's centre of the 1996 range
[3.22, 3.24]), c_L,max within 5 % of 1.0. Measured: St 0.3025, c_D,max 3.2334, c_L,max 0.9986
Time-step study on this mesh (St, c_D,max, c_L,max): dt = 0.01: 0.3055, 3.2667, 1.0599;
dt = 0.005: 0.3025, 3.2334, 0.9986; dt = 0.0025: 0.3015, 3.2248, 0.9832 (second order in the
maxima; Richardson dt → 0: ≈ 0.301, 3.222, 0.978). So at dt = 0.005 the c_L,max error is a
+1.5 % time error on top of a ≈ −2 % spatial one of this coarse mesh.
The run is bit-reproducible (two runs in separate processes gave identical numbers).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gmsh")

from pdeforge.generators.fem.ns import divergence_l1, grid_view
from pdeforge.generators.fem.ns.dfg import (
    REFERENCE_1996,
    THRESHOLDS,
    march_2d2,
    shedding_quantities,
)

REF, TOL = REFERENCE_1996["2d2"], THRESHOLDS["2d2"]


@pytest.mark.slow
def test_dfg_2d2_shedding():
    tr = march_2d2(h=0.04, wake=1.0, dt=0.005, t_end=6.0, n_frames=5, t_frames_from=5.0)
    q = shedding_quantities(tr)
    print(q, tr.info)
    lo, hi = TOL["St"]
    assert lo <= q["St"] <= hi
    assert abs(q["c_D_max"] / REF["c_D_max"] - 1) < TOL["c_D_max"]
    assert abs(q["c_L_max"] / REF["c_L_max"] - 1) < TOL["c_L_max"]
    # periodic: the lift oscillates about ~0 with nearly equal extremes
    assert abs(q["c_L_max"] + q["c_L_min"]) < 0.1 * q["c_L_max"]
    # every stored frame: finite grid view; divergence ∫|∇·u| relative to ∫|∂u/∂x| + |∂v/∂y|.
    # Taylor-Hood conserves mass only weakly: measured 0.071-0.072 on this mesh (half of it in
    # the coarse far wake x > 1.2), 0.014 for the steady 2D-1 flow on the h = 0.04 mesh.
    from skfem import Functional

    S = tr.spaces
    gv = grid_view(S)
    views = gv.apply(tr.U, tr.P)
    assert np.all(np.isfinite(views["u"])) and views["u"].shape == (5, 64, 64)
    scale = Functional(lambda w: np.abs(w["w"].grad[0][0]) + np.abs(w["w"].grad[1][1]))
    for k in range(len(tr.t_frames)):
        rel_div = divergence_l1(S, tr.U[k]) / scale.assemble(S.basis_u, w=S.basis_u.interpolate(tr.U[k]))
        print("frame", tr.t_frames[k], "relative divergence", rel_div)
        assert rel_div < 0.08
