"""CFD (MAC solver) speed per CFDBench problem at its card grid: steps/s, cells·steps/s, and the
ratio of one time step to a bare pressure Poisson solve of the same grid, measured in one run.

For each card (cavity 64 × 64, tube 128 × 32, dam 120 × 32; the card's base parameters and
inlet profile, the dam's block snapped to faces as in generation) the solver is built with
:func:`pdeforge.generators.cfd.make_solver`, given the dt that
:func:`pdeforge.generators.cfd.solve_case` would take (``stable_dt`` at the card's CFL), and
warmed up for 50 steps (past the first-step Euler start and the Helmholtz factorisation, which
happens once per dt). Then, one thread (``threadpool_limits(1)``, as in generation):

* **step**: :meth:`MACSolver.step` (AB2/CN predictor: advection, 2 Helmholtz triangular solve
  pairs; projection: divergence, one Poisson solve, gradient correction) — pytest-benchmark,
  min over rounds of a block of steps;
* **Poisson**: ``MACSolver._solve_poisson`` alone (the SuperLU factors held by the solver:
  two triangular solves on the fluid cells), on a fixed random right-hand side;
* **parts**: advection, the two Helmholtz solves, for a breakdown of the step.

The table's times are **process CPU time** (one thread, min over blocks), taken inside the same
test for the step, the Poisson solve and the parts, interleaved (step, Poisson, parts, step), so
the ratio step / Poisson is measured under the same conditions (min over 20 rounds); on a shared, loaded machine wall
time is not the solver's speed (the wall column shows how far off it is; pytest-benchmark's own
figures are wall time unless run with ``--benchmark-timer=time.process_time``). Speed is never
asserted. Run with ``python -m pytest benchmarks/test_cfd_speed.py -q``; the markdown table is
printed at the end and written to ``.benchmarks/cfd_speed.md``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from pdeforge.datasets.family import effective_card
from pdeforge.generators.cfd import make_solver
from pdeforge.generators.cfd.mac import stable_dt
from pdeforge.generators.cfdbench import _solver_params

PROBLEMS = ("cavity", "tube", "dam")
WARMUP = 50
BLOCK = 50    # steps per timed block
REPEATS = 5   # pytest-benchmark rounds of a block
ROUNDS = 20   # interleaved rounds of the table's measurements (min over them)
CFD_RESULTS: dict[str, dict] = {}


def _setup(name: str):
    card, _ = effective_card(name)
    nx, ny = (int(c) for c in card.get("problem.grid"))
    base = {k: float(v) for k, v in card.get("problem.base").items()}
    params = _solver_params(name, base, str(card.get("problem.inlet_profile", "uniform")))
    solver, p, prob = make_solver(name, params, nx=nx, ny=ny, snap=True)
    d = solver.domain
    u_dt, _, _ = prob.scales(p)
    dt = stable_dt(min(d.dx, d.dy), max(u_dt, solver.max_speed()), solver.nu, float(card.get("problem.cfl")))
    return solver, dt, (nx, ny)


def _min_time(fn, repeats: int, number: int) -> tuple[float, float]:
    """(CPU, wall): min over ``repeats`` of the mean process CPU time and of the mean wall time
    of ``number`` calls of fn (s per call)."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(number):
            fn()
        cpu = min(cpu, (time.process_time() - c0) / number)
        wall = min(wall, (time.perf_counter() - w0) / number)
    return cpu, wall


def table(results: dict) -> str:
    lines = ["| problem | grid | cells (fluid) | ms / step | steps / s | cells·steps / s | "
             "Poisson solve ms | step / Poisson | advection ms | 2 Helmholtz ms | wall ms / step |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['grid'][0]}×{r['grid'][1]} | {r['cells']} ({r['fluid_cells']}) | "
            f"{1e3 * r['step_s']:.3f} | {r['steps_per_s']:.0f} | {r['cell_steps_per_s']:.3g} | "
            f"{1e3 * r['poisson_s']:.3f} | {r['step_over_poisson']:.2f} | "
            f"{1e3 * r['advection_s']:.3f} | {1e3 * r['helmholtz_s']:.3f} | {1e3 * r['step_wall_s']:.3f} |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines += ["", f"One thread; times are process CPU time (min over {ROUNDS} interleaved rounds), the last "
              f"column wall time (load average at the end of the run: {load} on {os.cpu_count()} cores)."]
    return "\n".join(lines)


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    if not CFD_RESULTS:
        return
    text = table(CFD_RESULTS)
    out = Path(request.config.rootpath) / ".benchmarks"
    out.mkdir(exist_ok=True)
    (out / "cfd_speed.md").write_text(text + "\n")
    (out / "cfd_speed.json").write_text(json.dumps(CFD_RESULTS, indent=1, default=str))
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print("\n\nCFD solver speed (one thread):\n" + text)


@pytest.mark.parametrize("name", PROBLEMS)
def test_step_speed(benchmark, name):
    solver, dt, (nx, ny) = _setup(name)
    with threadpool_limits(limits=1):
        for _ in range(WARMUP):
            solver.step(dt)

        def block():
            for _ in range(BLOCK):
                solver.step(dt)

        benchmark.pedantic(block, rounds=REPEATS, iterations=1)

        # a direct solve costs the same for any right-hand side: a fixed random one (the
        # projection's own is at round-off once the flow settles)
        fl = solver.domain.fluid
        rhs = np.random.default_rng(0).normal(size=int(fl.sum()))
        ua, va = solver.u_active, solver.v_active
        ru, rv = solver.u[ua].copy(), solver.v[va].copy()
        # interleaved rounds (step block, Poisson block, parts), min of each over the rounds
        parts = {"step": (lambda: solver.step(dt), BLOCK),
                 "poisson": (lambda: solver._solve_poisson(rhs), 2 * BLOCK),
                 "advection": (lambda: solver.advection(solver.u, solver.v), BLOCK),
                 "helmholtz": (lambda: (solver._lu_u.solve(ru), solver._lu_v.solve(rv)), BLOCK)}
        best = {k: (float("inf"), float("inf")) for k in parts}
        for _ in range(ROUNDS):
            for k, (fn, number) in parts.items():
                cpu, wall = _min_time(fn, 1, number)
                best[k] = (min(best[k][0], cpu), min(best[k][1], wall))
    step, poisson = best["step"][0], best["poisson"][0]
    assert np.isfinite(solver.u).all() and np.isfinite(solver.v).all()
    cells = nx * ny
    info = {
        "grid": (nx, ny), "cells": cells, "fluid_cells": int(fl.sum()), "dt": dt,
        "step_s": step, "steps_per_s": 1.0 / step, "cell_steps_per_s": cells / step,
        "poisson_s": poisson, "step_over_poisson": step / poisson,
        "advection_s": best["advection"][0], "helmholtz_s": best["helmholtz"][0],
        "step_wall_s": best["step"][1], "poisson_wall_s": best["poisson"][1],
        "step_benchmark_s": benchmark.stats.stats.min / BLOCK,
    }
    CFD_RESULTS[name] = info
    benchmark.extra_info.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in info.items()})
    print(f"\n{name} {nx}x{ny}: {1e3 * step:.3f} ms/step, {1 / step:.0f} steps/s, "
          f"{cells / step:.3g} cells*steps/s; Poisson {1e3 * poisson:.3f} ms, "
          f"step/Poisson {info['step_over_poisson']:.2f}")
