"""One CFD case from physical parameters: :func:`solve_case` and the problem registry.

Problems (``PROBLEMS``, a :class:`pdeforge.registry.Registry`; parameters in SI units, the
defaults are CFDBench's reference cases where it has one):

=========  ==========================================================================  =====================
problem    parameters (default)                                                        Reynolds number
=========  ==========================================================================  =====================
cavity     lid_velocity (1 m/s), density (1 kg/m³), viscosity (0.01 Pa·s),              Re = ρ U_lid W / μ
           width W (1 m), height (1 m)
tube       inlet_velocity U (1 m/s, mean over the inlet), density (100), viscosity      Re = ρ U W / μ
           (0.1), width W (0.1 m), length (1 m), inlet_profile ("uniform")
dam        inlet_velocity U (1 m/s, mean), density (100), viscosity (0.1), height H     Re = ρ U H / μ
           (0.4 m), length (1.5 m), step_height h (0.1 m), step_width (0.05 m),         (also Re_step = ρ U h / μ)
           step_position (0.5 m, upstream face), inlet_profile ("uniform")
=========  ==========================================================================  =====================

Initial state: the cavity starts at rest (impulsively started lid).  Tube and dam start from
the inlet profile copied to every column, projected onto discretely divergence-free fields
with the boundary conditions (CFDBench's Fluent runs initialise x-velocity = inlet velocity);
for the dam this projection is the potential-like flow around the step.

Time step: fixed per frame interval.  dt = Δt_frame / k with k the smallest integer such that
dt ≤ :func:`~pdeforge.generators.cfd.mac.stable_dt` for the problem's velocity scale
(cavity |U_lid|; tube 1.5 U, the developed centreline speed; dam 1.5 U H/(H − h), the same
accelerated over the step) or the initial state's largest speed if that is larger, so every
frame lands exactly on a step.  If the measured Courant
number ever exceeds 1.5 × cfl the step is halved (deterministically) for the rest of the run.

Steady mode (``steady=True``): march with the largest stable dt until the relative change per
convective time unit, ‖uⁿ⁺¹ − uⁿ‖∞ / (dt ‖uⁿ⁺¹‖∞) · L/U, falls below ``tol`` (or t reaches
``t_end``: ``diagnostics["converged"]`` says which); one frame, the final state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from pdeforge.errors import InvalidValueError
from pdeforge.registry import Registry

from .geometry import INLET_PROFILES, Geometry, cavity_domain, dam_domain, tube_domain
from .mac import MACSolver, stable_dt

__all__ = ["Problem", "PROBLEMS", "CaseResult", "solve_case", "make_solver", "SolverDivergedError"]


class SolverDivergedError(RuntimeError):
    """The solution became non-finite (a case outside the scheme's stability range)."""


@dataclass(frozen=True)
class Problem:
    """A CFD problem: its parameters and defaults, domain builder and scales."""

    name: str
    defaults: dict
    build: Callable[[dict, int, int, bool], Geometry]
    #: (Re, definition, extra {name: value})
    reynolds: Callable[[dict], tuple[float, str, dict]]
    #: (velocity scale for dt in m/s, length scale in m, convective velocity in m/s)
    scales: Callable[[dict], tuple[float, float, float]]
    start: str  # "rest" or "inlet"


PROBLEMS: Registry[Problem] = Registry("CFD problem")


def _nu(p: dict) -> float:
    return p["viscosity"] / p["density"]


PROBLEMS.register("cavity")(Problem(
    name="cavity",
    defaults={"lid_velocity": 1.0, "density": 1.0, "viscosity": 0.01, "width": 1.0, "height": 1.0},
    build=lambda p, nx, ny, snap: cavity_domain(width=p["width"], height=p["height"],
                                                lid_velocity=p["lid_velocity"], nx=nx, ny=ny),
    reynolds=lambda p: (abs(p["lid_velocity"]) * p["width"] / _nu(p), "rho*|lid_velocity|*width/viscosity", {}),
    scales=lambda p: (abs(p["lid_velocity"]), p["width"], abs(p["lid_velocity"])),
    start="rest",
))

PROBLEMS.register("tube")(Problem(
    name="tube",
    defaults={"inlet_velocity": 1.0, "density": 100.0, "viscosity": 0.1, "width": 0.1, "length": 1.0,
              "inlet_profile": "uniform"},
    build=lambda p, nx, ny, snap: tube_domain(length=p["length"], width=p["width"],
                                              inlet_velocity=p["inlet_velocity"],
                                              inlet_profile_kind=p["inlet_profile"], nx=nx, ny=ny),
    reynolds=lambda p: (p["inlet_velocity"] * p["width"] / _nu(p), "rho*inlet_velocity*width/viscosity "
                        "(inlet_velocity = mean over the inlet)", {}),
    scales=lambda p: (1.5 * p["inlet_velocity"], p["width"], p["inlet_velocity"]),
    start="inlet",
))

PROBLEMS.register("dam")(Problem(
    name="dam",
    defaults={"inlet_velocity": 1.0, "density": 100.0, "viscosity": 0.1, "height": 0.4, "length": 1.5,
              "step_height": 0.1, "step_width": 0.05, "step_position": 0.5, "inlet_profile": "uniform"},
    build=lambda p, nx, ny, snap: dam_domain(length=p["length"], height=p["height"],
                                             step_height=p["step_height"], step_width=p["step_width"],
                                             step_position=p["step_position"],
                                             inlet_velocity=p["inlet_velocity"],
                                             inlet_profile_kind=p["inlet_profile"], nx=nx, ny=ny, snap=snap),
    reynolds=lambda p: (p["inlet_velocity"] * p["height"] / _nu(p),
                        "rho*inlet_velocity*height/viscosity (channel height; inlet_velocity = mean)",
                        {"re_step": p["inlet_velocity"] * p["step_height"] / _nu(p)}),
    scales=lambda p: (1.5 * p["inlet_velocity"] * p["height"] / (p["height"] - p["step_height"]),
                      p["height"], p["inlet_velocity"]),
    start="inlet",
))


@dataclass
class CaseResult:
    """One solved case.  Fields (x, y, t in m and s; u, v in m/s; p in Pa):

    u, v, p: (time, nx, ny) float64 at cell centres (staggered velocities averaged to the
    centres; 0 in solid cells; cavity p has zero mean over the fluid, open problems p = 0 on
    the outflow face); x (nx,), y (ny,): cell-centre coordinates; t (time,): frame times;
    mask (nx, ny) int8, 1 = fluid; params: every parameter actually solved (defaults filled
    in, geometry after snapping); diagnostics: Reynolds number and its definition, grid,
    steps, dt, per-frame divergence and fluxes, CPU seconds; solver: the final
    :class:`MACSolver` (staggered state), not part of any stored output.
    """

    problem: str
    params: dict
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    u: np.ndarray
    v: np.ndarray
    p: np.ndarray
    mask: np.ndarray
    diagnostics: dict = field(default_factory=dict)
    solver: MACSolver | None = field(default=None, repr=False)


def _resolve(problem: Problem, params: dict | None) -> dict:
    params = dict(params or {})
    unknown = sorted(set(params) - set(problem.defaults))
    if unknown:
        raise InvalidValueError(f"unknown parameter(s) {unknown} for {problem.name}; known: "
                                f"{sorted(problem.defaults)}")
    out = {}
    for k, default in problem.defaults.items():
        val = params.get(k, default)
        if isinstance(default, str):
            val = str(val)
            if k == "inlet_profile" and val not in INLET_PROFILES:
                raise InvalidValueError(f"inlet_profile must be one of {INLET_PROFILES}, got {val!r}")
        else:
            val = float(val)
            if not math.isfinite(val):
                raise InvalidValueError(f"{k} must be finite, got {val}")
            if k in ("density", "viscosity") and val <= 0:
                raise InvalidValueError(f"{k} must be > 0, got {val}")
        out[k] = val
    return out


def make_solver(problem: str, params: dict | None = None, *, nx: int, ny: int, snap: bool = False):
    """Build (solver in its initial state, resolved params, Problem) without time stepping."""
    prob = PROBLEMS.get(problem)
    p = _resolve(prob, params)
    geom = prob.build(p, int(nx), int(ny), snap)
    p.update(geom.params)
    solver = MACSolver(geom.domain, _nu(p), density=p["density"])
    if prob.start == "inlet":
        prof = geom.domain.sides["west"].profile
        u0 = np.broadcast_to(prof, (geom.domain.nx + 1, geom.domain.ny)).copy()
        solver.set_state(u0, np.zeros_like(solver.v))
    return solver, p, prob


def solve_case(problem: str, params: dict | None = None, *, nx: int, ny: int, t_end: float,
               n_frames: int = 2, steady: bool = False, tol: float = 1e-6, cfl: float = 0.3,
               snap: bool = False, max_steps: int = 10_000_000) -> CaseResult:
    """Solve one case of ``problem`` (``"cavity"``, ``"tube"``, ``"dam"``) on nx × ny cells.

    Transient (default): ``n_frames`` ≥ 2 frames at t_k = k t_end/(n_frames − 1), frame 0 the
    initial state.  Steady: march until the relative change per convective time L/U is below
    ``tol`` (at most until ``t_end``); one frame.  See the module docstring for dt.
    """
    cpu0 = time.process_time()
    t_end = float(t_end)
    if not t_end > 0:
        raise InvalidValueError(f"t_end must be > 0, got {t_end}")
    if not steady and int(n_frames) < 2:
        raise InvalidValueError("a transient run needs n_frames >= 2 (frame 0 is the initial state)")
    solver, p, prob = make_solver(problem, params, nx=nx, ny=ny, snap=snap)
    dom = solver.domain
    h = min(dom.dx, dom.dy)
    u_dt, l_ref, u_conv = prob.scales(p)
    if u_dt <= 0:
        raise InvalidValueError("the driving velocity must be nonzero")
    # the projected start of the dam has a corner peak above the scale estimate (≈ 3 U at
    # 240 × 64): take it into account instead of halving dt for the whole run later
    u_dt = max(u_dt, solver.max_speed())
    dt_max = stable_dt(h, u_dt, solver.nu, cfl)
    c_hard = 1.5 * cfl
    re, re_def, re_extra = prob.reynolds(p)
    frames_u, frames_v, frames_p, times, divs, fluxes = [], [], [], [], [], []

    def record():
        uc, vc = solver.cell_velocity()
        frames_u.append(uc); frames_v.append(vc); frames_p.append(solver.pressure())
        times.append(solver.t)
        divs.append(float(np.abs(solver.divergence()).max()))
        fluxes.append(solver.boundary_fluxes())

    def check(dt):
        if not np.isfinite(solver.u).all() or not np.isfinite(solver.v).all():
            raise SolverDivergedError(f"{problem} {p}: non-finite velocity at t = {solver.t:.4g} s "
                                      f"(dt = {dt:.3g} s, Re = {re:.4g})")
        return solver.max_speed() * dt / h

    dts, halvings, c_max, converged, rate = [], 0, 0.0, None, float("nan")
    with threadpool_limits(limits=1):
        if steady:
            dt = dt_max
            t_ref = l_ref / u_conv
            while solver.t < t_end and solver.steps < max_steps:
                u_old, v_old = solver.u.copy(), solver.v.copy()
                solver.step(dt)
                c = check(dt)
                c_max = max(c_max, c)
                change = max(np.abs(solver.u - u_old).max(), np.abs(solver.v - v_old).max())
                rate = change / (dt * max(solver.max_speed(), 1e-300)) * t_ref
                if rate < tol:
                    break
                if c > c_hard:
                    dt *= 0.5
                    halvings += 1
            dts.append(dt)
            converged = bool(rate < tol)
            record()
        else:
            n_frames = int(n_frames)
            frame_dt = t_end / (n_frames - 1)
            k = max(1, math.ceil(frame_dt / dt_max - 1e-9))
            dt = frame_dt / k
            dts.append(dt)
            record()
            for f in range(1, n_frames):
                m = 0
                while m < k:
                    solver.step(dt)
                    m += 1
                    c = check(dt)
                    c_max = max(c_max, c)
                    if c > c_hard and halvings < 8:
                        k, m, dt = 2 * k, 2 * m, 0.5 * dt
                        halvings += 1
                        dts.append(dt)
                    if solver.steps > max_steps:
                        raise SolverDivergedError(f"more than max_steps = {max_steps} steps")
                solver.t = f * frame_dt  # exact frame time (removes summation round-off)
                record()
    fluid = dom.fluid
    diag = {
        "reynolds": float(re), "reynolds_definition": re_def, **{k: float(v) for k, v in re_extra.items()},
        "kinematic_viscosity": solver.nu, "grid": (dom.nx, dom.ny), "dx": dom.dx, "dy": dom.dy,
        "steps": solver.steps, "dt": dts, "dt_halvings": halvings, "max_courant": c_max,
        "max_divergence": np.array(divs),
        "max_divergence_rel": np.array(divs) * h / u_conv,
        "inflow": np.array([fl[0] for fl in fluxes]), "outflow": np.array([fl[1] for fl in fluxes]),
        "cpu_seconds": time.process_time() - cpu0,
    }
    if steady:
        diag.update(converged=converged, change_rate=float(rate), t_final=solver.t)
    return CaseResult(problem=problem, params=p, x=dom.x_centres(), y=dom.y_centres(),
                      t=np.array(times), u=np.stack(frames_u), v=np.stack(frames_v),
                      p=np.stack(frames_p), mask=fluid.astype(np.int8), diagnostics=diag, solver=solver)
