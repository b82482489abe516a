r"""Steady channel flow around one obstacle (DeepCFD's problem, open and regenerable): card ``obstacle``.

Problem (SI units)
------------------
Channel Ω = [0, L] × [0, H] (L = 1.72 m, H = 0.79 m: DeepCFD's 172 × 79 grid at 1 cm cells)
minus one obstacle of DeepCFD's five primitive shapes — circle, square, forward triangle,
backward triangle, rhombus (:mod:`pdeforge.generators.fem.ns.obstacle_mesh`) — of size D,
centre (x_c, y_c) and rotation θ. Steady incompressible Navier–Stokes
ρ(u·∇)u = −∇p + μΔu, ∇·u = 0 with the parabolic inlet u(0, y) = 6 Ū y (H − y)/H² (mean Ū),
no slip on the walls and the obstacle, do-nothing outflow (μ ∂u/∂n − p n = 0, so p ≈ 0 at the
outlet). Re = ρ Ū D / μ; the card fixes Ū = 0.1 m/s, ρ = 1 kg/m³, μ = 10⁻³ Pa s and draws
D ∈ [0.05, 0.3] m, so Re ∈ [5, 30]: steady laminar flow with attached or recirculating wakes,
below the onset of shedding (Re ≈ 40–50 for bluff bodies), which is DeepCFD's regime (laminar,
simpleFoam steady state).

Solver: Taylor–Hood P2/P1 FEM (scikit-fem) on a body-fitted gmsh mesh per case (size
``h_obstacle`` · D on the obstacle growing to ``h`` over ``grow`` · D), Newton's method from the
Stokes flow until the max-norm of the residual is below ``newton_tol`` · ρŪ², with the consistent
grad-div term γ(∇·u, ∇·v), γ = ``grad_div`` · ρŪD (:func:`~pdeforge.generators.fem.ns.solve_steady`;
validated on DFG 2D-1 in tests/fem_ns). Forces by the residual (volume-integral) formula on the
obstacle's degrees of freedom; c = 2F/(ρŪ²D). The card's ``problem.backend`` selects the code
that solves the discrete problem (:data:`STEADY_BACKENDS`): ``skfem`` (default, pip-installable)
or ``dolfinx`` (DOLFINx 0.5.2 in ``.venv-dolfinx``, ``make dolfinx``: the same mesh, elements,
quadrature and Newton criterion, so both give the same stored arrays to solver tolerance —
tests/test_fem_dolfinx_ns.py; :mod:`pdeforge.generators.fem.ns.dolfinx_steady`).

Grid layout (DeepCFD's): arrays ``[sample, x, y]`` on the 172 × 79 cell centres of [0, L] × [0, H]
(axis 0 = x, the flow direction, as DeepCFD's ``(N, 3, 172, 79)``); the loader stacks the inputs
into (3, 172, 79) and the targets into (3, 172, 79).

Stored variables (per sample; dims after ``sample``)
----------------------------------------------------
=================================  ===============  ===========================================
``sdf_obstacle``                   (x, y)           DeepCFD input 1: signed distance to the
                                                    obstacle (m; > 0 in the fluid), exact
``flow_region``                    (x, y)           DeepCFD input 2: 0 obstacle, 1 fluid, 2 wall,
                                                    3 inlet, 4 outlet (``REGION_LABELS``)
``sdf_walls``                      (x, y)           DeepCFD input 3: distance to the nearer
                                                    channel wall (m)
``ux``, ``uy``, ``p``              (x, y)           the FE solution at the cell centres (m/s,
                                                    Pa), 0 in the obstacle
``mask``                           (x, y)           1 = the cell centre lies in the meshed fluid
``u_mesh``, ``v_mesh``, ``p_mesh``  (node,)          the solution at the mesh vertices, with the
``node_x`` … ``mesh_sha256``                        padded mesh (:mod:`.fem.ns.storage`)
``c_D``, ``c_L``, ``delta_p``      ()               force coefficients, p upstream − downstream
``divergence_l1`` / ``_rel``       ()               ∫|∇·u_h| (m²/s) and relative to ∫|∂u/∂x|+|∂v/∂y|
``shape``                          ()               index into ``SHAPES`` (attribute ``shapes``)
``size`` … ``reynolds``            ()               the case parameters (SI) and Re
``newton_iterations``, ``dofs``    ()               solver diagnostics
=================================  ===============  ===========================================

Draws: per sample its own seeded generator picks a shape uniformly from the subset's
``shapes``, then size, centre and rotation uniformly from their ranges (in that order), redrawn
from the same stream until the obstacle keeps ``clearance`` · D from the walls and the inlet,
ends before ``x_max`` and Re lies in the card's band.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from pdeforge.datasets.cards import Card, parse_float, parse_int
from pdeforge.datasets.family import (
    FAMILIES, ConfigSpec, Coordinate, Family, Override, VariableSpec, content_hash, spine_overrides,
)
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators import cases
from pdeforge.registry import Registry

#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
SOLVE = "solve"
#: DeepCFD's five primitives, in the order of the stored ``shape`` code
SHAPES = ("circle", "square", "triangle_forward", "triangle_backward", "rhombus")
#: the continuous case parameters in storage (and draw) order, with units and long names
PARAMS: dict[str, tuple[str, str]] = {
    "size": ("m", "obstacle size D (circle diameter, square side, triangle side, rhombus diagonal)"),
    "center_x": ("m", "x of the obstacle centre (centroid)"),
    "center_y": ("m", "y of the obstacle centre (centroid)"),
    "rotation": ("degree", "rotation about the centre, counter-clockwise"),
    "inlet_velocity": ("m s-1", "mean inlet velocity U (parabolic profile, U_max = 1.5 U)"),
    "density": ("kg m-3", "density rho"),
    "viscosity": ("Pa s", "dynamic viscosity mu"),
}


#: codes that solve the steady discrete problem: ``(spaces, nu, rho, inflow, tol, grad_div) -> Solution``
STEADY_BACKENDS: Registry = Registry("steady Navier-Stokes backend")


@STEADY_BACKENDS.register("skfem")
def _skfem(S, nu, rho, inflow, tol, grad_div):
    from pdeforge.generators.fem.ns import solve_steady

    return solve_steady(S, nu=nu, rho=rho, inflow=inflow, tol=tol, grad_div=grad_div)


@STEADY_BACKENDS.register("dolfinx")
def _dolfinx(S, nu, rho, inflow, tol, grad_div):
    from pdeforge.generators.fem.ns.dolfinx_steady import solve_steady_dolfinx

    return solve_steady_dolfinx(S, nu=nu, rho=rho, inflow=inflow, tol=tol, grad_div=grad_div)


def backend_name(card: Card) -> str:
    return str(card.get("problem.backend", "skfem"))


def reynolds(p: dict[str, Any]) -> float:
    """Re = ρ Ū D / μ."""
    return float(p["density"]) * float(p["inlet_velocity"]) * float(p["size"]) / float(p["viscosity"])


def geometry(card: Card, p: dict[str, Any]):
    """The :class:`~pdeforge.generators.fem.ns.obstacle_mesh.ObstacleGeometry` of case ``p``."""
    from pdeforge.generators.fem.ns.obstacle_mesh import ObstacleGeometry

    return ObstacleGeometry(shape=str(p["shape"]), size=float(p["size"]),
                            center=(float(p["center_x"]), float(p["center_y"])), rotation=float(p["rotation"]),
                            length=float(card.get("problem.length")), height=float(card.get("problem.height")))


def fits(card: Card, p: dict[str, Any]) -> bool:
    """The obstacle keeps ``clearance`` · D from the walls and the inlet and ends before ``x_max``."""
    x0, x1, y0, y1 = geometry(card, p).extent()
    gap = float(card.get("problem.clearance")) * float(p["size"])
    H = float(card.get("problem.height"))
    return x0 >= gap and y0 >= gap and y1 <= H - gap and x1 <= float(card.get("problem.x_max"))


def subset_shapes(card: Card, subset: str) -> tuple[str, ...]:
    raw = card.get(f"subsets.{subset}", None)
    if raw is None:
        raise UnknownNameError("subset", subset, card.get("subsets"))
    return tuple(raw.get("shapes", SHAPES))


def subset_ranges(card: Card, subset: str) -> dict[str, cases.Range]:
    """``{parameter: (low, high, scale)}`` of the subset (its ``shapes`` list aside)."""
    raw = dict(card.get(f"subsets.{subset}"))
    raw.pop("shapes", None)
    return {k: (float(v[0]), float(v[1]), str(v[2])) for k, v in raw.items()}


def draw_case(card: Card, subset: str, rng: np.random.Generator) -> dict[str, Any]:
    """One case: shape, then the ranges' parameters in :data:`PARAMS` order (module docstring)."""
    shapes, ranges = subset_shapes(card, subset), subset_ranges(card, subset)
    lo, hi = cases.reynolds_band(card)
    base = cases.base_params(card)
    for _ in range(cases.MAX_DRAWS):
        p: dict[str, Any] = dict(base, shape=shapes[int(rng.integers(len(shapes)))])
        for name in PARAMS:
            if name in ranges:
                p[name] = cases.draw(rng.random(), *ranges[name])
        if lo <= reynolds(p) <= hi and fits(card, p):
            return p
    raise InvalidValueError(f"subset {subset!r}: no draw in {cases.MAX_DRAWS} fits the channel with Re in "
                            f"[{lo:g}, {hi:g}]; widen the ranges")


def mesh_settings(card: Card, size: float) -> dict[str, float]:
    """gmsh sizes (m) for an obstacle of ``size`` D (module docstring)."""
    D = float(size)
    return dict(h=float(card.get("problem.h")), h_obs=float(card.get("problem.h_obstacle")) * D,
                grow=float(card.get("problem.grow")) * D)


@functools.lru_cache(maxsize=4)
def _spaces(geo, settings: tuple[tuple[str, float], ...]):
    from pdeforge.generators.fem.ns import spaces
    from pdeforge.generators.fem.ns.obstacle_mesh import obstacle_mesh

    return spaces(obstacle_mesh(geo, **dict(settings)))


def case_spaces(card: Card, p: dict[str, Any]):
    """Taylor–Hood spaces on the case's own mesh (cached per geometry)."""
    return _spaces(geometry(card, p), tuple(sorted(mesh_settings(card, p["size"]).items())))


def grid_shape(card: Card) -> tuple[int, int]:
    nx, ny = (int(c) for c in card.get("problem.grid"))
    return nx, ny


def grid_view(S, card: Card):
    """The FE fields at the cell centres of the card's grid (exact for fields in the FE space);
    mask 1 where the centre lies in the (curved) mesh."""
    from pdeforge.generators.fem.ns import grid_view as fe_grid_view

    return fe_grid_view(S, *grid_shape(card))


def _size(key: str, lo: float, hi: float):
    return lambda c, t: {f"problem.{key}": parse_float(key, t, lo, hi)}


def _cells(text: str) -> list[int]:
    parts = str(text).lower().replace("×", "x").split("x")
    if len(parts) != 2:
        raise InvalidValueError(f"grid={text!r}: expected NXxNY, e.g. 172x79")
    return [parse_int("grid", q, 2, 4096) for q in parts]


def _backend(text: str) -> dict[str, str]:
    STEADY_BACKENDS.get(str(text))  # unknown names list the known ones
    return {"problem.backend": str(text)}


OVERRIDES = {
    **spine_overrides("all"),
    "h": Override("far-field element size (m)", _size("h", 1e-3, 1.0)),
    "h_obstacle": Override("element size on the obstacle, in obstacle sizes D", _size("h_obstacle", 1e-3, 1.0)),
    "grid": Override("cells of the DeepCFD grid, NXxNY (172x79)", lambda c, t: {"problem.grid": _cells(t)}),
    "newton_tol": Override("Newton tolerance on max|residual| / (rho U^2)", _size("newton_tol", 1e-14, 1e-2)),
    "backend": Override("code that solves the discrete problem: skfem or dolfinx", lambda c, t: _backend(t)),
}


@FAMILIES.register("obstacle")
class Obstacle(Family):
    """Steady flow around one DeepCFD obstacle (module docstring)."""

    name = "obstacle"
    overrides = OVERRIDES
    tiny = {"h": "0.25", "h_obstacle": "0.3", "grid": "17x8", "n_train": "3", "n_val": "1", "n_test": "2",
            "samples_per_shard": "2"}

    # --- card -------------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        base = cases.base_params(card)
        missing = sorted(set(PARAMS) - set(base))
        if missing:
            raise InvalidValueError(f"problem.base lacks {', '.join(missing)}")
        for subset in card.get("subsets"):
            for shape in subset_shapes(card, subset):
                if shape not in SHAPES:
                    raise UnknownNameError("obstacle shape", shape, SHAPES)
            for name, (lo, hi, scale) in subset_ranges(card, subset).items():
                if name not in PARAMS:
                    raise UnknownNameError("obstacle parameter", name, PARAMS)
                if scale not in cases.SCALES:
                    raise UnknownNameError("range scale", scale, cases.SCALES)
                if not (lo <= hi) or (scale == "log" and lo <= 0) or (name != "rotation" and lo <= 0):
                    raise InvalidValueError(f"subsets.{subset}.{name}: need low <= high (and > 0), got {lo}, {hi}")
        if not fits(card, dict(base, shape="square")):
            raise InvalidValueError("problem.base: the obstacle must keep problem.clearance D from the walls")
        if card.get("seeding.mode") != "independent":
            raise InvalidValueError("seeding.mode must be 'independent' (the only mode of this family)")
        STEADY_BACKENDS.get(backend_name(card))
        if backend_name(card) == "dolfinx":
            from pdeforge.generators.fem.dolfinx_env import check_dolfinx

            check_dolfinx("dolfinx")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        return [ConfigSpec(s, {"subset": s}) for s in card.get("subsets")]

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        import gmsh

        return content_hash({
            "generator_version": GENERATOR_VERSION, "params": config.params, "problem": card.get("problem"),
            "subset": card.get(f"subsets.{config.params['subset']}", None), "reynolds": card.get("reynolds"),
            "seeding": card.get("seeding"), "gmsh": gmsh.__version__, **self._backend_version(card),
        })

    @staticmethod
    def _backend_version(card: Card) -> dict[str, str]:
        """The dolfinx backend's versions (its stored values are its own, equal to scikit-fem's
        only to solver tolerance); nothing for the default backend, whose keys stay as they were."""
        if backend_name(card) == "skfem":
            return {}
        from pdeforge.generators.fem.dolfinx_env import dolfinx_python, dolfinx_version

        return {"backend": backend_name(card), "backend_version": dolfinx_version(str(dolfinx_python()), "dolfinx")}

    # --- schema -----------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        f32 = lambda dims, name, units, role="target": VariableSpec(dims, "float32", role, name, units)  # noqa: E731
        f64 = lambda name, units="1", role="param", dims=(): VariableSpec(dims, "float64", role, name, units)  # noqa: E731
        xy = ("x", "y")
        out = {
            "sdf_obstacle": f32(xy, "signed distance to the obstacle (> 0 in the fluid)", "m", "input"),
            "flow_region": VariableSpec(xy, "int8", "input",
                                        "flow region: 0 obstacle, 1 fluid, 2 wall, 3 inlet, 4 outlet"),
            "sdf_walls": f32(xy, "distance to the nearer channel wall", "m", "input"),
            "ux": f32(xy, "x-velocity at the cell centres (0 in the obstacle)", "m s-1"),
            "uy": f32(xy, "y-velocity at the cell centres (0 in the obstacle)", "m s-1"),
            "p": f32(xy, "pressure at the cell centres (0 in the obstacle)", "Pa"),
            "mask": VariableSpec(xy, "int8", "mask", "fluid mask: 1 = the cell centre lies in the meshed fluid"),
            "u_mesh": f32(("node",), "x-velocity at the mesh vertices (0 past n_nodes)", "m s-1", "diagnostic"),
            "v_mesh": f32(("node",), "y-velocity at the mesh vertices (0 past n_nodes)", "m s-1", "diagnostic"),
            "p_mesh": f32(("node",), "pressure at the mesh vertices (0 past n_nodes)", "Pa", "diagnostic"),
            "node_x": f64("x of the mesh vertices (0 past n_nodes)", "m", dims=("node",)),
            "node_y": f64("y of the mesh vertices (0 past n_nodes)", "m", dims=("node",)),
            "triangles": VariableSpec(("triangle", "corner"), "int32", "param",
                                      "vertex indices of the triangles (-1 past n_triangles)"),
            "node_mask": VariableSpec(("node",), "int8", "mask", "1 = a vertex of this case's mesh, 0 = padding"),
            "n_nodes": VariableSpec((), "int64", "param", "vertices of this case's mesh"),
            "n_triangles": VariableSpec((), "int64", "param", "triangles of this case's mesh"),
            "mesh_sha256": VariableSpec(("hash_byte",), "uint8", "diagnostic",
                                        "sha256 of the curved mesh (doflocs float64 then t int64, C order)"),
            "c_D": f64("drag coefficient 2 F_x / (rho U^2 D)", role="target"),
            "c_L": f64("lift coefficient 2 F_y / (rho U^2 D)", role="target"),
            "delta_p": f64("p upstream - p downstream of the obstacle on y = y_c", "Pa", role="target"),
            "divergence_l1": f64("integral of |div u_h| over the fluid", "m2 s-1", role="diagnostic"),
            "divergence_rel": f64("integral |div u_h| / integral (|du/dx| + |dv/dy|)", role="diagnostic"),
            "shape": VariableSpec((), "int64", "param", "obstacle shape: index into the attribute 'shapes'"),
        }
        for name, (units, long_name) in PARAMS.items():
            out[name] = f64(long_name, units)
        out.update({
            "reynolds": f64("Reynolds number rho U D / mu"),
            "newton_iterations": VariableSpec((), "int64", "diagnostic", "Newton iterations from the Stokes flow"),
            "dofs": VariableSpec((), "int64", "diagnostic", "finite-element unknowns (P2 velocity + P1 pressure)"),
        })
        return out

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        from pdeforge.generators.fem.ns.grid import grid_points

        gx, gy = grid_points(float(card.get("problem.length")), float(card.get("problem.height")), *grid_shape(card))
        index = lambda n, what: Coordinate(np.arange(n, dtype=np.int64), what)  # noqa: E731
        return {
            "x": Coordinate(gx, "cell-centre x (flow direction)", "m"),
            "y": Coordinate(gy, "cell-centre y", "m"),
            "node": index(int(card.get("problem.max_nodes")), "mesh vertex index (padded)"),
            "triangle": index(int(card.get("problem.max_triangles")), "triangle index (padded)"),
            "corner": index(3, "triangle corner"),
            "hash_byte": index(32, "byte of a sha256 digest"),
        }

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        import gmsh

        subset = config.params["subset"]
        if subset == SOLVE:
            varied, span = "none: explicit parameters", None
        else:
            ranges = subset_ranges(card, subset)
            varied = (f"shape in {{{', '.join(subset_shapes(card, subset))}}} (uniform); "
                      + ", ".join(f"{k} in [{a:g}, {b:g}] ({s})" for k, (a, b, s) in ranges.items()))
            positive = {k: r for k, r in ranges.items() if k != "rotation"}
            lo, hi = cases.reynolds_span(cases.base_params(card), positive, reynolds, cases.reynolds_band(card))
            span = f"{lo:.4g} - {hi:.4g}"
        nx, ny = grid_shape(card)
        return {
            "problem": "obstacle",
            "subset": subset,
            "varied": varied,
            "shapes": ", ".join(SHAPES),
            "reynolds_definition": "rho U D / mu, U the mean inlet velocity, D the obstacle size",
            "reynolds_span": span,
            "layout": (f"DeepCFD's: arrays [sample, x, y] on the {nx} x {ny} cell centres of the channel; "
                       "the loader stacks (3, nx, ny) inputs sdf_obstacle, flow_region, sdf_walls and "
                       "(3, nx, ny) targets ux, uy, p (DeepCFD: 981 samples of 3 x 172 x 79)"),
            "solver": (f"Taylor-Hood P2/P1 FEM ({backend_name(card)}) on a body-fitted gmsh mesh, steady Newton, "
                       "grad-div stabilised; forces by the volume-integral (residual) formula"),
            "backend": backend_name(card),
            "mesher": (f"gmsh {gmsh.__version__}, frontal-Delaunay, one thread; sizes: far field "
                       f"{float(card.get('problem.h')):g} m, obstacle {float(card.get('problem.h_obstacle')):g} D "
                       f"growing over {float(card.get('problem.grow')):g} D"),
            "orientation": "grid arrays indexed [sample, x, y]; mesh arrays [sample, node]",
            "generator_version": GENERATOR_VERSION,
        }

    # --- generation -------------------------------------------------------------------------
    def case_params(self, card: Card, config: ConfigSpec, split: str, index: int) -> dict[str, Any]:
        subset = config.params["subset"]
        ss = sample_seedseq(int(card.get("seeding.master_seed")), f"obstacle_{subset}", split, index)
        return draw_case(card, subset, np.random.Generator(np.random.PCG64(ss)))

    def solve(self, card: Card, p: dict[str, Any], *, tol: float | None = None) -> dict[str, np.ndarray]:
        """One case's stored arrays (no leading sample axis) from explicit parameters."""
        from pdeforge.generators.fem.ns import ParabolicInflow
        from pdeforge.generators.fem.ns.obstacle_mesh import deepcfd_inputs
        from pdeforge.generators.fem.ns.storage import divergence_frames, mesh_arrays

        S = case_spaces(card, p)
        geo = S.cmesh.geometry
        U, rho, mu = float(p["inlet_velocity"]), float(p["density"]), float(p["viscosity"])
        gamma = float(card.get("problem.grad_div")) * rho * U * geo.diameter
        tol = float(card.get("problem.newton_tol")) if tol is None else float(tol)
        sol = STEADY_BACKENDS.get(backend_name(card))(S, mu / rho, rho, ParabolicInflow(1.5 * U, geo.height), tol,
                                                       gamma)
        gv = grid_view(S, card)
        view, mask = gv.apply(sol.U, sol.P), gv.mask
        nx, ny = grid_shape(card)
        inputs = deepcfd_inputs(geo, nx, ny)
        div, div_scale = divergence_frames(S, sol.U[None])
        out: dict[str, np.ndarray] = {
            "sdf_obstacle": inputs["sdf_obstacle"].astype(np.float32),
            "flow_region": inputs["flow_region"].astype(np.int8),
            "sdf_walls": inputs["sdf_walls"].astype(np.float32),
            "ux": (view["u"] * mask).astype(np.float32), "uy": (view["v"] * mask).astype(np.float32),
            "p": (view["p"] * mask).astype(np.float32), "mask": mask.astype(np.int8),
        }
        out.update(mesh_arrays(S, sol.U, sol.P, int(card.get("problem.max_nodes")),
                               int(card.get("problem.max_triangles")), names=("u_mesh", "v_mesh", "p_mesh")))
        out.update({
            "c_D": np.float64(sol.info["c_D"]), "c_L": np.float64(sol.info["c_L"]),
            "delta_p": np.float64(sol.info["delta_p"]),
            "divergence_l1": np.float64(div[0]),
            "divergence_rel": np.float64(div[0] / div_scale[0] if div_scale[0] > 0 else 0.0),
            "shape": np.int64(SHAPES.index(str(p["shape"]))),
        })
        out.update({k: np.float64(p[k]) for k in PARAMS})
        out.update({"reynolds": np.float64(reynolds(p)), "newton_iterations": np.int64(sol.info["newton_iterations"]),
                    "dofs": np.int64(S.n_dofs)})
        return out

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        rows = [self.solve(card, self.case_params(card, config, split, i)) for i in range(start, stop)]
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}

    # --- one case with explicit parameters (`pdeforge solve obstacle ...`) ---------------------
    def solve_one(self, card: Card, params: dict[str, str], *, steady: bool = True, tol: float | None = None,
                  t_end_seconds: float | None = None):
        """``(card, config, arrays)`` of one case from explicit ``name=value`` parameters: ``shape``
        (one of :data:`SHAPES`) and any of :data:`PARAMS` (SI; the card's ``problem.base`` fills
        the rest). The flow is steady, so ``t_end_seconds`` is refused; ``tol`` overrides the
        card's Newton tolerance."""
        if t_end_seconds is not None:
            raise InvalidValueError("obstacle flows are steady: t_end does not apply")
        params = dict(params)
        shape = str(params.pop("shape", "square"))
        if shape not in SHAPES:
            raise UnknownNameError("obstacle shape", shape, SHAPES)
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise UnknownNameError("obstacle parameter", unknown[0], ["shape", *PARAMS])
        p: dict[str, Any] = dict(cases.base_params(card), shape=shape)
        p.update({k: parse_float(k, v, -1e12 if k == "rotation" else 1e-12, 1e12) for k, v in params.items()})
        try:
            geometry(card, p).validate()
        except ValueError as e:
            raise InvalidValueError(str(e)) from None
        config = ConfigSpec(SOLVE, {"subset": SOLVE, "case": p, "tol": tol})
        arrays = self.solve(card, p, tol=tol)
        card = card.with_values({}, {"solve": "explicit parameters"})
        return card, config, {k: np.asarray(v)[None] for k, v in arrays.items()}
