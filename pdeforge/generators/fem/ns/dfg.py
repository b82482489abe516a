r"""The DFG flow-around-a-cylinder benchmarks 2D-1 and 2D-2 (Schäfer & Turek 1996).

Setup (SI units): channel [0, 2.2] × [0, 0.41] m, cylinder of diameter D = 0.1 m centred at
(0.2, 0.2); ρ = 1 kg/m³, ν = 1e-3 m²/s; inflow u(0, y) = 4 U_max y (H − y) / H², v = 0; no-slip
on walls and cylinder; do-nothing outflow. Ū = 2 U_max / 3, Re = Ū D / ν.

* 2D-1: U_max = 0.3 m/s (Re = 20), steady. Quantities c_D, c_L, Δp = p(0.15, 0.2) − p(0.25, 0.2).
* 2D-2: U_max = 1.5 m/s (Re = 100), periodic shedding. Quantities St = f D / Ū (f the lift
  frequency), c_D,max, c_L,max over a period of the developed flow.

Reference values: the issue's thresholds (:data:`THRESHOLDS`) are centred on the 1996 paper's
rounded values (:data:`REFERENCE_1996`); :data:`REFERENCE_PRECISE` holds the high-accuracy
values commonly quoted for 2D-1 (John & Matthies 2001 / FEATFLOW: c_D = 5.57953523384,
c_L = 0.010618948146, Δp = 0.11752016697), used to report discretisation errors. For 2D-2 only
the 1996 ranges are used (St ∈ [0.295, 0.305], c_D,max ∈ [3.22, 3.24], c_L,max ∈ [0.99, 1.01]).

``python -m pdeforge.generators.fem.ns.dfg table [refine levels]`` prints the 2D-1
mesh-refinement table.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .mesh import DFG, dfg_mesh
from .solver import ParabolicInflow, Transient, march, solve_steady, spaces, strouhal

__all__ = [
    "NU",
    "REFERENCE_1996",
    "REFERENCE_PRECISE",
    "RHO",
    "THRESHOLDS",
    "U_MAX_2D1",
    "U_MAX_2D2",
    "march_2d2",
    "refinement_table",
    "shedding_quantities",
    "solve_2d1",
]

NU, RHO = 1e-3, 1.0
U_MAX_2D1, U_MAX_2D2 = 0.3, 1.5

REFERENCE_1996 = {"2d1": {"c_D": 5.5795, "c_L": 0.0106, "delta_p": 0.1175},
                  "2d2": {"St": 0.3, "c_D_max": 3.2290, "c_L_max": 1.0}}
REFERENCE_PRECISE = {"2d1": {"c_D": 5.57953523384, "c_L": 0.010618948146, "delta_p": 0.11752016697}}
#: issue #10: relative tolerances around REFERENCE_1996 (St: the absolute band [0.295, 0.305])
THRESHOLDS = {"2d1": {"c_D": 0.01, "c_L": 0.10, "delta_p": 0.01},
              "2d2": {"St": (0.295, 0.305), "c_D_max": 0.01, "c_L_max": 0.05}}


def solve_2d1(h: float = 0.04, refine: int = 0, grad_div: float = 0.0, **mesh_kwargs):
    """DFG 2D-1 (Re = 20) on :func:`dfg_mesh` ``(h, refine)``; returns the :class:`Solution`."""
    cm = dfg_mesh(h=h, refine=refine, **mesh_kwargs)
    return solve_steady(cm, nu=NU, rho=RHO, inflow=ParabolicInflow(U_MAX_2D1, DFG.height), grad_div=grad_div)


def march_2d2(h: float = 0.04, refine: int = 0, wake: float = 1.0, dt: float = 0.01, t_end: float = 8.0,
              n_frames: int = 2, **kwargs) -> Transient:
    """DFG 2D-2 (Re = 100) from rest (impulsive start) to ``t_end`` s by :func:`march`."""
    cm = dfg_mesh(h=h, refine=refine, wake=wake)
    return march(spaces(cm), nu=NU, rho=RHO, inflow=ParabolicInflow(U_MAX_2D2, DFG.height), t_end=t_end, dt=dt,
                 n_frames=n_frames, **kwargs)


def _peak(t: np.ndarray, c: np.ndarray) -> float:
    """Maximum of the parabola through the largest sample and its neighbours."""
    i = int(np.argmax(c))
    if i == 0 or i == len(c) - 1:
        return float(c[i])
    y0, y1, y2 = c[i - 1], c[i], c[i + 1]
    den = y0 - 2 * y1 + y2
    return float(y1 - 0.125 * (y2 - y0) ** 2 / den) if den < 0 else float(y1)


def shedding_quantities(tr: Transient, periods: int = 4, diameter: float = DFG.diameter) -> dict:
    """St from the last ``periods`` lift periods; c_D,max, c_L,max, c_D,min … over that window.

    The lift's upward crossings of its mid-range (over the last 2 s, linearly interpolated) give
    the period; maxima are parabola-refined sample maxima inside the window.
    """
    t, cD, cL = tr.t, tr.c_D, tr.c_L
    late = t >= t[-1] - 2.0
    mid = 0.5 * (np.nanmax(cL[late]) + np.nanmin(cL[late]))
    st = strouhal(t[late], cL[late] - mid, diameter, tr.info["u_ref"], periods=periods)
    a, b = st["t_window"]
    w = (t >= a) & (t <= b)
    return dict(St=st["St"], frequency=st["frequency"], c_D_max=_peak(t[w], cD[w]), c_D_min=-_peak(t[w], -cD[w]),
                c_L_max=_peak(t[w], cL[w]), c_L_min=-_peak(t[w], -cL[w]), window=(a, b))


def refinement_table(levels=(0, 1, 2), h: float = 0.04) -> list[dict]:
    """Rows (level, n_elements, n_dofs, h_min, c_D, c_L, Δp, errors vs REFERENCE_PRECISE, seconds)."""
    ref = REFERENCE_PRECISE["2d1"]
    rows = []
    for k in levels:
        t0 = time.perf_counter()
        sol = solve_2d1(h=h, refine=k)
        i = sol.info
        cm = sol.spaces.cmesh
        rows.append(dict(refine=k, h=h / 2**k, h_cyl=cm.info["h_cyl"] / 2**k, elements=cm.info["n_elements"],
                         dofs=int(i["n_dofs"]), c_D=i["c_D"], c_L=i["c_L"], delta_p=i["delta_p"],
                         err_c_D=i["c_D"] / ref["c_D"] - 1, err_c_L=i["c_L"] / ref["c_L"] - 1,
                         err_delta_p=i["delta_p"] / ref["delta_p"] - 1, newton=i["newton_iterations"],
                         seconds=time.perf_counter() - t0, mesh_hash=cm.hash[:12]))
    return rows


def _main(argv: list[str]) -> None:
    if not argv or argv[0] != "table":
        print(__doc__)
        return
    levels = tuple(int(a) for a in argv[1:]) or (0, 1, 2)
    print("| refine | h (far) | h (cyl) | elements | dofs | c_D | c_L | Δp (Pa) | err c_D | err c_L | err Δp "
          "| Newton | s |")
    print("|---:" * 13 + "|")
    for r in refinement_table(levels):
        print(f"| {r['refine']} | {r['h']:.4f} | {r['h_cyl']:.5f} | {r['elements']} | {r['dofs']} | {r['c_D']:.6f} "
              f"| {r['c_L']:.7f} | {r['delta_p']:.6f} | {r['err_c_D']:.1e} | {r['err_c_L']:.1e} "
              f"| {r['err_delta_p']:.1e} | {r['newton']} | {r['seconds']:.1f} |", flush=True)


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
