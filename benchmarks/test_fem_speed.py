"""FEM Navier–Stokes speed on the cylinder card: time steps/s and dofs·steps/s, with a breakdown.

The card's base case (DFG channel, Re = 75) on the card's default mesh, and the DFG 2D-2 mesh of
the validation (h = 0.04, wake box) for comparison. Per mesh, one thread (as in generation):

* **step**: one step of :func:`pdeforge.generators.fem.ns.march` (convection assembly, saddle
  matrix, GMRES preconditioned by the reused LU), the mean of the per-step process-CPU times
  recorded by march's callback over steps 3 … N (steps 1–2 factorise their matrices; later
  refactorisations, when GMRES needs more than the card's ``max_gmres`` iterations, are included);
* **assembly**: the convection matrix alone (scikit-fem assembly at quadrature order 5);
* **LU solve**: one forward/backward substitution with the factors of a step matrix (the floor
  a step cannot go below).

Times are process CPU (the machine is shared; wall time is not the solver's speed). Speed is
never asserted. ``python -m pytest benchmarks/test_fem_speed.py -q -s``; the table is printed
and written to ``.benchmarks/fem_speed.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as spl
from threadpoolctl import threadpool_limits

from pdeforge.datasets.family import effective_card
from pdeforge.generators import cases
from pdeforge.generators import cylinder as cy
from pdeforge.generators.fem.ns import DFG, ParabolicInflow, channel_mesh, march, solve_stokes, spaces

STEPS = 40
RESULTS: dict[str, dict] = {}


def _measure(label: str, S, U: float, rho: float, mu: float, dt: float, gamma: float, max_gmres: int = 30) -> dict:
    inflow = ParabolicInflow(1.5 * U, S.cmesh.geometry.height)
    times: list[float] = []
    last = [time.process_time()]

    def tick(step, t, x):
        now = time.process_time()
        times.append(now - last[0])
        last[0] = now

    with threadpool_limits(1):
        x0 = solve_stokes(S, inflow, mu)
        last[0] = time.process_time()
        march(S, nu=mu / rho, rho=rho, inflow=inflow, t_end=STEPS * dt, dt=dt, n_frames=2, x0=x0,
              grad_div=gamma, max_gmres=max_gmres, callback=tick)
        step = float(np.mean(times[2:]))
        W = x0[: S.n_u]
        t0 = time.process_time()
        for _ in range(5):
            C = S.convection(W)
        assembly = (time.process_time() - t0) / 5
        A = S.saddle(rho * 1.5 / dt * S.M + rho * C + S.viscous(mu, gamma))
        free = S.free
        lu = spl.splu(A[free][:, free].tocsc(), permc_spec="COLAMD")
        b = np.ones(free.size)
        t0 = time.process_time()
        for _ in range(10):
            lu.solve(b)
        solve = (time.process_time() - t0) / 10
    row = dict(mesh=label, dofs=S.n_dofs, vertices=S.cmesh.n_vertices, step_s=step, steps_per_s=1 / step,
               dof_steps_per_s=S.n_dofs / step, assembly_s=assembly, lu_solve_s=solve, step_over_solve=step / solve)
    RESULTS[label] = row
    return row


def test_cylinder_card_mesh():
    card, _ = effective_card("cylinder")
    p = cases.base_params(card)
    S = cy.case_spaces(card, p)
    U, D = p["inlet_velocity"], 2 * p["radius"]
    _measure("cylinder card (h 0.06, 0.08 D)", S, U, p["density"], p["viscosity"],
             float(card.get("problem.dt_convective")) * D / U, float(card.get("problem.grad_div")) * p["density"] * U * D,
             int(card.get("problem.max_gmres")))


def test_dfg_validation_mesh():
    S = spaces(channel_mesh(DFG, h=0.04, wake=1.0))
    _measure("DFG 2D-2 validation (h 0.04)", S, 1.0, 1.0, 1e-3, 0.01, 0.0)


def test_zz_table():
    lines = ["| mesh | dofs | vertices | step (ms CPU) | steps/s | dofs·steps/s | assembly (ms) | LU solve (ms) "
             "| step / LU solve |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in RESULTS.values():
        lines.append(f"| {r['mesh']} | {r['dofs']} | {r['vertices']} | {1e3 * r['step_s']:.1f} | "
                     f"{r['steps_per_s']:.1f} | {r['dof_steps_per_s']:.3g} | {1e3 * r['assembly_s']:.1f} | "
                     f"{1e3 * r['lu_solve_s']:.1f} | {r['step_over_solve']:.1f} |")
    table = "\n".join(lines)
    print("\n" + table)
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / "fem_speed.md").write_text(table + "\n")
    assert RESULTS
