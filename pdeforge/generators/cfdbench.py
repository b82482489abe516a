r"""The CFDBench problems as regenerable datasets: ``cavity``, ``tube``, ``dam`` (one family).

Each card (``cards/{cavity,tube,dam}.toml``, ``dataset.generator = "cfdbench"``) names a problem
of the MAC finite-volume solver (:mod:`pdeforge.generators.cfd`, validated against Ghia et al.
1982, Poiseuille, Durst et al. 2005, manufactured solutions) and four **subsets** as configs,
CFDBench's design: ``bc`` varies the driving velocity, ``prop`` density and viscosity, ``geo``
the geometry, ``all`` everything jointly. A **sample is one case** (CFDBench: a case is one set
of parameters and its whole time series), so splits are by case, never by frame; each split
draws its cases from its own seed stream.

Case parameters
---------------
Parameter ``q`` of a subset with range ``[lo, hi, "log"]`` is drawn as
``exp(U(log lo, log hi))`` (``"linear"``: ``U(lo, hi)``) from the case's SeedSequence
(:func:`pdeforge.datasets.seeding.sample_seedseq`, keyed by ``<problem>_<config>``); parameters a
subset does not vary keep the card's ``problem.base`` value. A draw whose Reynolds number falls
outside the card's ``[reynolds]`` band is redrawn from the same stream (deterministic). The dam's
block edges are snapped to cell faces; the stored parameters are the geometry actually solved.

Time
----
A case runs for ``problem.t_end`` convective times ``L/U`` (cavity: ``W/U_lid``; tube and dam:
the flow-through time ``L/U``) and stores ``problem.frames`` evenly spaced frames, frame 0 the
initial state. Cost scales with convective time, not seconds, so frames are spaced in convective
units: the shared ``t`` coordinate is the convective time ``t U / L`` (dimensionless) and each
case's physical frame times are the variable ``frame_time`` (s).

Stored variables (per case; dims after ``sample``)
--------------------------------------------------
=============================  ==================  =============================================
``u``, ``v``, ``p``            (t, x, y)           velocity (m/s) and pressure (Pa) on the solver
                                                   grid's cell centres (staggered velocities
                                                   averaged to the centres); 0 in solid cells
``mask``                       (x, y)              1 = fluid, 0 = solid (role ``mask``)
``u64``, ``v64``, ``p64``,     (t, x64, y64)       the CFDBench view: fluid-weighted cell
``mask64``                     (x64, y64)          averages on the ``problem.view`` grid
                                                   (64 × 64), mask64 = 1 where ≥ half the
                                                   area is fluid; only when the solver grid is
                                                   not already the view (cavity: it is)
case parameters                ()                  e.g. ``lid_velocity``, ``density``,
                                                   ``viscosity``, ``width``, ``height`` (SI)
``reynolds`` (+ ``re_step``)   ()                  Re as the attribute ``reynolds_definition``
``frame_time``                 (t)                 physical time of each frame (s)
``x_m``, ``y_m``               (x,) / (y,)         cell-centre positions of this case (m)
``max_divergence``, ``dt``,    ()                  solver diagnostics
``steps``
=============================  ==================  =============================================

Coordinates ``x``, ``y`` (and ``x64``, ``y64``) are *relative* cell-centre positions
``(i + ½)/n`` in [0, 1]: in the ``geo`` and ``all`` subsets every case has its own domain size,
so physical positions are per case (``x_m``, ``y_m``, metres). Arrays are indexed
``[sample, t, i, j]`` = value at ``(x[i], y[j])``.

Tasks (card ``[task]`` and ``[tasks.*]``, served by the uniform loader): autoregressive
(``mode = "rollout"``: frame t of (u, v) + the case parameters broadcast to constant channels →
frame t+1) and non-autoregressive (``mode = "frames"``: case parameters + the frame's convective
time → that frame). The fluid mask travels with every sample and the scorer's metrics count
fluid cells only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pdeforge.datasets.cards import Card, parse_choice, parse_float, parse_int
from pdeforge.datasets.family import (
    FAMILIES, ConfigSpec, Coordinate, Family, Override, VariableSpec, content_hash, spine_overrides,
)
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators import cases
from pdeforge.generators.cfd.geometry import INLET_PROFILES
from pdeforge.generators.cfd.solve import PROBLEMS, make_solver, solve_case

#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
SUBSETS = ("bc", "prop", "geo", "all")
#: the pseudo-subset of a case solved with explicit parameters (``pdeforge solve``)
SOLVE = "solve"
MAX_CELLS = 1024

#: per problem: the case parameters in storage order, with units and long names; the length
#: that makes time convective; the parameters that fix the grid's physical size
PARAMS: dict[str, dict[str, tuple[str, str]]] = {
    "cavity": {
        "lid_velocity": ("m s-1", "lid velocity U (along +x)"),
        "density": ("kg m-3", "density rho"),
        "viscosity": ("Pa s", "dynamic viscosity mu"),
        "width": ("m", "cavity width W (x)"),
        "height": ("m", "cavity height H (y)"),
    },
    "tube": {
        "inlet_velocity": ("m s-1", "mean inlet velocity U"),
        "density": ("kg m-3", "density rho"),
        "viscosity": ("Pa s", "dynamic viscosity mu"),
        "width": ("m", "channel width W (y)"),
        "length": ("m", "channel length L (x)"),
    },
    "dam": {
        "inlet_velocity": ("m s-1", "mean inlet velocity U"),
        "density": ("kg m-3", "density rho"),
        "viscosity": ("Pa s", "dynamic viscosity mu"),
        "height": ("m", "channel height H (y)"),
        "length": ("m", "channel length L (x)"),
        "step_height": ("m", "block (dam) height h, after snapping to cell faces"),
        "step_width": ("m", "block width, after snapping"),
        "step_position": ("m", "x of the block's upstream face, after snapping"),
    },
}
EXTENT = {"cavity": ("width", "height"), "tube": ("length", "width"), "dam": ("length", "height")}
TIME_LENGTH = {"cavity": ("width", "lid_velocity"), "tube": ("length", "inlet_velocity"),
               "dam": ("length", "inlet_velocity")}


def _cells(key: str, text: str) -> list[int]:
    parts = str(text).lower().replace("×", "x").split("x")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise InvalidValueError(f"{key}={text!r}: expected N or NXxNY, e.g. 64 or 128x32")
    return [parse_int(key, p, 2, MAX_CELLS) for p in parts]


OVERRIDES = {
    **spine_overrides("bc,prop"),
    "grid": Override("solver cells, N or NXxNY (cavity 64, tube 128x32, dam 120x32)",
                     lambda c, t: {"problem.grid": _cells("grid", t)}),
    "view": Override("cells of the CFDBench view, N or NXxNY (64)",
                     lambda c, t: {"problem.view": _cells("view", t)}),
    "frames": Override("stored frames per case, frame 0 = the initial state",
                       lambda c, t: {"problem.frames": parse_int("frames", t, 2, 100_000)}),
    "t_end": Override("run length in convective times L/U",
                      lambda c, t: {"problem.t_end": parse_float("t_end", t, 1e-6, 1e6)}),
    "cfl": Override("Courant number bound of the time step (at most 0.5)",
                    lambda c, t: {"problem.cfl": parse_float("cfl", t, 1e-3, 0.5)}),
    "inlet_profile": Override("inlet profile of tube and dam: uniform or parabolic",
                              lambda c, t: {"problem.inlet_profile": parse_choice("inlet_profile", t, list(INLET_PROFILES))}),
}


def problem_of(card: Card) -> str:
    name = str(card.get("problem.name"))
    if name not in PARAMS:
        raise UnknownNameError("CFD problem", name, PARAMS)
    return name


def reynolds(problem: str, p: dict[str, float]) -> tuple[float, dict[str, float]]:
    """``(Re, extra)`` of case parameters ``p``, by the solver's definitions."""
    re, _, extra = PROBLEMS.get(problem).reynolds(_solver_params(problem, p, "uniform"))
    return float(re), {k: float(v) for k, v in extra.items()}


def _solver_params(problem: str, p: dict[str, float], profile: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: float(v) for k, v in p.items()}
    if problem != "cavity":
        out["inlet_profile"] = profile
    return out


def _re(problem: str) -> Callable[[dict[str, float]], float]:
    return lambda p: reynolds(problem, p)[0]


def reynolds_span(card: Card, subset: str) -> tuple[float, float]:
    """The Re interval the subset's cases can take (:func:`pdeforge.generators.cases.reynolds_span`)."""
    problem = problem_of(card)
    return cases.reynolds_span(cases.base_params(card), cases.subset_ranges(card, subset), _re(problem),
                               cases.reynolds_band(card))


def draw_case(card: Card, subset: str, rng: np.random.Generator) -> dict[str, float]:
    """One case's parameters (:func:`pdeforge.generators.cases.draw_params`, in the problem's
    parameter order): draws from the subset's ranges, redrawn until Re lies in the card's band."""
    problem = problem_of(card)
    return cases.draw_params(cases.base_params(card), cases.subset_ranges(card, subset), PARAMS[problem],
                             _re(problem), cases.reynolds_band(card), rng, subset=subset)


def overlap_matrix(n_src: int, n_dst: int) -> np.ndarray:
    """``W[i, j]`` = fraction of destination cell i (of n_dst equal cells on [0, 1]) covered by
    source cell j (of n_src): rows sum to 1; ``W @ v`` is the cell-average remap of v."""
    a = np.linspace(0.0, 1.0, n_src + 1)
    b = np.linspace(0.0, 1.0, n_dst + 1)
    lo = np.maximum(b[:-1, None], a[None, :-1])
    hi = np.minimum(b[1:, None], a[None, 1:])
    return np.clip(hi - lo, 0.0, None) * n_dst


def view_of(fields: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Fluid-weighted cell averages of ``fields[..., nx, ny]`` on a ``shape`` grid, and its mask.

    ``view = Wx (m f) Wyᵀ / (Wx m Wyᵀ)`` where the fluid fraction ``Wx m Wyᵀ`` is positive, else
    0; ``mask_view = 1`` where the fluid fraction is at least ½."""
    wx = overlap_matrix(mask.shape[0], shape[0])
    wy = overlap_matrix(mask.shape[1], shape[1])
    m = mask.astype(np.float64)
    frac = wx @ m @ wy.T
    num = np.einsum("ai,...ij,bj->...ab", wx, fields * m, wy)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(frac > 0, num / np.where(frac > 0, frac, 1.0), 0.0)
    return out, (frac >= 0.5).astype(np.int8)


def cell_centres(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float64) + 0.5) / n


def has_view(card: Card) -> bool:
    return list(card.get("problem.grid")) != list(card.get("problem.view"))


@FAMILIES.register("cfdbench")
class CFDBench(Family):
    """The CFDBench problems (module docstring); one class for the three cards."""

    name = "cfdbench"
    overrides = OVERRIDES
    tiny = {"grid": "60x16", "view": "8", "frames": "3", "t_end": "0.2", "n_train": "3", "n_test": "1",
            "n_val": "1", "configs": "bc,geo", "samples_per_shard": "2"}

    # --- card -------------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        problem = problem_of(card)
        grid, view = list(card.get("problem.grid")), list(card.get("problem.view"))
        for key, cells in (("problem.grid", grid), ("problem.view", view)):
            if len(cells) != 2 or not all(2 <= int(c) <= MAX_CELLS for c in cells):
                raise InvalidValueError(f"{key}={cells}: two cell counts in [2, {MAX_CELLS}]")
        if int(card.get("problem.frames")) < 2:
            raise InvalidValueError("problem.frames must be >= 2 (frame 0 is the initial state)")
        if not float(card.get("problem.t_end")) > 0:
            raise InvalidValueError("problem.t_end must be > 0")
        if problem != "cavity":
            parse_choice("problem.inlet_profile", card.get("problem.inlet_profile"), list(INLET_PROFILES))
        base = card.get("problem.base")
        missing = sorted(set(PARAMS[problem]) - set(base))
        if missing:
            raise InvalidValueError(f"problem.base lacks {', '.join(missing)}")
        cases.validate_subsets(card, SUBSETS, PARAMS[problem], problem)
        if card.get("seeding.mode") != "independent":
            raise InvalidValueError("seeding.mode must be 'independent' (the only mode of this family)")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        grid = [int(c) for c in card.get("problem.grid")]
        default = grid == list(self._default_grid(card))
        out = []
        for subset in card.get("subsets"):
            name = subset if default else f"{subset}_grid{grid[0]}x{grid[1]}"
            out.append(ConfigSpec(name, {"subset": subset, "grid": grid}))
        return out

    def _select(self, configs: list[ConfigSpec], wanted: list[str]) -> list[ConfigSpec]:
        """Configs by name or by subset (``configs=bc`` selects ``bc_grid32x32`` on a 32² grid)."""
        names = [c.name for c in configs] + [c.params["subset"] for c in configs]
        for w in wanted:
            if w not in names:
                raise UnknownNameError("config", w, names)
        return [c for c in configs if c.name in wanted or c.params["subset"] in wanted]

    @staticmethod
    def _default_grid(card: Card) -> list[int]:
        from pdeforge.datasets.cards import load_card

        return [int(c) for c in load_card(card.name).get("problem.grid")]

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        blob = {
            "generator_version": GENERATOR_VERSION,
            "params": config.params,
            "problem": card.get("problem"),
            "subset": card.get(f"subsets.{config.params['subset']}", None),
            "reynolds": card.get("reynolds"),
            "seeding": card.get("seeding"),
        }
        return content_hash(blob)

    # --- schema -----------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        problem = problem_of(card)
        field = lambda dims, name, units, role="target": VariableSpec(dims, "float32", role, name, units)  # noqa: E731
        out = {
            "u": field(("t", "x", "y"), "x-velocity at cell centres (0 in solid cells)", "m s-1"),
            "v": field(("t", "x", "y"), "y-velocity at cell centres (0 in solid cells)", "m s-1"),
            "p": field(("t", "x", "y"), "pressure at cell centres (0 in solid cells)", "Pa"),
            "mask": VariableSpec(("x", "y"), "int8", "mask", "fluid mask of the solver grid: 1 = fluid, 0 = solid"),
        }
        if has_view(card):
            out.update({
                "u64": field(("t", "x64", "y64"), "x-velocity, CFDBench view (fluid-weighted cell averages)", "m s-1"),
                "v64": field(("t", "x64", "y64"), "y-velocity, CFDBench view", "m s-1"),
                "p64": field(("t", "x64", "y64"), "pressure, CFDBench view", "Pa"),
                "mask64": VariableSpec(("x64", "y64"), "int8", "mask",
                                       "fluid mask of the view: 1 where at least half the cell is fluid"),
            })
        for name, (units, long_name) in PARAMS[problem].items():
            out[name] = VariableSpec((), "float64", "param", long_name, units)
        out["reynolds"] = VariableSpec((), "float64", "param", "Reynolds number (attribute reynolds_definition)")
        if problem == "dam":
            out["re_step"] = VariableSpec((), "float64", "param", "step Reynolds number rho U h / mu")
        out.update({
            "frame_time": VariableSpec(("t",), "float64", "param", "physical time of each frame", "s"),
            "x_m": VariableSpec(("x",), "float64", "param", "cell-centre x of this case", "m"),
            "y_m": VariableSpec(("y",), "float64", "param", "cell-centre y of this case", "m"),
            "max_divergence": VariableSpec((), "float64", "diagnostic",
                                           "max over frames and cells of |div u| h / U after projection"),
            "dt": VariableSpec((), "float64", "diagnostic", "solver time step", "s"),
            "steps": VariableSpec((), "int64", "diagnostic", "time steps taken"),
        })
        return out

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        nx, ny = (int(c) for c in card.get("problem.grid"))
        frames, t_end = int(card.get("problem.frames")), float(card.get("problem.t_end"))
        length, velocity = TIME_LENGTH[problem_of(card)]
        out = {
            "t": Coordinate(np.linspace(0.0, t_end, frames), f"convective time t {velocity} / {length}"),
            "x": Coordinate(cell_centres(nx), "relative cell-centre x (i + 1/2)/nx; metres per case: x_m"),
            "y": Coordinate(cell_centres(ny), "relative cell-centre y (j + 1/2)/ny; metres per case: y_m"),
        }
        if has_view(card):
            vx, vy = (int(c) for c in card.get("problem.view"))
            out["x64"] = Coordinate(cell_centres(vx), "relative cell-centre x of the CFDBench view")
            out["y64"] = Coordinate(cell_centres(vy), "relative cell-centre y of the CFDBench view")
        return out

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        problem, subset = problem_of(card), config.params["subset"]
        nx, ny = config.params["grid"]
        _, definition, _ = PROBLEMS.get(problem).reynolds(
            _solver_params(problem, {k: float(v) for k, v in card.get("problem.base").items()},
                           str(card.get("problem.inlet_profile", "uniform"))))
        if subset == SOLVE:  # one case with explicit parameters (`pdeforge solve`)
            varied, span = "none: explicit parameters", None
        else:
            lo, hi = reynolds_span(card, subset)
            varied = ", ".join(f"{k} in [{a:g}, {b:g}] ({s})" for k, (a, b, s) in cases.subset_ranges(card, subset).items())
            span = f"{lo:.4g} - {hi:.4g}"
        return {
            "problem": problem,
            "subset": subset,
            "varied": varied,
            "reynolds_definition": definition,
            "reynolds_span": span,
            "grid_cells": f"{nx}x{ny}",
            "inlet_profile": card.get("problem.inlet_profile", None) if problem != "cavity" else None,
            "solver": ("staggered MAC finite volumes, central 2nd-order space, AB2 advection + Crank-Nicolson "
                       "diffusion, incremental pressure correction (factorised Poisson matrix); "
                       f"Courant number <= {float(card.get('problem.cfl')):g}"),
            "time": (f"{int(card.get('problem.frames'))} frames over {float(card.get('problem.t_end')):g} "
                     "convective times; frame 0 = the initial state"),
            "orientation": "arrays indexed [sample, t, x, y]: u[s, k, i, j] = u(t[k], x[i], y[j])",
            "generator_version": GENERATOR_VERSION,
        }

    # --- generation -------------------------------------------------------------------------
    def case_params(self, card: Card, config: ConfigSpec, split: str, index: int) -> dict[str, float]:
        key = f"{problem_of(card)}_{config.params['subset']}"
        ss = sample_seedseq(int(card.get("seeding.master_seed")), key, split, index)
        return draw_case(card, config.params["subset"], np.random.Generator(np.random.PCG64(ss)))

    def solve(self, card: Card, params: dict[str, float], *, steady: bool = False, tol: float = 1e-6,
              t_end_seconds: float | None = None) -> dict[str, np.ndarray]:
        """One case's stored arrays (no leading sample axis) from explicit parameters."""
        problem = problem_of(card)
        nx, ny = (int(c) for c in card.get("problem.grid"))
        length, velocity = TIME_LENGTH[problem]
        t_conv = float(params[length]) / abs(float(params[velocity]))
        t_end = float(t_end_seconds) if t_end_seconds is not None else float(card.get("problem.t_end")) * t_conv
        profile = str(card.get("problem.inlet_profile", "uniform"))
        kw = dict(nx=nx, ny=ny, t_end=t_end, cfl=float(card.get("problem.cfl")), snap=True)
        if steady:
            initial = make_solver(problem, _solver_params(problem, params, profile), nx=nx, ny=ny, snap=True)[0]
            res = solve_case(problem, _solver_params(problem, params, profile), steady=True, tol=tol, **kw)
            u0, v0 = initial.cell_velocity()
            res.u, res.v = np.stack([u0, res.u[-1]]), np.stack([v0, res.v[-1]])
            res.p = np.stack([initial.pressure(), res.p[-1]])
            res.t = np.array([0.0, float(res.diagnostics["t_final"])])
        else:
            res = solve_case(problem, _solver_params(problem, params, profile),
                             n_frames=int(card.get("problem.frames")), **kw)
        solved = {k: float(res.params[k]) for k in PARAMS[problem]}
        re, extra = reynolds(problem, solved)
        d = res.diagnostics
        out: dict[str, np.ndarray] = {
            "u": res.u.astype(np.float32), "v": res.v.astype(np.float32), "p": res.p.astype(np.float32),
            "mask": res.mask.astype(np.int8),
        }
        if has_view(card):
            vx, vy = (int(c) for c in card.get("problem.view"))
            stack = np.stack([res.u, res.v, res.p])
            view, mview = view_of(stack, res.mask, (vx, vy))
            out.update(u64=view[0].astype(np.float32), v64=view[1].astype(np.float32),
                       p64=view[2].astype(np.float32), mask64=mview)
        out.update({k: np.float64(v) for k, v in solved.items()})
        out["reynolds"] = np.float64(re)
        if problem == "dam":
            out["re_step"] = np.float64(extra["re_step"])
        out.update({
            "frame_time": np.asarray(res.t, dtype=np.float64),
            "x_m": np.asarray(res.x, dtype=np.float64), "y_m": np.asarray(res.y, dtype=np.float64),
            "max_divergence": np.float64(np.max(d["max_divergence_rel"])),
            "dt": np.float64(min(d["dt"])), "steps": np.int64(d["steps"]),
        })
        return out

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        rows = [self.solve(card, self.case_params(card, config, split, i)) for i in range(start, stop)]
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}

    # --- one case with explicit parameters (`pdeforge solve`) ---------------------------------
    def solve_one(self, card: Card, params: dict[str, str], *, steady: bool = False, tol: float = 1e-6,
                  t_end_seconds: float | None = None):
        """``(card, config, arrays)`` of one case from explicit ``name=value`` parameters (SI units; the
        card's ``problem.base`` fills the rest). ``t_end_seconds`` overrides the card's run length
        (which is in convective times); ``steady`` marches until the relative change per convective
        time is below ``tol`` and stores the initial and the final state."""
        problem = problem_of(card)
        known = PARAMS[problem]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise UnknownNameError(f"{problem} parameter", unknown[0], list(known))
        p = {k: float(v) for k, v in card.get("problem.base").items()}
        p.update({k: parse_float(k, v, 1e-12, 1e12) for k, v in params.items()})
        config = ConfigSpec(SOLVE, {"subset": SOLVE, "grid": [int(c) for c in card.get("problem.grid")],
                                    "case": p, "steady": bool(steady), "tol": float(tol) if steady else None})
        arrays = self.solve(card, p, steady=steady, tol=tol, t_end_seconds=t_end_seconds)
        # the stored time axis: the frames actually solved, in convective times
        length, velocity = TIME_LENGTH[problem]
        t_conv = float(arrays[length]) / abs(float(arrays[velocity]))
        times = np.asarray(arrays["frame_time"]) / t_conv
        card = card.with_values({"problem.frames": int(times.size), "problem.t_end": float(times[-1])},
                                {"solve": "explicit parameters"})
        return card, config, {k: np.asarray(v)[None] for k, v in arrays.items()}
