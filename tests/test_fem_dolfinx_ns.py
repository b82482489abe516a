"""DOLFINx 0.5.2 (Debian) against scikit-fem: steady Navier–Stokes around the DFG cylinder.

The same discrete problem in both codes (pdeforge/generators/fem/dolfinx_ns.py says how): the
same curved P2-geometry mesh, Taylor–Hood P2/P1, scikit-fem's quadrature rule handed to FFCx as
a custom rule, Newton to a residual of 1e-11 in both. So c_D, c_L and Δp agree to solver
tolerance (measured: 6e-15, 1.3e-12 and 2e-15 relative on the h = 0.08 DFG mesh), not merely to
discretisation error. dolfinx runs in its own interpreter (``make dolfinx``; override with
``PDEFORGE_DOLFINX_PYTHON``); the module skips without it.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.dolfinx

ROOT = Path(__file__).resolve().parents[1]
PY = Path(os.environ.get("PDEFORGE_DOLFINX_PYTHON", ROOT / ".venv-dolfinx" / "bin" / "python"))
SCRIPT = ROOT / "pdeforge" / "generators" / "fem" / "dolfinx_ns.py"


def _dolfinx_ok() -> str | None:
    if not PY.exists():
        return f"{PY} not found (run `make dolfinx`)"
    r = subprocess.run([str(PY), "-c", "import dolfinx"], capture_output=True, text=True, timeout=120)
    return None if r.returncode == 0 else f"{PY} cannot import dolfinx: {r.stderr.strip()[-300:]}"


_why = _dolfinx_ok()
if _why:
    pytest.skip(_why, allow_module_level=True)

from skfem import MeshTri1  # noqa: E402
from skfem.quadrature import get_quadrature  # noqa: E402
from skfem.refdom import RefTri  # noqa: E402

from pdeforge.generators.fem.ns import DFG, ParabolicInflow, dfg_mesh, solve_steady  # noqa: E402


def dolfinx_cells(cm) -> np.ndarray:
    """(m, 6) cells of the P2-geometry mesh in DOLFINx's order: v0, v1, v2, then the nodes on the
    edges opposite v0, v1, v2 (scikit-fem numbers edge nodes n_vertices + facet index)."""
    nv = cm.n_vertices
    t = cm.mesh.t
    lin = MeshTri1(cm.mesh.doflocs[:, :nv], t)
    key = {tuple(sorted(e)): i for i, e in enumerate(lin.facets.T.tolist())}

    def mid(a, b):
        return np.array([nv + key[tuple(sorted((x, y)))] for x, y in zip(a.tolist(), b.tolist())])

    return np.vstack([t[0], t[1], t[2], mid(t[1], t[2]), mid(t[0], t[2]), mid(t[0], t[1])]).T


def test_edge_nodes_are_numbered_by_facet():
    cm = dfg_mesh(h=0.08)
    cells = dolfinx_cells(cm)
    x = cm.mesh.doflocs
    # on straight elements the edge node is the midpoint of the edge it names
    centre = np.asarray(DFG.center)[:, None]
    straight = np.linalg.norm(x[:, cells[:, :3]].mean(axis=2) - centre, axis=0) > 3 * DFG.radius
    for k, (a, b) in zip(range(3, 6), ((1, 2), (0, 2), (0, 1))):
        np.testing.assert_allclose(x[:, cells[straight, k]], 0.5 * (x[:, cells[straight, a]] + x[:, cells[straight, b]]),
                                   atol=1e-14)


def test_dfg_2d1_agrees_with_scikit_fem_to_solver_tolerance(tmp_path):
    cm = dfg_mesh(h=0.08)
    mesh = tmp_path / "mesh.npz"
    np.savez(mesh, x=cm.mesh.doflocs.T, cells=dolfinx_cells(cm), length=DFG.length, height=DFG.height,
             center=np.asarray(DFG.center), radius=DFG.radius)
    X, W = get_quadrature(RefTri, 5)  # scikit-fem's rule at the solver's intorder
    rule = tmp_path / "rule.npz"
    np.savez(rule, points=X.T, weights=W)
    out = tmp_path / "result.npz"
    r = subprocess.run([str(PY), str(SCRIPT), "--mesh", str(mesh), "--rule", str(rule), "--nu", "1e-3", "--rho", "1",
                        "--u-max", "0.3", "--out", str(out)], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    got = np.load(out)
    sol = solve_steady(cm, nu=1e-3, rho=1.0, inflow=ParabolicInflow(0.3, DFG.height))
    print({k: (float(got[k]), sol.info[k]) for k in ("c_D", "c_L", "delta_p")})
    assert int(got["dofs"]) == sol.info["n_dofs"]
    assert abs(float(got["c_D"]) / sol.info["c_D"] - 1) < 1e-9
    assert abs(float(got["c_L"]) / sol.info["c_L"] - 1) < 1e-8
    assert abs(float(got["delta_p"]) / sol.info["delta_p"] - 1) < 1e-9
    # and both are the DFG 2D-1 flow on this coarse mesh
    assert abs(float(got["c_D"]) / 5.5795 - 1) < 0.01
