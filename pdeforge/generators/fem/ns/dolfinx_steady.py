r"""Steady Navier–Stokes through DOLFINx 0.5 on the same discrete problem: the second backend.

:func:`solve_steady_dolfinx` takes the :class:`~.solver.Spaces` of a scikit-fem solve and hands
DOLFINx (``pdeforge/generators/fem/dolfinx_ns.py``, run by path in the dolfinx interpreter,
:mod:`pdeforge.generators.fem.dolfinx_env`) the same problem: the same curved P2-geometry mesh
(:func:`dolfinx_cells`: the cells in DOLFINx's node order), Taylor–Hood P2/P1, scikit-fem's
quadrature rule at the spaces' ``intorder`` as a custom FFCx rule, the same parabolic inflow,
grad-div weight, force and Δp definitions. It maps DOLFINx's solution back onto scikit-fem's
coefficient numbering (the velocity dofs of P2 on a P2 mesh are the geometry nodes, the
pressure dofs the vertices: matched by coordinates), so everything downstream — the grid view,
the mesh fields, the divergence — is computed by the same code for both backends, and the two
agree to solver tolerance (tests/test_fem_dolfinx_ns.py).

Newton runs from zero to a 2-norm of the residual below ``tol · ρŪ²`` (N/m), which implies
scikit-fem's criterion (max-norm / ρŪ² below ``tol``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .solver import ParabolicInflow, Solution, Spaces

SCRIPT = Path(__file__).resolve().parents[1] / "dolfinx_ns.py"


def dolfinx_cells(cm) -> np.ndarray:
    """(m, 6) cells of the P2-geometry mesh in DOLFINx's order: v0, v1, v2, then the nodes on the
    edges opposite v0, v1, v2 (scikit-fem numbers edge nodes n_vertices + facet index)."""
    from skfem import MeshTri1

    nv = cm.n_vertices
    t = cm.mesh.t
    lin = MeshTri1(cm.mesh.doflocs[:, :nv], t)
    key = {tuple(sorted(e)): i for i, e in enumerate(lin.facets.T.tolist())}

    def mid(a, b):
        return np.array([nv + key[tuple(sorted((x, y)))] for x, y in zip(a.tolist(), b.tolist())])

    return np.vstack([t[0], t[1], t[2], mid(t[1], t[2]), mid(t[0], t[2]), mid(t[0], t[1])]).T


def match_points(ours: np.ndarray, theirs: np.ndarray, what: str) -> np.ndarray:
    """Index ``j`` with ``theirs[j[i]] == ours[:, i]`` (to 1e-9 of the domain size); ``ours``
    (2, n), ``theirs`` (n, 2)."""
    from scipy.spatial import cKDTree

    scale = float(np.ptp(ours, axis=1).max()) or 1.0
    dist, j = cKDTree(theirs).query(ours.T)
    if ours.shape[1] != theirs.shape[0] or dist.max() > 1e-9 * scale or np.unique(j).size != j.size:
        raise RuntimeError(f"dolfinx's {what} dofs do not match scikit-fem's ({theirs.shape[0]} vs "
                           f"{ours.shape[1]}, worst distance {dist.max():.3g} m)")
    return j


def solve_steady_dolfinx(S: Spaces, nu: float, rho: float, inflow: ParabolicInflow, tol: float = 1e-10,
                         grad_div: float = 0.0) -> Solution:
    """The steady flow on spaces ``S`` by DOLFINx (module docstring); ``info`` as
    :func:`~.solver.solve_steady`'s (c_D, c_L, delta_p, newton_iterations, n_dofs) plus
    ``backend`` (the dolfinx and petsc4py versions) and the wall seconds of the subprocess."""
    from skfem.quadrature import get_quadrature
    from skfem.refdom import RefTri

    from pdeforge.generators.fem.dolfinx_env import check_dolfinx, dolfinx_python, dolfinx_version, run_checked

    check_dolfinx("dolfinx")
    py = str(dolfinx_python())
    cm = S.cmesh
    geo = cm.geometry
    if hasattr(geo, "pressure_points"):
        pts = geo.pressure_points()
    else:
        pts = np.array([[geo.center[0] - geo.radius, geo.center[0] + geo.radius], [geo.center[1]] * 2])
    u_ref = 2.0 * inflow.u_max / 3.0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pdeforge-dolfinx-") as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "mesh.npz", x=cm.mesh.doflocs.T, cells=dolfinx_cells(cm), length=geo.length, height=geo.height,
                 center=np.asarray(geo.center, float), radius=geo.radius, diameter=geo.diameter, pressure_points=pts)
        X, W = get_quadrature(RefTri, S.intorder)
        np.savez(tmp / "rule.npz", points=X.T, weights=W)
        cmd = [py, str(SCRIPT), "--mesh", str(tmp / "mesh.npz"), "--rule", str(tmp / "rule.npz"), "--nu", repr(nu),
               "--rho", repr(rho), "--u-max", repr(inflow.u_max), "--tol", repr(tol * rho * u_ref**2),
               "--grad-div", repr(grad_div), "--out", str(tmp / "result.npz")]
        run_checked(cmd, "dolfinx (steady Navier-Stokes)", cwd=tmp)
        with np.load(tmp / "result.npz") as f:
            got = {k: f[k] for k in f.files}
    wall = time.perf_counter() - t0
    n_geo = cm.mesh.doflocs.shape[1]
    ju = match_points(cm.mesh.doflocs, got["u_coords"], "velocity")
    U = np.empty(S.n_u)
    U[0: 2 * n_geo: 2], U[1: 2 * n_geo: 2] = got["u"][ju, 0], got["u"][ju, 1]
    jp = match_points(S.basis_p.doflocs, got["p_coords"], "pressure")
    P = np.asarray(got["p"], float)[jp]
    info = dict(c_D=float(got["c_D"]), c_L=float(got["c_L"]), delta_p=float(got["delta_p"]),
                newton_iterations=int(got["newton_iterations"]), n_dofs=int(got["dofs"]), nu=nu, rho=rho, u_ref=u_ref,
                grad_div=grad_div, backend=dolfinx_version(py, "dolfinx"), wall_s=wall, mesh_hash=cm.hash)
    return Solution(spaces=S, U=U, P=P, info=info)
