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
from pdeforge.generators.fem.ns.dolfinx_steady import dolfinx_cells, solve_steady_dolfinx  # noqa: E402


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


def test_obstacle_with_grad_div_agrees_field_by_field():
    # a rotated backward triangle (corners, no symmetry), grad-div on: the whole solution, mapped
    # back onto scikit-fem's numbering, agrees to solver tolerance (measured 2e-14 / 4e-14)
    from pdeforge.datasets.family import effective_card
    from pdeforge.generators import obstacle as ob

    card = effective_card("obstacle", {"h": "0.08", "h_obstacle": "0.15"})[0]
    p = dict(shape="triangle_backward", size=0.2, center_x=0.5, center_y=0.35, rotation=20.0, inlet_velocity=0.1,
             density=1.0, viscosity=1e-3)
    S = ob.case_spaces(card, p)
    inflow, gamma = ParabolicInflow(0.15, 0.79), 0.1 * 0.2
    a = solve_steady(S, nu=1e-3, rho=1.0, inflow=inflow, tol=1e-10, grad_div=gamma)
    b = solve_steady_dolfinx(S, nu=1e-3, rho=1.0, inflow=inflow, tol=1e-10, grad_div=gamma)
    assert np.abs(a.U - b.U).max() < 1e-9 * np.abs(a.U).max()
    assert np.abs(a.P - b.P).max() < 1e-9 * np.abs(a.P).max()
    for k in ("c_D", "c_L", "delta_p"):
        assert abs(b.info[k] / a.info[k] - 1) < 1e-9, k
    assert b.info["backend"].startswith("dolfinx 0.5")


def test_card_selects_the_dolfinx_backend(tmp_path):
    # `pdeforge solve obstacle backend=dolfinx` writes the same case as the default backend, to
    # solver tolerance, and records which code solved it
    import xarray as xr

    from pdeforge.cli import main

    args = ["solve", "obstacle", "shape=rhombus", "size=0.15", "rotation=10", "h=0.08", "h_obstacle=0.15"]
    assert main([*args, "--out", str(tmp_path / "skfem.nc")]) == 0
    assert main([*args, "backend=dolfinx", "--out", str(tmp_path / "dolfinx.nc")]) == 0
    a, b = xr.open_dataset(tmp_path / "skfem.nc"), xr.open_dataset(tmp_path / "dolfinx.nc")
    assert a.attrs["backend"] == "skfem" and b.attrs["backend"] == "dolfinx"
    for k in ("ux", "uy", "p", "u_mesh", "p_mesh"):
        scale = float(np.abs(a[k]).max())
        assert float(np.abs(a[k] - b[k]).max()) <= 1e-6 * scale, k  # float32 storage
    assert float(abs(a["c_D"] / b["c_D"] - 1).max()) < 1e-9
    np.testing.assert_array_equal(a["mesh_sha256"].values, b["mesh_sha256"].values)
