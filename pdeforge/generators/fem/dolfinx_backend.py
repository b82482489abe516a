r"""Conforming P1 finite elements (DOLFINx 0.5) for −∇·(a∇u) = f on (0,1)², u = 0 on ∂Ω.

An independent implementation of :func:`pdeforge.generators.fem.skfem_backend.solve_p1`, used to
cross-check it (``tests/test_fem_dolfinx.py``). It runs in its own interpreter (``make dolfinx``
builds ``.venv-dolfinx`` on Debian's ``python3-dolfinx`` 0.5.2) and imports only numpy, mpi4py,
petsc4py and the FEniCSx packages (dolfinx, ufl, basix), so it never touches the main package's
dependencies. It runs serially or under MPI (``mpirun -n 2``); results are gathered on rank 0.

Mesh: the structured triangulation of ``skfem.MeshTri.init_tensor(t, t)``, ``t = i/(n−1)``:
every grid square is cut along the diagonal from (x_i, y_j) to (x_{i+1}, y_{j+1})
(``dolfinx.mesh.DiagonalType.right``). The diagonal is *checked* on every cell (a mesh with the
other diagonal gives a different P1 solution), and the vertex coordinates are reset to exactly
``i/(n−1)``. Nodal results are (n, n) arrays ``u[i, j] = u(x_i, y_j)`` (axis 0 = x); dofs are
mapped to (i, j) through their coordinates, not through any assumed numbering.

Coefficient ``a`` (``coefficient=``), chosen so that the stiffness matrix can be made identical
to scikit-fem's:

* callable ``a(x, y)``, ``"quadrature"`` (default): for P1 the gradients are constant per
  triangle, so ∫_T a ∇φ_i·∇φ_j = (∇φ_i·∇φ_j)|T| ā_T with ā_T the quadrature mean of a over T.
  ā_T is computed from a reference-triangle rule ``rule = (points (q, 2), weights (q,))`` on the
  reference triangle (0,0), (1,0), (0,1) — by default basix's degree-``intorder`` rule; pass
  scikit-fem's rule to get scikit-fem's matrix. The reference → physical map uses the vertices
  ordered by i + j (scikit-fem's ``init_tensor`` vertex order), so even an unsymmetric rule
  lands on the same physical points. The mean is stored as a DG0 function.
* callable, ``"element"``: a at the triangle centroid (DG0);
* (n, n) node values, ``"nodal"`` (default for arrays): the P1 interpolant;
* (n, n) node values, ``"element"``: the mean of the three vertex values (DG0).

``f``: a number (``fem.Constant``) or (n, n) node values (P1 interpolant). The linear system is
solved with PETSc (LU by MUMPS by default; ``petsc_options`` overrides; :func:`petsc_options`
maps the main package's solver names ``auto``/``direct``/``ldl``/``amg`` to PETSc settings).

Batches (:func:`solve_p1_batch`): many node coefficients on one mesh. Mesh, space, boundary
condition, compiled forms and KSP are built once; each sample refills the coefficient Function in
place, reassembles and re-solves. This is what the main package's ``dolfinx_p1`` elliptic backend
(:mod:`pdeforge.generators.elliptic_backends`) runs, one subprocess per batch.

Command line (writes ``u`` and metadata to an .npz on rank 0)::

    python pdeforge/generators/fem/dolfinx_backend.py --n 33 --case smooth|jump --out result.npz
        [--coefficient quadrature|element|nodal] [--intorder Q | --rule rule.npz]
    python pdeforge/generators/fem/dolfinx_backend.py --batch in.npz --out out.npz
        [--coefficient nodal|element] [--method auto|direct|ldl|amg] [--rtol R]

``in.npz`` holds ``a`` (B, n, n) and ``f`` (a 0-d array, (n, n) or (B, n, n)); ``out.npz`` gets
``u`` (B, n, n) and per-sample ``residual``, ``ksp_reason``, ``ksp_iterations``,
``solve_seconds``, plus ``setup_seconds`` (mesh, forms, JIT) and ``dolfinx_version``
(prefix ``mpirun -n 2`` for MPI). Run it by file path: ``python -m pdeforge.generators.fem.
dolfinx_backend`` works the same but first imports the parent package ``pdeforge.generators``,
whose families need the main environment's dependencies.

``rule.npz`` holds ``points`` (q, 2) and ``weights`` (q,). Cases (f ≡ 1): ``smooth``
a = 1 + ½ sin(2πx) cos(πy); ``jump`` a = ψ(g), ψ = 12 where g ≥ 0 and 3 elsewhere, g the fixed
field of ``tests/test_fem_skfem.py::g_fixed``.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

__all__ = ["unit_square_mesh", "grid_index", "reference_rule", "NodeCoefficient", "petsc_options",
           "solve_p1", "solve_p1_batch", "CASES", "main"]

COEFFICIENT_MODES = ("quadrature", "nodal", "element")


# --- test cases (duplicated from the main package so that this module needs no scipy) --------


def a_smooth(x, y):
    return 1.0 + 0.5 * np.sin(2 * np.pi * x) * np.cos(np.pi * y)


def g_fixed(x, y):
    """Same field as ``tests/test_fem_skfem.py::g_fixed``."""
    pi = np.pi
    return (0.6 * np.cos(pi * x) * np.cos(2 * pi * y) + 0.5 * np.cos(2 * pi * x + 0.3) * np.cos(pi * y + 0.7)
            + 0.15 * np.sin(3 * pi * x * y) + 0.05)


def a_jump(x, y):
    """ψ(g_fixed): 12 where g ≥ 0, 3 elsewhere (the Darcy family's ψ)."""
    return np.where(g_fixed(x, y) >= 0.0, 12.0, 3.0)


CASES: dict[str, Callable] = {"smooth": a_smooth, "jump": a_jump}


# --- mesh -------------------------------------------------------------------------------------


def grid_index(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) grid indices of points ``coords`` (k, ≥2) lying on the n × n node grid."""
    ij = np.rint(np.asarray(coords)[:, :2] * (n - 1)).astype(np.int64)
    if not np.allclose(ij / (n - 1), coords[:, :2], rtol=0, atol=1e-12):
        raise ValueError("points are not on the n x n node grid")
    return ij[:, 0], ij[:, 1]


def _cell_vertices(msh, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per local cell (owned + ghost): vertex grid indices (c, 3, 2) ordered by i + j, and the
    sorted vertex coordinates (c, 3, 2)."""
    x = msh.geometry.x
    cells = msh.geometry.dofmap.array.reshape(-1, 3)
    i, j = grid_index(x[cells.ravel()], n)
    ij = np.stack([i, j], axis=-1).reshape(-1, 3, 2)
    order = np.argsort(ij.sum(axis=-1), axis=1, kind="stable")
    ij = np.take_along_axis(ij, order[:, :, None], axis=1)
    return ij, ij / (n - 1)


def unit_square_mesh(n: int, comm=None):
    """The triangulation of (0,1)² on the n × n node grid, diagonals (x_i, y_j)–(x_{i+1}, y_{j+1})
    as in ``skfem.MeshTri.init_tensor``; raises if dolfinx produced anything else."""
    from mpi4py import MPI
    from dolfinx import mesh

    if n < 2:
        raise ValueError(f"need at least 2 nodes per axis, got {n}")
    comm = MPI.COMM_WORLD if comm is None else comm
    msh = mesh.create_unit_square(comm, n - 1, n - 1, cell_type=mesh.CellType.triangle,
                                  diagonal=mesh.DiagonalType.right)
    x = msh.geometry.x
    i, j = grid_index(x, n)
    x[:, 0], x[:, 1] = i / (n - 1), j / (n - 1)  # exactly the grid of skfem_backend
    ij, _ = _cell_vertices(msh, n)
    s = ij.sum(axis=-1)
    d = ij[:, 2] - ij[:, 0]
    ok = np.all(s == s[:, :1] + np.arange(3)) and np.all(d == 1)
    if not comm.allreduce(bool(ok), op=MPI.LAND):
        raise RuntimeError("dolfinx mesh does not have init_tensor's diagonals (i, j)-(i+1, j+1)")
    n_cells = comm.allreduce(msh.topology.index_map(2).size_local, op=MPI.SUM)
    if n_cells != 2 * (n - 1) ** 2:
        raise RuntimeError(f"expected {2 * (n - 1) ** 2} triangles, got {n_cells}")
    return msh


def reference_rule(intorder: int) -> tuple[np.ndarray, np.ndarray]:
    """basix's default rule of degree ``intorder`` on the reference triangle (weights sum to ½)."""
    import basix

    points, weights = basix.make_quadrature(basix.CellType.triangle, intorder)
    return np.asarray(points, dtype=float), np.asarray(weights, dtype=float)


# --- coefficients -----------------------------------------------------------------------------


def _dg0(msh, values: np.ndarray):
    """DG0 function with per-local-cell ``values`` (geometry dofmap order = cell order)."""
    from dolfinx import fem

    W = fem.FunctionSpace(msh, ("DG", 0))
    fn = fem.Function(W)
    dofs = W.dofmap.list.array.reshape(-1)
    fn.x.array[dofs] = values
    return fn


class NodeCoefficient:
    """A field given by (n, n) node values, held in a dolfinx Function that :meth:`set` refills in
    place — forms compiled with it can be reassembled for the next sample without recompiling.

    * ``"nodal"``: the P1 interpolant (a Function on the P1 space ``V``): dof k gets the value at
      its grid node;
    * ``"element"``: per triangle, the mean of its three vertex values (a DG0 Function).

    Both are "entity k gets the mean of the node values at ``vertices[k]``" (one vertex per P1
    dof, three per triangle), so :meth:`set` has one code path. Local entities include ghosts.
    """

    MODES = ("nodal", "element")

    def __init__(self, msh, V, n: int, mode: str = "nodal"):
        from dolfinx import fem

        if mode not in self.MODES:
            raise ValueError(f"node values: mode {mode!r} is not available; use {' or '.join(self.MODES)}")
        self.n = n
        if mode == "nodal":
            self.function = fem.Function(V)
            i, j = grid_index(V.tabulate_dof_coordinates(), n)
            self._vertices = np.stack([i, j], axis=-1)[:, None, :]  # (dofs, 1, 2)
            self._dofs = np.arange(len(i))
        else:
            W = fem.FunctionSpace(msh, ("DG", 0))
            self.function = fem.Function(W)
            self._vertices, _ = _cell_vertices(msh, n)  # (cells, 3, 2)
            self._dofs = W.dofmap.list.array.reshape(-1)

    def set(self, values) -> float:
        """Write the (n, n) node values; returns their minimum (all ranks hold the whole array)."""
        arr = np.asarray(values, dtype=float)
        if arr.shape != (self.n, self.n):
            raise ValueError(f"expected ({self.n}, {self.n}) node values, got shape {arr.shape}")
        v = self._vertices
        self.function.x.array[self._dofs] = arr[v[..., 0], v[..., 1]].mean(axis=1)
        return float(arr.min())


def _coefficient(a, msh, V, n: int, mode: str | None, rule, intorder: int):
    if callable(a):
        mode = mode or "quadrature"
        _, verts = _cell_vertices(msh, n)  # (c, 3, 2), ordered as init_tensor's vertices
        if mode == "quadrature":
            points, weights = reference_rule(intorder) if rule is None else map(np.asarray, rule)
            points = np.asarray(points, dtype=float).reshape(-1, 2)
            weights = np.asarray(weights, dtype=float).ravel()
            e1, e2 = verts[:, 1] - verts[:, 0], verts[:, 2] - verts[:, 0]
            phys = (verts[:, None, 0] + points[None, :, :1] * e1[:, None] + points[None, :, 1:] * e2[:, None])
            vals = np.broadcast_to(np.asarray(a(phys[..., 0], phys[..., 1]), dtype=float), phys.shape[:2])
            return _dg0(msh, vals @ weights / weights.sum()), vals.min()
        if mode == "element":
            c = verts.mean(axis=1)
            vals = np.asarray(a(c[:, 0], c[:, 1]), dtype=float) * np.ones(len(c))
            return _dg0(msh, vals), vals.min()
        raise ValueError(f"a: mode {mode!r} is not available for a callable; use quadrature or element")
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 0:
        from dolfinx import fem
        from petsc4py import PETSc

        return fem.Constant(msh, PETSc.ScalarType(float(arr))), float(arr)
    if arr.shape != (n, n):
        raise ValueError(f"a: expected a number, a callable or an ({n}, {n}) array, got shape {arr.shape}")
    mode = mode or "nodal"
    if mode not in NodeCoefficient.MODES:
        raise ValueError(f"a: mode {mode!r} is not available for node values; use nodal or element")
    coef = NodeCoefficient(msh, V, n, mode)
    return coef.function, coef.set(arr)


def _check_positive(a_min: float, comm, what: str = "a") -> None:
    from mpi4py import MPI

    if not comm.allreduce(bool(np.isfinite(a_min) and a_min > 0), op=MPI.LAND):
        raise ValueError(f"{what} must be finite and strictly positive")


# --- solve ------------------------------------------------------------------------------------

#: PETSc settings for the main package's linear-solver names (``fv.SOLVERS``); ``auto`` = direct.
PETSC_METHODS = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    "ldl": {"ksp_type": "preonly", "pc_type": "cholesky", "pc_factor_mat_solver_type": "mumps"},
    "amg": {"ksp_type": "cg", "pc_type": "hypre", "pc_hypre_type": "boomeramg",
            "ksp_norm_type": "unpreconditioned"},
}
METHODS = ("auto", *PETSC_METHODS)
DEFAULT_PETSC = PETSC_METHODS["direct"]


def petsc_options(method: str = "auto", rtol: float = 1e-10) -> dict:
    """PETSc options for a linear-solver name: ``auto``/``direct`` → LU, ``ldl`` → Cholesky
    (LDLᵀ), both by MUMPS; ``amg`` → CG preconditioned by hypre BoomerAMG, stopped at
    ‖b − A x‖₂ ≤ ``rtol`` ‖b‖₂ (unpreconditioned norm, as the main package's AMG-CG)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return {**PETSC_METHODS["direct" if method == "auto" else method], "ksp_rtol": float(rtol)}


def _linear_problem(msh, V, a_h, f_h, options: dict | None):
    """LinearProblem for ∫ a_h ∇u·∇v = ∫ f_h v, u = 0 on ∂Ω. Its forms are compiled once and
    each ``solve()`` reassembles A and b from the current a_h, f_h (for LU, PETSc then redoes
    only the numeric factorisation: the sparsity pattern is unchanged)."""
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import LinearProblem
    from petsc4py import PETSc

    facets = mesh.locate_entities_boundary(
        msh, 1, lambda x: np.isclose(x[0], 0) | np.isclose(x[0], 1) | np.isclose(x[1], 0) | np.isclose(x[1], 1))
    bc = fem.dirichletbc(PETSc.ScalarType(0), fem.locate_dofs_topological(V, 1, facets), V)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    return LinearProblem(a_h * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, f_h * v * ufl.dx,
                         bcs=[bc], petsc_options=dict(options or DEFAULT_PETSC))


def _solve(problem, comm) -> dict:
    """Assemble and solve; info: ranks, KSP reason/iterations, relative residual ‖b − A u‖/‖b‖
    of the solved system (b with the boundary rows set), wall seconds."""
    t0 = time.perf_counter()
    uh = problem.solve()
    seconds = time.perf_counter() - t0
    ksp = problem.solver
    r = problem.b.copy()
    problem.A.mult(uh.vector, r)
    r.axpy(-1.0, problem.b)
    return {"ranks": comm.size, "ksp_reason": int(ksp.getConvergedReason()),
            "ksp_iterations": int(ksp.getIterationNumber()),
            "residual": float(r.norm() / max(problem.b.norm(), 1e-300)), "seconds": seconds}


def _gather(uh, n: int, comm):
    """The (n, n) nodal array ``u[i, j] = u(x_i, y_j)`` on rank 0 (``None`` on other ranks)."""
    V = uh.function_space
    owned = V.dofmap.index_map.size_local  # block size 1
    coords = V.tabulate_dof_coordinates()[:owned]
    vals = uh.x.array[:owned].real.copy()
    parts = comm.gather((coords, vals), root=0)
    if comm.rank != 0:
        return None
    coords = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts])
    i, j = grid_index(coords, n)
    out = np.full((n, n), np.nan)
    out[i, j] = vals
    if len(vals) != n * n or np.isnan(out).any():
        raise RuntimeError("gathered dofs do not cover the n x n grid exactly once")
    return out


def _setup(n: int, comm):
    from mpi4py import MPI
    from dolfinx import fem

    comm = MPI.COMM_WORLD if comm is None else comm
    msh = unit_square_mesh(n, comm)
    return comm, msh, fem.FunctionSpace(msh, ("Lagrange", 1))


def _constant(msh, value: float):
    from dolfinx import fem
    from petsc4py import PETSc

    return fem.Constant(msh, PETSc.ScalarType(float(value)))


def solve_p1(a, f, n: int, coefficient: str | None = None, rule=None, intorder: int = 4,
             comm=None, petsc_options: dict | None = None, return_info: bool = False):
    """P1 solution on the n × n node grid mesh: (n, n) nodal array on rank 0, ``None`` on other
    ranks. ``rule``: (points, weights) on the reference triangle for ``"quadrature"``; default
    basix's degree-``intorder`` rule (scikit-fem's P1 default is degree 4 too, but another rule).
    With ``return_info`` returns ``(u, info)``; info: ranks, KSP reason/iterations, residual."""
    if coefficient is not None and coefficient not in COEFFICIENT_MODES:
        raise ValueError(f"coefficient must be one of {COEFFICIENT_MODES}, got {coefficient!r}")
    comm, msh, V = _setup(n, comm)
    a_h, a_min = _coefficient(a, msh, V, n, coefficient, rule, intorder)
    _check_positive(a_min, comm)
    if np.ndim(f) == 0:
        f_h = _constant(msh, f)
    else:
        f_arr = np.asarray(f, dtype=float)
        if f_arr.shape != (n, n):
            raise ValueError(f"f: expected a number or an ({n}, {n}) array, got shape {f_arr.shape}")
        f_coef = NodeCoefficient(msh, V, n, "nodal")
        f_coef.set(f_arr)
        f_h = f_coef.function
    problem = _linear_problem(msh, V, a_h, f_h, petsc_options)
    info = _solve(problem, comm)
    u = _gather(problem.u, n, comm)
    return (u, info) if return_info else u


def solve_p1_batch(a, f=1.0, coefficient: str = "nodal", comm=None, petsc_options: dict | None = None):
    """P1 solutions for a stack of node coefficients ``a`` (B, n, n), all on one mesh.

    The mesh, P1 space, boundary condition, compiled forms and the KSP are set up once; sample k
    writes ``a[k]`` (and ``f[k]``) into the coefficient Functions in place and re-solves, so the
    k-th solution is the one :func:`solve_p1` gives for ``a[k]`` alone. ``coefficient``:
    ``"nodal"`` (P1 interpolant of the node values) or ``"element"`` (vertex mean per triangle).
    ``f``: a number, (n, n) node values or a (B, n, n) stack (P1 interpolant).

    Returns ``(u, infos)``: u (B, n, n) on rank 0 (``None`` on other ranks), one info dict per
    sample (see :func:`solve_p1`, plus ``seconds``: assembly + solve of that sample).
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[0] < 1:
        raise ValueError(f"a: expected a (B, n, n) stack of node values, got shape {a.shape}")
    B, n = a.shape[0], a.shape[1]
    comm, msh, V = _setup(n, comm)
    a_coef = NodeCoefficient(msh, V, n, coefficient)
    if np.ndim(f) == 0:
        f_h, f_nodes = _constant(msh, f), None
    else:
        f_nodes = np.broadcast_to(np.asarray(f, dtype=float), (B, n, n))
        f_coef = NodeCoefficient(msh, V, n, "nodal")
        f_h = f_coef.function
    problem = _linear_problem(msh, V, a_coef.function, f_h, petsc_options)
    u = np.empty((B, n, n)) if comm.rank == 0 else None
    infos = []
    for k in range(B):
        _check_positive(a_coef.set(a[k]), comm, f"a[{k}]")
        if f_nodes is not None:
            f_coef.set(f_nodes[k])
        infos.append(_solve(problem, comm))
        uk = _gather(problem.u, n, comm)
        if comm.rank == 0:
            u[k] = uk
    return u, infos


# --- command line -----------------------------------------------------------------------------


def _run_case(args, comm) -> dict:
    a = CASES[args.case]
    coefficient = args.coefficient or "quadrature"
    if coefficient == "nodal":
        t = np.arange(args.n, dtype=float) / (args.n - 1)
        X, Y = np.meshgrid(t, t, indexing="ij")
        a = a(X, Y)
    rule = None
    if args.rule:
        with np.load(args.rule) as z:
            rule = (z["points"], z["weights"])
    u, info = solve_p1(a, 1.0, args.n, coefficient=coefficient, rule=rule, intorder=args.intorder,
                       comm=comm, petsc_options=petsc_options(args.method, args.rtol), return_info=True)
    info.pop("seconds")
    return {"u": u, "n": args.n, "case": args.case, "coefficient": coefficient,
            **{k: v for k, v in info.items() if k != "ranks"}}


def _run_batch(args, comm) -> dict:
    with np.load(args.batch) as z:
        a, f = z["a"], z["f"]
    coefficient = args.coefficient or "nodal"
    t0 = time.perf_counter()
    u, infos = solve_p1_batch(a, f if f.ndim else float(f), coefficient=coefficient, comm=comm,
                              petsc_options=petsc_options(args.method, args.rtol))
    total = time.perf_counter() - t0
    solve_seconds = np.array([i["seconds"] for i in infos])
    return {"u": u, "n": a.shape[1], "coefficient": coefficient, "method": args.method,
            "setup_seconds": total - solve_seconds.sum(), "solve_seconds": solve_seconds,
            **{k: np.array([i[k] for i in infos]) for k in ("residual", "ksp_reason", "ksp_iterations")}}


def main(argv=None) -> int:
    from mpi4py import MPI

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--case", choices=sorted(CASES), help="built-in test case (needs --n)")
    what.add_argument("--batch", help=".npz with 'a' (B, n, n) node coefficients and 'f' (number, "
                                      "(n, n) or (B, n, n)); writes 'u' (B, n, n)")
    p.add_argument("--n", type=int, help="nodes per axis (boundary included), for --case")
    p.add_argument("--coefficient", choices=COEFFICIENT_MODES,
                   help="default: quadrature for --case, nodal for --batch (which takes nodal or element)")
    p.add_argument("--intorder", type=int, default=4, help="basix rule degree for 'quadrature'")
    p.add_argument("--rule", help=".npz with 'points' (q, 2), 'weights' (q,) on the reference triangle")
    p.add_argument("--method", choices=METHODS, default="auto", help="linear solver (see petsc_options)")
    p.add_argument("--rtol", type=float, default=1e-10, help="relative residual for --method amg")
    p.add_argument("--out", required=True, help="output .npz (written by rank 0)")
    args = p.parse_args(argv)
    if args.case and args.n is None:
        p.error("--case needs --n")

    comm = MPI.COMM_WORLD
    t0 = time.perf_counter()
    result = _run_batch(args, comm) if args.batch else _run_case(args, comm)
    seconds = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    if comm.rank == 0:
        import dolfinx

        np.savez(args.out, ranks=comm.size, seconds=seconds, dolfinx_version=dolfinx.__version__, **result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
