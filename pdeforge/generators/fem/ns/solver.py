r"""Incompressible Navier–Stokes on a channel with a cylinder: Taylor–Hood P2/P1 (scikit-fem).

Equations (SI units: x in m, u in m/s, p in Pa, ρ in kg/m³, ν in m²/s, μ = ρν in Pa·s)::

    ρ (∂u/∂t + (u·∇)u) − μ Δu + ∇p = 0,   ∇·u = 0   in Ω = channel minus cylinder,
    u = g on the inlet (x = 0),  u = 0 on the walls (y = 0, H) and the cylinder,
    μ ∂u/∂n − p n = 0 on the outlet (x = L)  ("do-nothing").

Weak form (gradient form of the viscous term, which makes the do-nothing condition natural):
find u_h ∈ V_h (P2², u_h = g_h on Γ_D) and p_h ∈ Q_h (P1) with, for all v ∈ V_h⁰, q ∈ Q_h,

    ρ(∂_t u_h, v) + ρ((u_h·∇)u_h, v) + μ(∇u_h, ∇v) − (p_h, ∇·v) = 0,     −(q, ∇·u_h) = 0.

The outflow condition fixes the pressure level (no mean-value constraint). The geometry is the
isoparametric P2 mesh of :mod:`.mesh` (cylinder edges curved); quadrature of degree
``intorder`` (default 5: exact for the trilinear convection term on straight elements).
Dirichlet data g_h is the nodal P2 interpolant of g.

Steady solver (:func:`solve_steady`): Newton's method from the Stokes solution; each step
solves the Jacobian system

    ρ((w·∇)u, v) + ρ((u·∇)w, v) + μ(∇u, ∇v) − (p, ∇·v) = ρ((w·∇)w, v)

for the new iterate (u, p) (w = previous iterate), with sparse LU (SuperLU), until the
nonlinear residual's max-norm is below ``tol`` (in N/m, i.e. the units of the discrete
momentum residual per unit depth).

Transient solver (:func:`march`): BDF2 in time (BDF1 for the first step) with the convecting
velocity extrapolated, w = 2uⁿ − uⁿ⁻¹ (semi-implicit, one linear Oseen solve per step, second
order). Its fixed point is exactly the discrete steady Navier–Stokes solution. Each step's
system is solved by GMRES preconditioned with the LU factors of an earlier step's matrix,
refactorised whenever GMRES needs more than ``max_gmres`` iterations.

Forces (per unit depth, N/m) by the volume-integral (discrete reaction) formula: with v_d the
P2 function equal to the unit vector e_d at the cylinder's velocity nodes and 0 at all other
nodes,

    F_d = −[ ρ(∂_t u_h, v_d) + ρ((u_h·∇)u_h, v_d) + μ(∇u_h, ∇v_d) − (p_h, ∇·v_d) ],

which equals ∫_S (p n − μ ∂u/∂n)·e_d ds on the cylinder S (n the unit normal out of the fluid)
for the exact solution, and is the accurate way to get it from a finite-element solution
(Braack & Richter; John 2004). Drag is d = x, lift d = y. For divergence-free u vanishing on S
the gradient and symmetric-gradient tractions give the same force. Coefficients:
c_D = 2 F_x / (ρ Ū² D), c_L = 2 F_y / (ρ Ū² D), Ū the mean inflow velocity (2/3 of U_max for the
parabolic profile), D the cylinder diameter; Δp = p(x_c − r, y_c) − p(x_c + r, y_c).

Output values: u, v at the P2 nodes are the FE coefficients; the ``Solution.u/v/p`` arrays are
the values at the mesh *vertices* (the P1 nodes: ``mesh.vertices``, ``mesh.triangles``), where
velocity and pressure coefficients are nodal values. All dense linear algebra runs with BLAS
limited to one thread (threadpoolctl), so results are bit-reproducible for a given mesh.
"""

from __future__ import annotations

import dataclasses
import time as _time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from .mesh import ChannelMesh

__all__ = [
    "ParabolicInflow",
    "Solution",
    "Spaces",
    "Transient",
    "convection_matrix",
    "divergence_l1",
    "forces",
    "march",
    "solve_steady",
    "solve_stokes",
    "spaces",
    "strouhal",
    "taylor_hood",
]


@dataclasses.dataclass(frozen=True)
class ParabolicInflow:
    """u(0, y) = 4 U_max y (H − y) / H², v = 0 (m/s); mean velocity Ū = 2 U_max / 3."""

    u_max: float
    height: float = 0.41

    def __call__(self, y):
        y = np.asarray(y, float)
        return 4.0 * self.u_max * y * (self.height - y) / self.height**2

    @property
    def mean(self) -> float:
        return 2.0 * self.u_max / 3.0


def _mean_inflow(inflow: Callable, height: float) -> float:
    if hasattr(inflow, "mean"):
        return float(inflow.mean)
    x, w = np.polynomial.legendre.leggauss(20)
    y = 0.5 * height * (x + 1)
    return float(0.5 * np.dot(w, inflow(y)))


def _blas1():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


@dataclasses.dataclass
class Spaces:
    """Taylor–Hood spaces on a :class:`ChannelMesh` and the constant matrices.

    Unknown vector ``x = [U, P]``: ``U`` the P2² coefficients in scikit-fem's interleaved order
    (x-component of scalar P2 node j at ``2j``, y-component at ``2j + 1``), ``P`` the P1 values
    at the vertices. ``M`` velocity mass, ``K`` vector Laplacian (∇u:∇v), ``B`` the divergence
    (q, ∇·u) (shape n_p × n_u).
    """

    cmesh: ChannelMesh
    basis_u: Any
    basis_p: Any
    M: sp.csr_matrix
    K: sp.csr_matrix
    B: sp.csr_matrix
    G: sp.csr_matrix  # grad-div (∇·u, ∇·v)
    dirichlet: np.ndarray  # velocity dofs with prescribed values (inlet, walls, cylinder)
    inlet_x: np.ndarray  # x-velocity dofs on the inlet
    cylinder: tuple[np.ndarray, np.ndarray]  # x- and y-velocity dofs on the cylinder
    intorder: int

    @property
    def n_u(self) -> int:
        return self.basis_u.N

    @property
    def n_p(self) -> int:
        return self.basis_p.N

    @property
    def n_dofs(self) -> int:
        return self.n_u + self.n_p

    @property
    def free(self) -> np.ndarray:
        """Indices of the unknowns of the condensed system (in ``x = [U, P]``)."""
        return np.setdiff1d(np.arange(self.n_dofs), self.dirichlet)

    def dirichlet_values(self, inflow: Callable, scale: float = 1.0) -> np.ndarray:
        """Full-length vector with the prescribed velocity values (zero elsewhere)."""
        x = np.zeros(self.n_dofs)
        y = self.basis_u.doflocs[1, self.inlet_x]
        x[self.inlet_x] = scale * np.asarray(inflow(y), float)
        return x

    def convection(self, U: np.ndarray, newton: bool = False) -> sp.csr_matrix:
        """Matrix of ((w·∇)u, v) for w = U; with ``newton`` also + ((u·∇)w, v)."""
        return convection_matrix(self.basis_u, U, newton)

    def viscous(self, mu: float, grad_div: float = 0.0) -> sp.csr_matrix:
        """μ (∇u, ∇v) + γ (∇·u, ∇·v)."""
        return mu * self.K + grad_div * self.G if grad_div else mu * self.K

    def saddle(self, A: sp.spmatrix) -> sp.csr_matrix:
        """[[A, −Bᵀ], [−B, 0]]."""
        return sp.bmat([[A, -self.B.T], [-self.B, None]], format="csr")


def convection_matrix(basis_u, U: np.ndarray, newton: bool = False) -> sp.csr_matrix:
    """Matrix of ((w·∇)u, v) on the vector basis ``basis_u`` for w = U; ``newton`` adds ((u·∇)w, v)."""
    from skfem import BilinearForm
    from skfem.helpers import dot, grad, mul

    if newton:
        @BilinearForm
        def form(u, v, w):
            return dot(mul(grad(u), w["w"]), v) + dot(mul(grad(w["w"]), u), v)
    else:
        @BilinearForm
        def form(u, v, w):
            return dot(mul(grad(u), w["w"]), v)

    return form.assemble(basis_u, w=basis_u.interpolate(U)).tocsr()


def taylor_hood(mesh, intorder: int = 5):
    """P2² / P1 bases on a scikit-fem triangle mesh and the matrices M (mass), K (∇u:∇v), B ((q, ∇·u))."""
    from skfem import Basis, BilinearForm, ElementTriP1, ElementTriP2, ElementVector
    from skfem.helpers import ddot, div, dot, grad

    bu = Basis(mesh, ElementVector(ElementTriP2()), intorder=intorder)
    bp = Basis(mesh, ElementTriP1(), intorder=intorder)

    @BilinearForm
    def mass(u, v, w):
        return dot(u, v)

    @BilinearForm
    def lap(u, v, w):
        return ddot(grad(u), grad(v))

    @BilinearForm
    def divergence(u, q, w):
        return div(u) * q

    return bu, bp, mass.assemble(bu).tocsr(), lap.assemble(bu).tocsr(), divergence.assemble(bu, bp).tocsr()


def spaces(cmesh: ChannelMesh, intorder: int = 5) -> Spaces:
    """Build the Taylor–Hood bases and constant matrices for ``cmesh``."""
    from skfem import BilinearForm
    from skfem.helpers import div

    bu, bp, M, K, B = taylor_hood(cmesh.mesh, intorder)
    G = BilinearForm(lambda u, v, w: div(u) * div(v)).assemble(bu).tocsr()
    body = "obstacle" if "obstacle" in cmesh.mesh.boundaries else "cylinder"  # obstacle_mesh vs channel_mesh
    walls = np.concatenate([bu.get_dofs(name).all() for name in ("inlet", "walls", body)])
    dirichlet = np.unique(walls)
    inlet_x = np.unique(bu.get_dofs("inlet").all("u^1"))
    cyl = bu.get_dofs(body)
    cylinder = (np.unique(cyl.all("u^1")), np.unique(cyl.all("u^2")))
    return Spaces(cmesh=cmesh, basis_u=bu, basis_p=bp, M=M, K=K, B=B, G=G, dirichlet=dirichlet, inlet_x=inlet_x,
                  cylinder=cylinder, intorder=intorder)


class _Condensed:
    """Solve A x = 0 with x fixed on the Dirichlet dofs: LU of A[free, free]."""

    def __init__(self, S: Spaces, A: sp.csr_matrix):
        self.free = S.free
        self.A = A
        Aff = A[self.free][:, self.free].tocsc()
        self.lu = spl.splu(Aff, permc_spec="COLAMD")
        self.Aff = Aff

    def solve(self, rhs: np.ndarray, xd: np.ndarray) -> np.ndarray:
        """x with x = xd on Dirichlet dofs and A x = rhs on the free ones."""
        b = rhs - self.A @ xd
        x = xd.copy()
        x[self.free] = self.lu.solve(b[self.free])
        return x


@dataclasses.dataclass
class Solution:
    """A velocity/pressure field on a :class:`ChannelMesh`.

    ``U``: P2² coefficients (m/s, interleaved), ``P``: P1 coefficients (Pa). ``u``, ``v``, ``p``:
    values at the mesh vertices (``spaces.cmesh.vertices``). ``info``: c_D, c_L, Δp, forces,
    solver diagnostics.
    """

    spaces: Spaces
    U: np.ndarray
    P: np.ndarray
    info: dict

    @property
    def n_vertices(self) -> int:
        return self.spaces.cmesh.n_vertices

    @property
    def u(self) -> np.ndarray:
        return self.U[0 : 2 * self.n_vertices : 2].copy()

    @property
    def v(self) -> np.ndarray:
        return self.U[1 : 2 * self.n_vertices : 2].copy()

    @property
    def p(self) -> np.ndarray:
        return self.P.copy()

    @property
    def x(self) -> np.ndarray:
        return np.concatenate([self.U, self.P])

    def on_grid(self, nx: int = 64, ny: int = 64) -> dict:
        """u, v, p (nx, ny) on the cell-centre grid of the channel and the fluid ``mask`` (1 = fluid)."""
        from .grid import grid_view

        gv = grid_view(self.spaces, nx, ny)
        return {**gv.apply(self.U, self.P), "mask": gv.mask, "x": gv.x, "y": gv.y}


def _residual(S: Spaces, x: np.ndarray, rho: float, mu: float, grad_div: float = 0.0,
              extra: np.ndarray | None = None, conv: sp.spmatrix | None = None) -> np.ndarray:
    """Momentum/continuity residual of the full (uncondensed) system at x = [U, P]."""
    U, P = x[: S.n_u], x[S.n_u :]
    C = S.convection(U) if conv is None else conv
    ru = rho * (C @ U) + S.viscous(mu, grad_div) @ U - S.B.T @ P
    if extra is not None:
        ru = ru + extra
    rp = -(S.B @ U)
    return np.concatenate([ru, rp])


def forces(S: Spaces, residual_u: np.ndarray) -> tuple[float, float]:
    """(F_x, F_y) in N/m from the momentum residual vector (see the module docstring)."""
    return -float(residual_u[S.cylinder[0]].sum()), -float(residual_u[S.cylinder[1]].sum())


def _quantities(S: Spaces, x: np.ndarray, fx: float, fy: float, rho: float, u_ref: float) -> dict:
    from .grid import evaluate

    geo = S.cmesh.geometry
    scale = 2.0 / (rho * u_ref**2 * geo.diameter)
    pts = _pressure_points(geo)
    values = evaluate(S, x, pts, field="p")
    lost = np.nonzero(~np.isfinite(values))[0]
    if lost.size:
        # a point on the body that point location misses by rounding (it lies on the curved
        # boundary): it is a mesh vertex (the meshers put one there), where the P1 pressure is its
        # own coefficient
        V = S.cmesh.vertices
        for k in lost:
            d = np.hypot(V[0] - pts[0, k], V[1] - pts[1, k])
            j = int(np.argmin(d))
            if d[j] > 1e-9 * geo.diameter:
                raise RuntimeError(f"pressure point {pts[:, k]} lies outside the mesh and on no vertex")
            values[k] = x[S.n_u + j]
    pf, pb = values
    return dict(drag=fx, lift=fy, c_D=scale * fx, c_L=scale * fy, delta_p=float(pf - pb))


def _pressure_points(geo) -> np.ndarray:
    """(2, 2) upstream / downstream points of Δp: (x_c ∓ r, y_c) for the cylinder, the
    geometry's own ``pressure_points()`` where it has one (obstacle shapes)."""
    if hasattr(geo, "pressure_points"):
        return geo.pressure_points()
    xc, yc = geo.center
    return np.array([[xc - geo.radius, xc + geo.radius], [yc, yc]])


def solve_stokes(S: Spaces, inflow: Callable, mu: float) -> np.ndarray:
    """Stokes solution x = [U, P] (μ the dynamic viscosity, Pa·s)."""
    with _blas1():
        sol = _Condensed(S, S.saddle(mu * S.K))
        return sol.solve(np.zeros(S.n_dofs), S.dirichlet_values(inflow))


def solve_steady(cmesh: ChannelMesh | Spaces, nu: float = 1e-3, rho: float = 1.0,
                 inflow: Callable | None = None, tol: float = 1e-10, maxiter: int = 25,
                 x0: np.ndarray | None = None, u_ref: float | None = None, grad_div: float = 0.0) -> Solution:
    """Steady Navier–Stokes by Newton's method (see the module docstring).

    Parameters
    ----------
    cmesh : the mesh (or prebuilt :class:`Spaces`).
    nu : kinematic viscosity (m²/s); rho : density (kg/m³).
    inflow : callable y ↦ u(0, y) in m/s (default: the DFG 2D-1 profile, U_max = 0.3).
    tol : stop when the max-norm of the nonlinear residual (N/m) on the free dofs is below tol
        (scaled by ρ Ū² so that it is relative to the dynamic pressure).
    x0 : initial iterate [U, P] (default: the Stokes solution).
    u_ref : reference velocity of c_D, c_L (default: mean inflow velocity).
    grad_div : γ (Pa·s) of the grad-div term γ(∇·u, ∇·v) added to the momentum equation
        (consistent: zero for the exact solution; improves discrete mass conservation).

    Returns a :class:`Solution` whose ``info`` has c_D, c_L, Δp (Pa), drag/lift (N/m), the
    Newton history and wall/CPU seconds.
    """
    S = cmesh if isinstance(cmesh, Spaces) else spaces(cmesh)
    height = S.cmesh.geometry.height
    inflow = ParabolicInflow(0.3, height) if inflow is None else inflow
    u_ref = _mean_inflow(inflow, height) if u_ref is None else u_ref
    mu = rho * nu
    t0, c0 = _time.perf_counter(), _time.process_time()
    xd = S.dirichlet_values(inflow)
    free = S.free
    scale = rho * u_ref**2
    Dv = S.viscous(mu, grad_div)
    history = []
    with _blas1():
        x = solve_stokes(S, inflow, mu) if x0 is None else np.asarray(x0, float).copy()
        x[S.dirichlet] = xd[S.dirichlet]
        converged = False
        for it in range(maxiter + 1):
            r = _residual(S, x, rho, mu, grad_div)
            res = float(np.abs(r[free]).max()) / scale
            history.append(res)
            if res < tol:
                converged = True
                break
            if it == maxiter:
                break
            U = x[: S.n_u]
            J = S.saddle(rho * S.convection(U, newton=True) + Dv)
            rhs = np.zeros(S.n_dofs)
            rhs[: S.n_u] = rho * (S.convection(U) @ U)
            x = _Condensed(S, J).solve(rhs, xd)
        if not converged:
            raise RuntimeError(f"Newton did not converge in {maxiter} iterations: residuals {history}")
        r = _residual(S, x, rho, mu, grad_div)
    fx, fy = forces(S, r[: S.n_u])
    info = _quantities(S, x, fx, fy, rho, u_ref)
    info.update(newton_residuals=history, newton_iterations=len(history) - 1, nu=nu, rho=rho, u_ref=u_ref, grad_div=grad_div,
                reynolds=u_ref * S.cmesh.geometry.diameter / nu, n_dofs=S.n_dofs, mesh_hash=S.cmesh.hash,
                wall_s=_time.perf_counter() - t0, cpu_s=_time.process_time() - c0)
    return Solution(spaces=S, U=x[: S.n_u].copy(), P=x[S.n_u :].copy(), info=info)


@dataclasses.dataclass
class Transient:
    """Result of :func:`march`.

    ``t_frames`` (n_frames,) s; ``u``, ``v``, ``p`` (n_frames, n_vertices) vertex values;
    ``U``, ``P`` (n_frames, ·) full coefficients. ``t`` (n_steps + 1,) every time level with
    ``c_D``, ``c_L``, ``delta_p`` there (c_D, c_L undefined — NaN — at t = 0). ``info``:
    diagnostics (LU factorisations, GMRES iterations, seconds).
    """

    spaces: Spaces
    t_frames: np.ndarray
    U: np.ndarray
    P: np.ndarray
    t: np.ndarray
    c_D: np.ndarray
    c_L: np.ndarray
    delta_p: np.ndarray
    info: dict

    @property
    def u(self) -> np.ndarray:
        return self.U[:, 0 : 2 * self.spaces.cmesh.n_vertices : 2]

    @property
    def v(self) -> np.ndarray:
        return self.U[:, 1 : 2 * self.spaces.cmesh.n_vertices : 2]

    @property
    def p(self) -> np.ndarray:
        return self.P

    def on_grid(self, nx: int = 64, ny: int = 64) -> dict:
        """u, v, p (n_frames, nx, ny) on the cell-centre grid and the fluid ``mask`` (nx, ny)."""
        from .grid import grid_view

        gv = grid_view(self.spaces, nx, ny)
        return {**gv.apply(self.U, self.P), "mask": gv.mask, "x": gv.x, "y": gv.y}

    def frame(self, k: int) -> Solution:
        return Solution(self.spaces, self.U[k].copy(), self.P[k].copy(), {"t": float(self.t_frames[k])})


def _ramp(t: float, t_ramp: float) -> float:
    if t_ramp <= 0 or t >= t_ramp:
        return 1.0
    return float(np.sin(0.5 * np.pi * t / t_ramp) ** 2)


def march(cmesh: ChannelMesh | Spaces, nu: float = 1e-3, rho: float = 1.0, inflow: Callable | None = None,
          t_end: float = 1.0, dt: float = 0.01, n_frames: int = 11, t_frames_from: float = 0.0,
          ramp: float = 0.0, x0: np.ndarray | Solution | None = None, u_ref: float | None = None,
          grad_div: float = 0.0,
          gmres_tol: float = 1e-11, max_gmres: int = 30, callback: Callable | None = None) -> Transient:
    """Time-dependent Navier–Stokes from t = 0 to ``t_end`` by semi-implicit BDF2 (module docstring).

    Parameters
    ----------
    nu, rho : kinematic viscosity (m²/s) and density (kg/m³).
    inflow : callable y ↦ u(0, y) (m/s); multiplied by the ramp factor sin²(πt / (2 ramp)) for
        t < ``ramp`` s (no ramp by default). Default: DFG 2D-2, U_max = 1.5.
    t_end, dt : final time and time step (s); t_end / dt must be an integer.
    n_frames, t_frames_from : frames stored at n_frames equispaced times in [t_frames_from,
        t_end] (each a multiple of dt).
    x0 : initial state [U, P] or a :class:`Solution` (default: fluid at rest).
    grad_div : γ (Pa·s) of the grad-div term, as in :func:`solve_steady`.
    gmres_tol : relative residual of each step's linear solve; max_gmres : refactorise the
        preconditioning LU when a solve needs more iterations than this.
    callback : called as ``callback(step, t, x)`` after each step (e.g. for progress).
    """
    S = cmesh if isinstance(cmesh, Spaces) else spaces(cmesh)
    height = S.cmesh.geometry.height
    inflow = ParabolicInflow(1.5, height) if inflow is None else inflow
    u_ref = _mean_inflow(inflow, height) if u_ref is None else u_ref
    mu = rho * nu
    n_steps = int(round(t_end / dt))
    if not np.isclose(n_steps * dt, t_end, rtol=0, atol=1e-9 * max(1.0, t_end)):
        raise ValueError(f"t_end = {t_end} is not a multiple of dt = {dt}")
    if n_frames < 1:
        raise ValueError("n_frames must be >= 1")
    t_frames = np.linspace(t_frames_from, t_end, n_frames) if n_frames > 1 else np.array([float(t_end)])
    frame_steps = np.rint(t_frames / dt).astype(int)
    if not np.allclose(frame_steps * dt, t_frames, rtol=0, atol=1e-9 * max(1.0, t_end)):
        raise ValueError("frame times must be multiples of dt")
    t0, c0 = _time.perf_counter(), _time.process_time()
    free = S.free
    n_u = S.n_u
    if x0 is None:
        x = np.zeros(S.n_dofs)
    elif isinstance(x0, Solution):
        x = x0.x
    else:
        x = np.asarray(x0, float).copy()
    x[S.dirichlet] = S.dirichlet_values(inflow, _ramp(0.0, ramp))[S.dirichlet]
    x_old = x.copy()
    geo = S.cmesh.geometry
    scale = 2.0 / (rho * u_ref**2 * geo.diameter)
    pts = _pressure_points(geo)
    from .grid import point_matrix

    Pp = point_matrix(S, pts, field="p")
    Dv = S.viscous(mu, grad_div)
    times = dt * np.arange(n_steps + 1)
    cD = np.full(n_steps + 1, np.nan)
    cL = np.full(n_steps + 1, np.nan)
    dp = np.full(n_steps + 1, np.nan)
    dp[0] = float(np.diff(-(Pp @ x[n_u:]))[0])
    fU, fP = [], []
    if 0 in frame_steps:
        fU.append(x[:n_u].copy())
        fP.append(x[n_u:].copy())
    lu = None
    n_lu, gmres_its = 0, []
    with _blas1():
        for n in range(1, n_steps + 1):
            t = times[n]
            U, U_old = x[:n_u], x_old[:n_u]
            if n == 1:
                a0, a1, a2 = 1.0, -1.0, 0.0
                W = U
            else:
                a0, a1, a2 = 1.5, -2.0, 0.5
                W = 2.0 * U - U_old
            C = S.convection(W)
            A = S.saddle(rho * a0 / dt * S.M + rho * C + Dv)
            hist = rho / dt * (S.M @ (a1 * U + a2 * U_old))
            xd = S.dirichlet_values(inflow, _ramp(t, ramp))
            rhs = np.zeros(S.n_dofs)
            rhs[:n_u] = -hist
            b = (rhs - A @ xd)[free]
            Aff = A[free][:, free].tocsc()
            if lu is None or n <= 2:  # the BDF1 and first BDF2 matrices differ: factor both
                lu = spl.splu(Aff, permc_spec="COLAMD")
                n_lu += 1
            guess = (2.0 * x - x_old)[free] if n > 1 else x[free]
            y, its = _gmres(Aff, b, lu, guess, gmres_tol, max_gmres)
            if y is None:
                lu = spl.splu(Aff, permc_spec="COLAMD")
                n_lu += 1
                y, its = _gmres(Aff, b, lu, guess, gmres_tol, 200)
                if y is None:
                    raise RuntimeError(f"linear solve failed at step {n}")
            gmres_its.append(its)
            x_new = xd.copy()
            x_new[free] = y
            # forces from the discrete momentum residual (time derivative included)
            Un = x_new[:n_u]
            ru = rho / dt * (S.M @ (a0 * Un)) + hist + rho * (C @ Un) + Dv @ Un - S.B.T @ x_new[n_u:]
            fx, fy = forces(S, ru)
            cD[n], cL[n] = scale * fx, scale * fy
            pv = Pp @ x_new[n_u:]
            dp[n] = float(pv[0] - pv[1])
            x_old, x = x, x_new
            if n in frame_steps:
                fU.append(x[:n_u].copy())
                fP.append(x[n_u:].copy())
            if callback is not None:
                callback(n, t, x)
    info = dict(nu=nu, rho=rho, u_ref=u_ref, reynolds=u_ref * geo.diameter / nu, dt=dt, t_end=t_end, grad_div=grad_div,
                n_steps=n_steps, n_dofs=S.n_dofs, mesh_hash=S.cmesh.hash, lu_factorisations=n_lu,
                gmres_iterations_mean=float(np.mean(gmres_its)) if gmres_its else 0.0,
                gmres_iterations_max=int(max(gmres_its)) if gmres_its else 0, scheme="BDF2, extrapolated convection",
                wall_s=_time.perf_counter() - t0, cpu_s=_time.process_time() - c0)
    return Transient(spaces=S, t_frames=frame_steps * dt, U=np.array(fU), P=np.array(fP), t=times, c_D=cD,
                     c_L=cL, delta_p=dp, info=info)


def _gmres(A, b, lu, x0, rtol, maxiter):
    """Right-preconditioned GMRES with an LU preconditioner; (solution or None, iterations)."""
    prec = spl.LinearOperator(A.shape, matvec=lu.solve, dtype=float)
    count = [0]

    def cb(_):
        count[0] += 1

    bnorm = np.linalg.norm(b)
    if bnorm == 0:
        return np.zeros_like(b), 0
    y, _ = spl.gmres(A, b, x0=x0, rtol=rtol, atol=0.0, M=prec, restart=max(maxiter, 1), maxiter=1,
                        callback=cb, callback_type="pr_norm")
    res = np.linalg.norm(b - A @ y) / bnorm
    if res > 10 * rtol:
        return None, count[0]
    return y, count[0]


def divergence_l1(sol: Solution | Spaces, U: np.ndarray | None = None) -> float:
    """∫_Ω |∇·u_h| dx (m²/s): the mass-conservation defect of a velocity field."""
    from skfem import Functional

    S = sol.spaces if isinstance(sol, Solution) else sol
    U = sol.U if U is None else U

    @Functional
    def absdiv(w):
        return np.abs(w["w"].grad[0][0] + w["w"].grad[1][1])

    return float(absdiv.assemble(S.basis_u, w=S.basis_u.interpolate(U)))


def strouhal(t: np.ndarray, c_L: np.ndarray, diameter: float, u_ref: float, periods: int = 4) -> dict:
    """Shedding frequency from the last ``periods + 1`` upward zero crossings of ``c_L``
    (linearly interpolated; pass the lift minus its mid-range over the developed window).

    Returns f (Hz), St = f D / Ū and the time window spanned; extrema over that window are
    computed by :func:`pdeforge.generators.fem.ns.dfg.shedding_quantities`.
    """
    ok = np.isfinite(c_L)
    t, c = t[ok], c_L[ok]
    s = np.sign(c)
    up = np.nonzero((s[:-1] < 0) & (s[1:] >= 0))[0]
    if up.size < periods + 1:
        raise ValueError(f"only {up.size} upward crossings of the lift; need {periods + 1}")
    up = up[-(periods + 1):]
    tc = t[up] - c[up] * (t[up + 1] - t[up]) / (c[up + 1] - c[up])
    f = periods / (tc[-1] - tc[0])
    return dict(frequency=float(f), St=float(f * diameter / u_ref), t_window=(float(tc[0]), float(tc[-1])))
