r"""Steady Navier–Stokes around a body in a channel in DOLFINx 0.5 (Debian): the second backend.

The same discrete problem as :func:`pdeforge.generators.fem.ns.solve_steady` (scikit-fem), so the
two codes agree to solver tolerance, not merely to discretisation error:

* the same curved mesh: the quadratic (P2-geometry) triangles of the scikit-fem mesh, handed
  over as node coordinates (vertices, then one midpoint per edge) and cells in DOLFINx's P2
  triangle order (v0, v1, v2, then the nodes on the edges opposite v0, v1, v2);
* Taylor–Hood P2²/P1 on that isoparametric mesh, the gradient form of the viscous term and the
  do-nothing outflow, nodal P2 interpolant of the parabolic inflow, no slip elsewhere:
  find (u, p) with ρ((u·∇)u, v) + μ(∇u, ∇v) + γ(∇·u, ∇·v) − (p, ∇·v) − (q, ∇·u) = 0 (γ the
  grad-div weight, Pa s, ``--grad-div``; 0 by default);
* scikit-fem's quadrature rule (``--rule``: reference points and weights, passed to FFCx as a
  custom rule), since on curved elements the integrands are not polynomials;
* Newton's method (PETSc LU) from zero to an absolute residual below ``--tol``.

Drag and lift by the same volume-integral formula: F_d = −R(u, p; w_d), w_d the P2 function equal
to e_d at the body's nodes; c = 2F/(ρŪ²D), Ū = 2 U_max / 3. Δp = p(a) − p(b) at the two
``pressure_points`` (default (x_c ∓ r, y_c)). Boundaries are found geometrically (inlet x = 0,
outlet x = L, walls y = 0, H, the rest is the body: a cylinder or any obstacle).

Run by path in the dolfinx interpreter (imports nothing of pdeforge)::

    .venv-dolfinx/bin/python pdeforge/generators/fem/dolfinx_ns.py --mesh mesh.npz --rule rule.npz \
        --nu 1e-3 --rho 1 --u-max 0.3 --out result.npz

``mesh.npz``: ``x`` (n, 2) node coordinates, ``cells`` (m, 6), ``length``, ``height``,
``center`` (2,), ``radius``; optional ``diameter`` (reference length D, default 2r) and
``pressure_points`` (2, 2) (columns: the two points). ``rule.npz``: ``points`` (q, 2),
``weights`` (q,) on the reference triangle (0,0), (1,0), (0,1). ``result.npz``: ``c_D``, ``c_L``,
``delta_p``, ``newton_iterations``, ``dofs``, and the solution: ``u_coords`` (N, 2) / ``u`` (N, 2)
the velocity dofs' coordinates and values, ``p_coords`` (M, 2) / ``p`` (M,) the pressure's.
"""

from __future__ import annotations

import argparse

import numpy as np


def solve(mesh_file: str, rule_file: str, nu: float, rho: float, u_max: float, tol: float = 1e-11,
          grad_div: float = 0.0) -> dict:
    import ufl
    from dolfinx import fem, geometry
    from dolfinx import mesh as dmesh
    from dolfinx.fem.petsc import NonlinearProblem
    from dolfinx.nls.petsc import NewtonSolver
    from mpi4py import MPI
    from petsc4py import PETSc

    data = np.load(mesh_file)
    L, H = float(data["length"]), float(data["height"])
    xc, yc = (float(c) for c in data["center"])
    r = float(data["radius"])
    diameter = float(data["diameter"]) if "diameter" in data else 2.0 * r
    pts2 = np.asarray(data["pressure_points"], float) if "pressure_points" in data else \
        np.array([[xc - r, xc + r], [yc, yc]])
    rule = np.load(rule_file)
    md = {"quadrature_rule": "custom", "quadrature_points": np.asarray(rule["points"], float),
          "quadrature_weights": np.asarray(rule["weights"], float)}
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.triangle, 2))
    msh = dmesh.create_mesh(MPI.COMM_WORLD, np.asarray(data["cells"], np.int64), np.asarray(data["x"], float), domain)

    P2 = ufl.VectorElement("Lagrange", msh.ufl_cell(), 2)
    P1 = ufl.FiniteElement("Lagrange", msh.ufl_cell(), 1)
    W = fem.FunctionSpace(msh, ufl.MixedElement([P2, P1]))
    V, _ = W.sub(0).collapse()
    tdim = msh.topology.dim
    eps = 1e-8 * max(L, H)

    def on(f):
        return dmesh.locate_entities_boundary(msh, tdim - 1, f)

    inlet = on(lambda x: np.isclose(x[0], 0.0, atol=eps))
    walls = on(lambda x: np.isclose(x[1], 0.0, atol=eps) | np.isclose(x[1], H, atol=eps))
    cyl = on(lambda x: (x[0] > eps) & (x[0] < L - eps) & (x[1] > eps) & (x[1] < H - eps))

    g_in, g0 = fem.Function(V), fem.Function(V)
    g_in.interpolate(lambda x: np.vstack([4.0 * u_max * x[1] * (H - x[1]) / H**2, np.zeros_like(x[0])]))
    bcs = []
    for facets, g in ((inlet, g_in), (walls, g0), (cyl, g0)):
        dofs = fem.locate_dofs_topological((W.sub(0), V), tdim - 1, facets)
        bcs.append(fem.dirichletbc(g, dofs, W.sub(0)))

    mu = rho * nu
    w = fem.Function(W)
    u, p = ufl.split(w)
    v, q = ufl.TestFunctions(W)
    dx = ufl.dx(metadata=md)
    gamma = fem.Constant(msh, PETSc.ScalarType(grad_div))
    F = (rho * ufl.inner(ufl.grad(u) * u, v) + mu * ufl.inner(ufl.grad(u), ufl.grad(v))
         + gamma * ufl.div(u) * ufl.div(v) - p * ufl.div(v) - q * ufl.div(u)) * dx
    problem = NonlinearProblem(F, w, bcs=bcs, J=ufl.derivative(F, w))
    solver = NewtonSolver(MPI.COMM_WORLD, problem)
    solver.convergence_criterion = "residual"
    solver.atol, solver.rtol, solver.max_it = tol, 0.0, 25
    ksp = solver.krylov_solver
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    ksp.getPC().setFactorSolverType("mumps")
    its, converged = solver.solve(w)
    if not converged:
        raise RuntimeError("Newton did not converge")

    uh, ph = w.sub(0).collapse(), w.sub(1).collapse()
    # forces: F_d = -R(u, p; w_d), w_d = e_d at the cylinder's velocity nodes, 0 elsewhere
    cyl_dofs = fem.locate_dofs_topological(V, tdim - 1, cyl)
    bs = V.dofmap.index_map_bs
    forces = []
    for d in range(2):
        wd = fem.Function(V)
        wd.x.array[:] = 0.0
        wd.x.array[bs * cyl_dofs + d] = 1.0
        R = (rho * ufl.inner(ufl.grad(uh) * uh, wd) + mu * ufl.inner(ufl.grad(uh), ufl.grad(wd))
             + gamma * ufl.div(uh) * ufl.div(wd) - ph * ufl.div(wd)) * dx
        forces.append(-msh.comm.allreduce(fem.assemble_scalar(fem.form(R)), op=MPI.SUM))
    u_mean = 2.0 * u_max / 3.0
    scale = 2.0 / (rho * u_mean**2 * diameter)

    pts = np.array([[pts2[0, 0], pts2[1, 0], 0.0], [pts2[0, 1], pts2[1, 1], 0.0]])
    tree = geometry.BoundingBoxTree(msh, tdim)
    cells = geometry.compute_colliding_cells(msh, geometry.compute_collisions(tree, pts), pts)
    pv = [float(ph.eval(pts[i], cells.links(i)[:1])[0]) for i in range(2)]
    u_coords = uh.function_space.tabulate_dof_coordinates()[:, :2]
    p_coords = ph.function_space.tabulate_dof_coordinates()[:, :2]
    return dict(c_D=scale * forces[0], c_L=scale * forces[1], delta_p=pv[0] - pv[1], newton_iterations=int(its),
                dofs=int(W.dofmap.index_map.size_global * W.dofmap.index_map_bs),
                u_coords=u_coords, u=uh.x.array.reshape(-1, 2).copy(), p_coords=p_coords, p=ph.x.array.copy())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mesh", required=True)
    ap.add_argument("--rule", required=True)
    ap.add_argument("--nu", type=float, default=1e-3)
    ap.add_argument("--rho", type=float, default=1.0)
    ap.add_argument("--u-max", type=float, default=0.3)
    ap.add_argument("--tol", type=float, default=1e-11)
    ap.add_argument("--grad-div", type=float, default=0.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    res = solve(a.mesh, a.rule, a.nu, a.rho, a.u_max, a.tol, a.grad_div)
    np.savez(a.out, **res)
    print({k: v for k, v in res.items() if np.ndim(v) == 0})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
