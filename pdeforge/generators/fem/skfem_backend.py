r"""Conforming P1 / P2 finite elements (scikit-fem) for −∇·(a∇u) = f on (0,1)², u = 0 on ∂Ω.

A reference discretisation to cross-check the finite-difference Darcy solver
(:func:`pdeforge.generators.darcy_fd.solve_darcy`) on the same node grid.

Mesh: ``skfem.MeshTri.init_tensor(t, t)`` with ``t = i/(n−1)``, i = 0..n−1 — the n × n node grid
of the Darcy family, each square cut into two triangles along one diagonal. Nodal results are
returned as (n, n) arrays in the package orientation ``u[i, j] = u(x_i, y_j)`` (axis 0 = x); the
vertex ↔ (i, j) map is computed from the vertex coordinates, not assumed.

Weak form: find u_h ∈ V_h ∩ H¹₀ with ∫ a ∇u_h·∇v = ∫ f v for all v ∈ V_h ∩ H¹₀, V_h = P1 or P2.

Coefficient ``a`` (``coefficient=``):

* a callable ``a(x, y)`` (numpy-vectorised): ``"quadrature"`` (default) evaluates it at the
  quadrature points (``intorder`` controls the rule; raise it for discontinuous a), ``"element"``
  evaluates it once per triangle at the centroid (piecewise constant);
* an (n, n) array of node values: ``"nodal"`` (default) uses its P1 interpolant, ``"element"``
  the mean of the three vertex values per triangle (for P1 with exact quadrature both give the
  same stiffness matrix).

Right-hand side ``f``: a number, a callable ``f(x, y)``, or an (n, n) array of node values (P1
interpolant). The interior system is solved with :func:`pdeforge.generators.fv.solve`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from pdeforge.generators import fv

__all__ = ["FemSolution", "unit_square_mesh", "grid_index", "solve_fem", "solve_p1", "solve_p2", "l2_error"]

COEFFICIENT_MODES = ("quadrature", "nodal", "element")


def unit_square_mesh(n: int):
    """The structured triangulation of (0,1)² on the n × n node grid ``i/(n−1)``."""
    from skfem import MeshTri

    if n < 2:
        raise ValueError(f"need at least 2 nodes per axis, got {n}")
    t = np.arange(n, dtype=float) / (n - 1)
    return MeshTri.init_tensor(t, t)


def grid_index(mesh, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) grid indices of every mesh vertex: ``x = i/(n−1)``, ``y = j/(n−1)``."""
    ij = np.rint(mesh.p * (n - 1)).astype(np.intp)
    if not np.allclose(ij / (n - 1), mesh.p, rtol=0, atol=1e-12):
        raise ValueError("mesh vertices are not on the n x n node grid")
    return ij[0], ij[1]


@dataclasses.dataclass
class FemSolution:
    """``u``: (n, n) nodal values (axis 0 = x); ``dofs``: all FE coefficients; ``basis``: the
    scikit-fem basis they live on; ``info``: the linear solve's diagnostics."""

    u: np.ndarray
    dofs: np.ndarray
    basis: Any
    info: fv.SolveInfo


def _field(value, basis, p1_basis, vi, vj, n: int, what: str, mode: str | None):
    """``value`` at the quadrature points of ``basis`` (array of shape (n_elements, n_qp))."""
    if callable(value):
        mode = mode or "quadrature"
        if mode == "quadrature":
            x = basis.mapping.F(basis.X)  # (2, n_elements, n_qp)
            return np.broadcast_to(np.asarray(value(x[0], x[1]), dtype=float), x.shape[1:])
        if mode == "element":
            c = basis.mesh.p[:, basis.mesh.t].mean(axis=1)  # (2, n_elements) centroids
            vals = np.asarray(value(c[0], c[1]), dtype=float)
            return np.repeat(vals[:, None], basis.X.shape[1], axis=1)
        raise ValueError(f"{what}: mode {mode!r} is not available for a callable; use quadrature or element")
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full((basis.mesh.t.shape[1], basis.X.shape[1]), float(arr))
    if arr.shape != (n, n):
        raise ValueError(f"{what}: expected a number, a callable or an ({n}, {n}) array, got shape {arr.shape}")
    vertex = arr[vi, vj]
    mode = mode or "nodal"
    if mode == "nodal":
        # P1 interpolant, evaluated at basis's quadrature points
        return np.asarray(p1_basis.interpolate(vertex))
    if mode == "element":
        vals = vertex[basis.mesh.t].mean(axis=0)
        return np.repeat(vals[:, None], basis.X.shape[1], axis=1)
    raise ValueError(f"{what}: mode {mode!r} is not available for node values; use nodal or element")


def solve_fem(a: Callable | np.ndarray | float, f: Callable | np.ndarray | float, n: int, order: int = 1,
              coefficient: str | None = None, intorder: int | None = None, method: str = "auto",
              rtol: float = 1e-12) -> FemSolution:
    """Pk (k = 1, 2) solution of −∇·(a∇u) = f, u = 0 on ∂(0,1)², on the n × n node grid mesh."""
    from skfem import Basis, BilinearForm, ElementTriP1, ElementTriP2, LinearForm
    from skfem.helpers import dot, grad

    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    if coefficient is not None and coefficient not in COEFFICIENT_MODES:
        raise ValueError(f"coefficient must be one of {COEFFICIENT_MODES}, got {coefficient!r}")
    mesh = unit_square_mesh(n)
    vi, vj = grid_index(mesh, n)
    q = intorder if intorder is not None else 2 * order + 2
    basis = Basis(mesh, ElementTriP1() if order == 1 else ElementTriP2(), intorder=q)
    p1 = basis if order == 1 else Basis(mesh, ElementTriP1(), quadrature=basis.quadrature)
    a_qp = _field(a, basis, p1, vi, vj, n, "a", coefficient)
    if np.any(~np.isfinite(a_qp)) or a_qp.min() <= 0:
        raise ValueError("a must be finite and strictly positive at the quadrature points")
    f_qp = _field(f, basis, p1, vi, vj, n, "f", None if not callable(f) else "quadrature")

    @BilinearForm
    def stiffness(u, v, w):
        return w["a"] * dot(grad(u), grad(v))

    @LinearForm
    def load(v, w):
        return w["f"] * v

    K = stiffness.assemble(basis, a=a_qp)
    b = load.assemble(basis, f=f_qp)
    interior = basis.complement_dofs(basis.get_dofs())
    A = K[interior][:, interior].tocsr()
    x, info = fv.solve(A, b[interior], method=method, rtol=rtol)
    dofs = np.zeros(basis.N)
    dofs[interior] = x
    u = np.zeros((n, n))
    u[vi, vj] = dofs[basis.nodal_dofs[0]]
    return FemSolution(u=u, dofs=dofs, basis=basis, info=info)


def solve_p1(a, f, n: int, **kwargs) -> np.ndarray:
    """Nodal (n, n) P1 solution; see :func:`solve_fem`."""
    return solve_fem(a, f, n, order=1, **kwargs).u


def solve_p2(a, f, n: int, **kwargs) -> np.ndarray:
    """P2 solution at the n × n vertices; see :func:`solve_fem`."""
    return solve_fem(a, f, n, order=2, **kwargs).u


def l2_error(sol: FemSolution, exact: Callable) -> float:
    """‖u_h − u‖_{L²(0,1)²} for a callable exact solution ``exact(x, y)`` (basis quadrature)."""
    from skfem import Functional

    @Functional
    def sq(w):
        return (w["uh"] - exact(w.x[0], w.x[1])) ** 2

    return float(np.sqrt(sq.assemble(sol.basis, uh=sol.basis.interpolate(sol.dofs))))
