r"""The cylinder wake (CFDBench's fourth problem) as a regenerable dataset: card ``cylinder``.

Problem (SI units)
------------------
Channel Ω = [0, L] × [0, H] minus the disk of radius r centred at (x_c, y_c) (the DFG benchmark
channel: L = 2.2 m, H = 0.41 m, base cylinder D = 2r = 0.1 m at (0.2, 0.2)); incompressible
Navier–Stokes ρ(∂u/∂t + (u·∇)u) = −∇p + μΔu, ∇·u = 0 with the parabolic inlet
u(0, y) = 6 U y (H − y)/H² (mean U), no slip on the walls and the cylinder, do-nothing outflow,
starting from the Stokes flow of the same inlet (divergence free, so every stored frame is; the
wake then develops by the nonlinearity, and shedding from the small asymmetry of the geometry
and the unstructured mesh). Re = ρ U D / μ.

Solver: :mod:`pdeforge.generators.fem.ns` (Taylor–Hood P2/P1 on a curved gmsh mesh, semi-implicit
BDF2, validated on DFG 2D-1 and 2D-2). The mesh of a case is made for its geometry, with element
sizes in cylinder diameters (card ``problem.h_cylinder``, ``h_wake``, ``grow``,
``wake_diameters``; far field ``problem.h`` in metres), so the geo and all subsets solve every
case on its own mesh. The time step is ``dt = dt_convective · D / U`` and every case runs
``problem.steps`` steps: the same number of convective times D/U, so one ``t`` coordinate
(convective time t U / D) serves all cases; each case's physical frame times are ``frame_time``.

Mass conservation: Taylor–Hood is divergence free only weakly; the momentum equation carries the
consistent grad-div term γ(∇·u, ∇·v) with γ = ``problem.grad_div`` · ρ U D (zero for the exact
solution). On the default mesh at Re = 100 (DFG 2D-2 flow, 3 s from the Stokes start) it cuts
∫|∇·u_h| / ∫(|∂u/∂x| + |∂v/∂y|) from 0.156 to 0.013 and moves c_L,max from 0.994 to 1.011 and
c_D,max from 3.241 to 3.227 (DFG 2D-2: 0.99–1.01, 3.22–3.24), for 7 % more time per step.

Subsets (configs) as CFDBench: ``bc`` varies U, ``prop`` ρ and μ, ``geo`` r, x_c, y_c, ``all``
everything; draws and the Reynolds band by :mod:`pdeforge.generators.cases`; a sample is one case.

Stored variables (per case; dims after ``sample``)
--------------------------------------------------
===============================  =================  =============================================
``u``, ``v``, ``p``              (t, node)          velocity (m/s) and pressure (Pa) at the mesh
                                                    vertices (the P2 velocity and P1 pressure
                                                    coefficients there); 0 past ``n_nodes``
``node_x``, ``node_y``           (node,)            vertex coordinates (m); 0 past ``n_nodes``
``triangles``                    (triangle, corner) vertex indices of each triangle; −1 past
                                                    ``n_triangles``
``node_mask``                    (node,)            1 = a vertex of this case's mesh, 0 = padding
``n_nodes``, ``n_triangles``     ()                 sizes of this case's mesh
``mesh_sha256``                  (hash_byte,)       sha256 of the curved mesh (doflocs, then t)
``u64``, ``v64``, ``p64``        (t, x64, y64)      the CFDBench view: the FE fields evaluated at
``mask64``                       (x64, y64)         the cell centres of [0, view_length] × [0, H]
                                                    (64 × 64), 0 in the solid; mask 1 = fluid
``c_D``, ``c_L``                 (t,)               drag and lift coefficients 2F/(ρU²D) by the
                                                    volume-integral formula (0 at frame 0, the
                                                    Stokes start, where ∂u/∂t is undefined)
``delta_p``                      (t,)               p(x_c − r, y_c) − p(x_c + r, y_c) (Pa)
``divergence_l1``                (t,)               ∫_Ω |∇·u_h| dx per frame (m²/s); relative to
``divergence_rel``                                  ∫_Ω |∂u/∂x| + |∂v/∂y| dx (Taylor–Hood is
                                                    divergence free only weakly: O(h²))
case parameters, ``reynolds``    ()                 ``inlet_velocity``, ``density``,
                                                    ``viscosity``, ``radius``, ``center_x``,
                                                    ``center_y`` (SI)
``frame_time``                   (t,)               physical time of each frame (s)
``max_divergence_rel``, ``dt``,  ()                 max_t divergence_rel; time step (s);
``c_L_amplitude``, ``dofs``                         half the c_L range over the last quarter of
                                                    the run (0 for steady flow); FE unknowns
===============================  =================  =============================================

Tasks (card ``[task]``/``[tasks.*]``): autoregressive on the view (u64, v64 at t + case
parameters → t + 1) and non-autoregressive (parameters + t → frame), the view's mask with every
sample, as for cavity/tube/dam.
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
from pdeforge.generators.fem.ns.storage import divergence_frames, mesh_arrays  # noqa: F401 (re-exported)

#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
SUBSETS = ("bc", "prop", "geo", "all")
SOLVE = "solve"
#: the case parameters in storage (and draw) order, with units and long names
PARAMS: dict[str, tuple[str, str]] = {
    "inlet_velocity": ("m s-1", "mean inlet velocity U (parabolic profile, U_max = 1.5 U)"),
    "density": ("kg m-3", "density rho"),
    "viscosity": ("Pa s", "dynamic viscosity mu"),
    "radius": ("m", "cylinder radius r (D = 2 r)"),
    "center_x": ("m", "x of the cylinder centre"),
    "center_y": ("m", "y of the cylinder centre"),
}
#: the smallest gap between the cylinder and a wall or the inlet, in diameters (drawn cases)
MIN_GAP = 0.5


def reynolds(p: dict[str, float]) -> float:
    """Re = ρ U D / μ (D = 2r)."""
    return float(p["density"]) * float(p["inlet_velocity"]) * 2.0 * float(p["radius"]) / float(p["viscosity"])


def geometry(card: Card, p: dict[str, float]):
    """The :class:`~pdeforge.generators.fem.ns.ChannelGeometry` of case ``p``."""
    from pdeforge.generators.fem.ns import ChannelGeometry

    return ChannelGeometry(length=float(card.get("problem.length")), height=float(card.get("problem.height")),
                           center=(float(p["center_x"]), float(p["center_y"])), radius=float(p["radius"]))


def fits(card: Card, p: dict[str, float]) -> bool:
    """The cylinder keeps MIN_GAP diameters from the walls and the inlet, and lies in the view."""
    r, xc, yc = float(p["radius"]), float(p["center_x"]), float(p["center_y"])
    gap = MIN_GAP * 2 * r
    H, view = float(card.get("problem.height")), float(card.get("problem.view_length"))
    return xc - r >= gap and yc - r >= gap and yc + r <= H - gap and xc + r <= view


def mesh_settings(card: Card, radius: float) -> dict[str, float]:
    """gmsh sizes (m) for a cylinder of ``radius`` (module docstring)."""
    d = 2.0 * float(radius)
    return dict(h=float(card.get("problem.h")), h_cyl=float(card.get("problem.h_cylinder")) * d,
                h_wake=float(card.get("problem.h_wake")) * d, grow=float(card.get("problem.grow")) * d,
                wake=float(card.get("problem.wake_diameters")) * d)


@functools.lru_cache(maxsize=4)
def _spaces(geo, settings: tuple[tuple[str, float], ...]):
    from pdeforge.generators.fem.ns import channel_mesh, spaces

    return spaces(channel_mesh(geo, **dict(settings)))


def case_spaces(card: Card, p: dict[str, float]):
    """Taylor–Hood spaces on the case's mesh (cached per geometry: bc and prop share one mesh)."""
    return _spaces(geometry(card, p), tuple(sorted(mesh_settings(card, p["radius"]).items())))


def view_points(card: Card) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre x (nx,), y (ny,) of the view window [0, view_length] × [0, H] (m)."""
    nx, ny = (int(c) for c in card.get("problem.view"))
    length, height = float(card.get("problem.view_length")), float(card.get("problem.height"))
    return (np.arange(nx) + 0.5) * length / nx, (np.arange(ny) + 0.5) * height / ny


def view_of(S, card: Card):
    """The :class:`~pdeforge.generators.fem.ns.GridView` of the card's window on spaces ``S``: the
    FE fields evaluated at the window's cell centres (exact for fields in the FE space), mask 1
    where the centre lies in the curved mesh."""
    from pdeforge.generators.fem.ns import GridView, locate, point_matrix

    gx, gy = view_points(card)
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    pts = np.vstack([X.ravel(), Y.ravel()])
    cells, _ = locate(S, pts)
    mask = (cells >= 0).astype(np.uint8).reshape(gx.size, gy.size)
    return GridView(x=gx, y=gy, mask=mask, Iu=point_matrix(S, pts, "u"), Iv=point_matrix(S, pts, "v"),
                    Ip=point_matrix(S, pts, "p"))


def _size(key: str, lo: float, hi: float):
    return lambda c, t: {f"problem.{key}": parse_float(key, t, lo, hi)}


OVERRIDES = {
    **spine_overrides("bc,geo"),
    "h": Override("far-field element size (m)", _size("h", 1e-3, 1.0)),
    "h_cylinder": Override("element size on the cylinder, in diameters", _size("h_cylinder", 1e-3, 1.0)),
    "h_wake": Override("element size in the wake box, in diameters", _size("h_wake", 1e-3, 10.0)),
    "steps": Override("time steps per case", lambda c, t: {"problem.steps": parse_int("steps", t, 1, 10**7)}),
    "frames": Override("stored frames per case (frame 0 = the initial state; frames - 1 divides steps)",
                       lambda c, t: {"problem.frames": parse_int("frames", t, 2, 10**7)}),
    "dt_convective": Override("time step in convective times D/U", _size("dt_convective", 1e-5, 1.0)),
    "grad_div": Override("grad-div weight in units of rho U D (0 = off)", _size("grad_div", 0.0, 1e3)),
    "view": Override("cells of the CFDBench view, N or NXxNY (64)", lambda c, t: {"problem.view": _cells(t)}),
}


def _cells(text: str) -> list[int]:
    parts = str(text).lower().replace("×", "x").split("x")
    parts = parts * 2 if len(parts) == 1 else parts
    if len(parts) != 2:
        raise InvalidValueError(f"view={text!r}: expected N or NXxNY, e.g. 64 or 128x32")
    return [parse_int("view", q, 2, 1024) for q in parts]


@FAMILIES.register("cylinder")
class Cylinder(Family):
    """The cylinder wake (module docstring)."""

    name = "cylinder"
    overrides = OVERRIDES
    tiny = {"h": "0.2", "h_cylinder": "0.4", "h_wake": "1.5", "steps": "4", "frames": "3", "view": "8",
            "n_train": "3", "n_val": "1", "n_test": "1", "configs": "bc,geo", "samples_per_shard": "2"}

    # --- card -------------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        steps, frames = int(card.get("problem.steps")), int(card.get("problem.frames"))
        if frames < 2 or steps % (frames - 1):
            raise InvalidValueError(f"problem.frames - 1 = {frames - 1} must divide problem.steps = {steps} "
                                    "(frames >= 2; frame 0 is the initial state)")
        base = cases.base_params(card)
        missing = sorted(set(PARAMS) - set(base))
        if missing:
            raise InvalidValueError(f"problem.base lacks {', '.join(missing)}")
        cases.validate_subsets(card, SUBSETS, PARAMS, "cylinder")
        if not fits(card, base):
            raise InvalidValueError(f"problem.base: the cylinder (r = {base['radius']}, centre ({base['center_x']}, "
                                    f"{base['center_y']})) must keep {MIN_GAP} D from the walls and lie in the view")
        if card.get("seeding.mode") != "independent":
            raise InvalidValueError("seeding.mode must be 'independent' (the only mode of this family)")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        return [ConfigSpec(s, {"subset": s}) for s in card.get("subsets")]

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        import gmsh

        return content_hash({
            "generator_version": GENERATOR_VERSION, "params": config.params, "problem": card.get("problem"),
            "subset": card.get(f"subsets.{config.params['subset']}", None), "reynolds": card.get("reynolds"),
            "seeding": card.get("seeding"),
            # the mesh is a function of the settings and the mesher's version
            "gmsh": gmsh.__version__,
        })

    # --- schema -----------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        f32 = lambda dims, name, units, role="target": VariableSpec(dims, "float32", role, name, units)  # noqa: E731
        f64 = lambda dims, name, units="1", role="param": VariableSpec(dims, "float64", role, name, units)  # noqa: E731
        out = {
            "u": f32(("t", "node"), "x-velocity at the mesh vertices (0 past n_nodes)", "m s-1"),
            "v": f32(("t", "node"), "y-velocity at the mesh vertices (0 past n_nodes)", "m s-1"),
            "p": f32(("t", "node"), "pressure at the mesh vertices (0 past n_nodes)", "Pa"),
            "node_x": f64(("node",), "x of the mesh vertices (0 past n_nodes)", "m"),
            "node_y": f64(("node",), "y of the mesh vertices (0 past n_nodes)", "m"),
            "triangles": VariableSpec(("triangle", "corner"), "int32", "param",
                                      "vertex indices of the triangles (-1 past n_triangles)"),
            "node_mask": VariableSpec(("node",), "int8", "mask", "1 = a vertex of this case's mesh, 0 = padding"),
            "n_nodes": VariableSpec((), "int64", "param", "vertices of this case's mesh"),
            "n_triangles": VariableSpec((), "int64", "param", "triangles of this case's mesh"),
            "mesh_sha256": VariableSpec(("hash_byte",), "uint8", "diagnostic",
                                        "sha256 of the curved mesh (doflocs float64 then t int64, C order)"),
            "u64": f32(("t", "x64", "y64"), "x-velocity, CFDBench view (FE field at the cell centres)", "m s-1"),
            "v64": f32(("t", "x64", "y64"), "y-velocity, CFDBench view", "m s-1"),
            "p64": f32(("t", "x64", "y64"), "pressure, CFDBench view", "Pa"),
            "mask64": VariableSpec(("x64", "y64"), "int8", "mask", "fluid mask of the view: 1 = the cell centre is fluid"),
            "c_D": f64(("t",), "drag coefficient 2 F_x / (rho U^2 D) (0 at frame 0)", role="target"),
            "c_L": f64(("t",), "lift coefficient 2 F_y / (rho U^2 D) (0 at frame 0)", role="target"),
            "delta_p": f64(("t",), "p(x_c - r, y_c) - p(x_c + r, y_c)", "Pa", role="target"),
            "divergence_l1": f64(("t",), "integral of |div u_h| over the fluid", "m2 s-1", role="diagnostic"),
            "divergence_rel": f64(("t",), "integral |div u_h| / integral (|du/dx| + |dv/dy|)", role="diagnostic"),
        }
        for name, (units, long_name) in PARAMS.items():
            out[name] = f64((), long_name, units)
        out.update({
            "reynolds": f64((), "Reynolds number rho U D / mu"),
            "frame_time": f64(("t",), "physical time of each frame", "s"),
            "max_divergence_rel": f64((), "max over frames of divergence_rel", role="diagnostic"),
            "dt": f64((), "time step", "s", role="diagnostic"),
            "c_L_amplitude": f64((), "half the c_L range over the last quarter of the run", role="diagnostic"),
            "dofs": VariableSpec((), "int64", "diagnostic", "finite-element unknowns (P2 velocity + P1 pressure)"),
        })
        return out

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        steps, frames = int(card.get("problem.steps")), int(card.get("problem.frames"))
        t_end = steps * float(card.get("problem.dt_convective"))
        gx, gy = view_points(card)
        index = lambda n, what: Coordinate(np.arange(n, dtype=np.int64), what)  # noqa: E731
        return {
            "t": Coordinate(np.linspace(0.0, t_end, frames), "convective time t U / D"),
            "node": index(int(card.get("problem.max_nodes")), "mesh vertex index (padded)"),
            "triangle": index(int(card.get("problem.max_triangles")), "triangle index (padded)"),
            "corner": index(3, "triangle corner"),
            "hash_byte": index(32, "byte of a sha256 digest"),
            "x64": Coordinate(gx, "cell-centre x of the CFDBench view", "m"),
            "y64": Coordinate(gy, "cell-centre y of the CFDBench view", "m"),
        }

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        import gmsh

        subset = config.params["subset"]
        if subset == SOLVE:
            varied, span = "none: explicit parameters", None
        else:
            ranges = cases.subset_ranges(card, subset)
            varied = ", ".join(f"{k} in [{a:g}, {b:g}] ({s})" for k, (a, b, s) in ranges.items())
            lo, hi = cases.reynolds_span(cases.base_params(card), ranges, reynolds, cases.reynolds_band(card))
            span = f"{lo:.4g} - {hi:.4g}"
        return {
            "problem": "cylinder",
            "subset": subset,
            "varied": varied,
            "reynolds_definition": "rho U D / mu, U the mean inlet velocity, D = 2 r",
            "reynolds_span": span,
            "solver": ("Taylor-Hood P2/P1 FEM (scikit-fem) on a curved (isoparametric P2) gmsh mesh, semi-implicit "
                       "BDF2 with extrapolated convection, GMRES preconditioned by a reused sparse LU; forces by the "
                       "volume-integral formula"),
            "mesher": (f"gmsh {gmsh.__version__}, frontal-Delaunay, one thread; sizes: far field "
                       f"{float(card.get('problem.h')):g} m, cylinder {float(card.get('problem.h_cylinder')):g} D, "
                       f"wake {float(card.get('problem.h_wake')):g} D over {float(card.get('problem.wake_diameters')):g} D"),
            "time": (f"{int(card.get('problem.steps'))} steps of {float(card.get('problem.dt_convective')):g} D/U, "
                     f"{int(card.get('problem.frames'))} frames; frame 0 = the initial state"),
            "orientation": "view arrays indexed [sample, t, x, y]; mesh arrays [sample, t, node]",
            "generator_version": GENERATOR_VERSION,
        }

    # --- generation -------------------------------------------------------------------------
    def case_params(self, card: Card, config: ConfigSpec, split: str, index: int) -> dict[str, float]:
        subset = config.params["subset"]
        ss = sample_seedseq(int(card.get("seeding.master_seed")), f"cylinder_{subset}", split, index)
        return cases.draw_params(cases.base_params(card), cases.subset_ranges(card, subset), PARAMS, reynolds,
                                 cases.reynolds_band(card), np.random.Generator(np.random.PCG64(ss)),
                                 accept=lambda p: fits(card, p), subset=subset)

    def solve(self, card: Card, p: dict[str, float], *, steady: bool = False, tol: float = 1e-6,
              t_end_seconds: float | None = None) -> dict[str, np.ndarray]:
        """One case's stored arrays (no leading sample axis) from explicit parameters."""
        from pdeforge.generators.fem.ns import ParabolicInflow, march, solve_steady, solve_stokes

        S = case_spaces(card, p)
        geo = S.cmesh.geometry
        U, rho, mu = float(p["inlet_velocity"]), float(p["density"]), float(p["viscosity"])
        D = geo.diameter
        inflow = ParabolicInflow(1.5 * U, geo.height)
        dt = float(card.get("problem.dt_convective")) * D / U
        gamma = float(card.get("problem.grad_div")) * rho * U * D  # grad-div weight (Pa s)
        steps, frames = int(card.get("problem.steps")), int(card.get("problem.frames"))
        if t_end_seconds is not None:
            steps = max(1, int(round(float(t_end_seconds) / dt)))
            frames = min(frames, steps + 1)
            while steps % (frames - 1):
                frames -= 1
        x0 = solve_stokes(S, inflow, mu)  # the initial state: Stokes flow (divergence free)
        if steady:
            sol = solve_steady(S, nu=mu / rho, rho=rho, inflow=inflow, tol=tol * rho * U**2 * D, grad_div=gamma)
            Uf = np.stack([x0[: S.n_u], sol.U])
            Pf = np.stack([x0[S.n_u:], sol.P])
            times = np.array([0.0, 1.0])
            cD = np.array([0.0, sol.info["c_D"]])
            cL = np.array([0.0, sol.info["c_L"]])
            dp = np.array([0.0, sol.info["delta_p"]])
        else:
            tr = march(S, nu=mu / rho, rho=rho, inflow=inflow, t_end=steps * dt, dt=dt, n_frames=frames, x0=x0,
                       grad_div=gamma, gmres_tol=float(card.get("problem.gmres_tol")),
                       max_gmres=int(card.get("problem.max_gmres")))
            Uf, Pf, times = tr.U, tr.P, tr.t_frames
            at = np.rint(times / dt).astype(int)
            cD, cL, dp = (np.nan_to_num(a[at], nan=0.0) for a in (tr.c_D, tr.c_L, tr.delta_p))
        gv = view_of(S, card)
        view, mask64 = gv.apply(Uf, Pf), gv.mask
        div, div_scale = divergence_frames(S, Uf)
        div_rel = div / np.where(div_scale > 0, div_scale, 1.0)
        nf = Uf.shape[0]
        late = cL[-max(1, nf // 4):]
        out: dict[str, np.ndarray] = mesh_arrays(S, Uf, Pf, int(card.get("problem.max_nodes")),
                                                 int(card.get("problem.max_triangles")))
        out.update({
            "u64": (view["u"] * mask64).astype(np.float32), "v64": (view["v"] * mask64).astype(np.float32),
            "p64": (view["p"] * mask64).astype(np.float32), "mask64": mask64.astype(np.int8),
            "c_D": cD, "c_L": cL, "delta_p": dp, "divergence_l1": div, "divergence_rel": div_rel,
        })
        out.update({k: np.float64(p[k]) for k in PARAMS})
        out.update({
            "reynolds": np.float64(reynolds(p)),
            "frame_time": np.asarray(times, dtype=np.float64),
            "max_divergence_rel": np.float64(div_rel.max()),
            "dt": np.float64(dt),
            "c_L_amplitude": np.float64(0.5 * (late.max() - late.min())),
            "dofs": np.int64(S.n_dofs),
        })
        return out

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        rows = [self.solve(card, self.case_params(card, config, split, i)) for i in range(start, stop)]
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}

    # --- one case with explicit parameters (`pdeforge solve cylinder ...`) ---------------------
    def solve_one(self, card: Card, params: dict[str, str], *, steady: bool = False, tol: float = 1e-6,
                  t_end_seconds: float | None = None):
        """``(card, config, arrays)`` of one case from explicit ``name=value`` parameters (SI; the
        card's ``problem.base`` fills the rest). ``t_end_seconds`` sets the run length in seconds;
        ``steady`` solves the steady equations by Newton (residual max-norm below
        ``tol · ρ U² D``, N/m) and stores the initial and the steady state (t = 0 and 1)."""
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise UnknownNameError("cylinder parameter", unknown[0], list(PARAMS))
        p = cases.base_params(card)
        p.update({k: parse_float(k, v, 1e-12, 1e12) for k, v in params.items()})
        geometry(card, p).validate()
        config = ConfigSpec(SOLVE, {"subset": SOLVE, "case": p, "steady": bool(steady),
                                    "tol": float(tol) if steady else None})
        arrays = self.solve(card, p, steady=steady, tol=tol, t_end_seconds=t_end_seconds)
        times = np.asarray(arrays["frame_time"])
        if steady:
            values = {"problem.frames": 2, "problem.steps": 1, "problem.dt_convective": 1.0}
        else:
            values = {"problem.frames": int(times.size), "problem.steps": int(round(times[-1] / float(arrays["dt"]))),
                      "problem.dt_convective": float(card.get("problem.dt_convective"))}
        card = card.with_values(values, {"solve": "explicit parameters"})
        return card, config, {k: np.asarray(v)[None] for k, v in arrays.items()}
