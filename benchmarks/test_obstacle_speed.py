"""Steady FEM Navier–Stokes speed on the obstacle card: per-case CPU by stage, Newton dofs/s, and
the dolfinx backend against scikit-fem on the same discrete problems.

Eight cases drawn from the card (its default mesh sizes), one thread, process CPU (the machine is
shared): the gmsh mesh, the Taylor–Hood spaces and constant matrices, the Newton solve (with its
iteration count), the DeepCFD grid view (locating 13,588 cell centres, three interpolation
matrices), and the whole stored case (:meth:`Obstacle.solve`). Newton's rate is reported as
dofs · iterations per CPU second. Where ``.venv-dolfinx`` exists, the dolfinx backend solves the
same cases: its wall time includes the interpreter start and FFCx's form cache lookup per case,
reported as a ratio to scikit-fem's Newton time in the same run. Speed is never asserted.
``python -m pytest benchmarks/test_obstacle_speed.py -q -s``; the table goes to
``.benchmarks/obstacle_speed.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from pdeforge.datasets.family import effective_card
from pdeforge.generators import obstacle as ob
from pdeforge.generators.fem.dolfinx_env import dolfinx_status
from pdeforge.generators.fem.ns import ParabolicInflow, solve_steady, spaces
from pdeforge.generators.fem.ns.obstacle_mesh import obstacle_mesh

N_CASES = 8


def _cpu(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def test_obstacle_card_cases(benchmark):
    card, family = effective_card("obstacle")
    config = family.configs(card)[0]
    rows = []
    have_dolfinx = dolfinx_status() is None
    with threadpool_limits(1):
        for i in range(N_CASES):
            p = family.case_params(card, config, "train", i)
            geo = ob.geometry(card, p)
            cm, t_mesh = _cpu(lambda: obstacle_mesh(geo, **ob.mesh_settings(card, p["size"])))
            S, t_spaces = _cpu(lambda: spaces(cm))
            U, rho, mu = p["inlet_velocity"], p["density"], p["viscosity"]
            inflow = ParabolicInflow(1.5 * U, geo.height)
            gamma = float(card.get("problem.grad_div")) * rho * U * p["size"]
            tol = float(card.get("problem.newton_tol"))
            sol, t_newton = _cpu(lambda: solve_steady(S, nu=mu / rho, rho=rho, inflow=inflow, tol=tol, grad_div=gamma))
            _, t_view = _cpu(lambda: ob.grid_view(S, card))
            ob._spaces.cache_clear()
            _, t_case = _cpu(lambda: family.solve(card, p))
            row = dict(shape=p["shape"], re=ob.reynolds(p), dofs=S.n_dofs, its=sol.info["newton_iterations"],
                       mesh=t_mesh, spaces=t_spaces, newton=t_newton, view=t_view, case=t_case)
            if have_dolfinx:
                from pdeforge.generators.fem.ns.dolfinx_steady import solve_steady_dolfinx

                t0 = time.perf_counter()
                d = solve_steady_dolfinx(S, nu=mu / rho, rho=rho, inflow=inflow, tol=tol, grad_div=gamma)
                row["dolfinx_wall"] = time.perf_counter() - t0
                row["dolfinx_du"] = float(np.abs(d.U - sol.U).max() / np.abs(sol.U).max())
            rows.append(row)
    # the timed benchmark: the base case's whole stored solve (mesh cached after the first round)
    base = dict(ob.cases.base_params(card), shape="square")
    benchmark.pedantic(lambda: family.solve(card, base), rounds=3, iterations=1)
    head = ("| case | Re | dofs | Newton its | mesh | spaces | Newton | grid view | whole case | Newton dofs·its/s"
            + (" | dolfinx wall / skfem Newton CPU | max ΔU / max U |" if have_dolfinx else " |"))
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        line = (f"| {r['shape']} | {r['re']:.1f} | {r['dofs']} | {r['its']} | {r['mesh']:.2f} | {r['spaces']:.2f} | "
                f"{r['newton']:.2f} | {r['view']:.2f} | {r['case']:.2f} | {r['dofs'] * r['its'] / r['newton']:.3g}")
        if have_dolfinx:
            line += f" | {r['dolfinx_wall'] / r['newton']:.2f} | {r['dolfinx_du']:.1e}"
        lines.append(line + " |")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("mesh", "spaces", "newton", "view", "case", "dofs")}
    lines.append(f"| **mean** | | {mean['dofs']:.0f} | | {mean['mesh']:.2f} | {mean['spaces']:.2f} | {mean['newton']:.2f} | "
                 f"{mean['view']:.2f} | {mean['case']:.2f} | |" + (" | |" if have_dolfinx else ""))
    table = "seconds of process CPU, one thread\n\n" + "\n".join(lines)
    print("\n" + table)
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / "obstacle_speed.md").write_text(table + "\n")
    assert rows
