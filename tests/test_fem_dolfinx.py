"""DOLFINx (0.5.2, Debian) P1 against scikit-fem P1, itself under MPI, and the FD Darcy solver.

dolfinx runs in its own interpreter (``make dolfinx`` → ``.venv-dolfinx``; override with
``PDEFORGE_DOLFINX_PYTHON``): every solve here is a subprocess
``python pdeforge/generators/fem/dolfinx_backend.py ... --out X.npz``. The module skips when that
interpreter is absent or cannot import dolfinx.

Same discrete problem in both FE codes: the same mesh (init_tensor's diagonals, checked by the
backend) and the same coefficient quadrature — scikit-fem's reference rule is written to a file
and handed to dolfinx (``--rule``), or the coefficient is nodal (P1, integrated exactly by both).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.dolfinx

skfem = pytest.importorskip("skfem")

ROOT = Path(__file__).resolve().parents[1]
PY = Path(os.environ.get("PDEFORGE_DOLFINX_PYTHON", ROOT / ".venv-dolfinx" / "bin" / "python"))
# Run by file path, not `-m`: `-m` imports the parent package pdeforge.generators, whose families
# need the main environment (scipy, torch, ...); the backend module itself needs none of them.
SCRIPT = ROOT / "pdeforge" / "generators" / "fem" / "dolfinx_backend.py"


def _dolfinx_ok() -> str | None:
    if not PY.exists():
        return f"{PY} not found (run `make dolfinx`)"
    r = subprocess.run([str(PY), "-c", "import dolfinx"], capture_output=True, text=True, timeout=120)
    return None if r.returncode == 0 else f"{PY} cannot import dolfinx: {r.stderr.strip()[-300:]}"


_why = _dolfinx_ok()
if _why:
    pytest.skip(_why, allow_module_level=True)

from skfem.quadrature import get_quadrature  # noqa: E402
from skfem.refdom import RefTri  # noqa: E402

from pdeforge.generators.darcy_fd import node_coords, solve_darcy  # noqa: E402
from pdeforge.generators.fem.skfem_backend import solve_p1  # noqa: E402

# The backend's cases, repeated here (main interpreter): f ≡ 1.
pi, sin, cos = np.pi, np.sin, np.cos


def a_smooth(x, y):
    return 1.0 + 0.5 * sin(2 * pi * x) * cos(pi * y)


def a_jump(x, y):
    g = (0.6 * cos(pi * x) * cos(2 * pi * y) + 0.5 * cos(2 * pi * x + 0.3) * cos(pi * y + 0.7)
         + 0.15 * sin(3 * pi * x * y) + 0.05)
    return np.where(g >= 0.0, 12.0, 3.0)


CASES = {"smooth": a_smooth, "jump": a_jump}
INTORDER = {"smooth": 4, "jump": 6}


def grid(n):
    return np.meshgrid(node_coords(n), node_coords(n), indexing="ij")


def run_dolfinx(tmp_path, n, case, coefficient="quadrature", intorder=None, ranks=1):
    """u (n, n) and the backend's metadata from a dolfinx subprocess (``ranks`` MPI processes)."""
    out = tmp_path / f"u_{case}_{coefficient}_{n}_{ranks}.npz"
    cmd = [str(PY), str(SCRIPT), "--n", str(n), "--case", case, "--coefficient", coefficient, "--out", str(out)]
    if coefficient == "quadrature":
        X, W = get_quadrature(RefTri, intorder or INTORDER[case])  # scikit-fem's rule
        rule = tmp_path / f"rule_{intorder or INTORDER[case]}.npz"
        np.savez(rule, points=X.T, weights=W)
        cmd += ["--rule", str(rule)]
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            pytest.skip("mpirun not found")
        extra = ["--allow-run-as-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        cmd = [mpirun, "-n", str(ranks), "--oversubscribe", *extra, *cmd]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("OMP_NUM_THREADS", "1")
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    with np.load(out) as z:
        meta = {k: z[k].item() for k in z.files if k != "u"}
        u = z["u"]
    assert u.shape == (n, n) and meta["ranks"] == ranks
    assert meta["ksp_reason"] > 0 and meta["residual"] < 1e-10, meta
    return u, meta


def rel_max(u, ref):
    return np.abs(u - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("case", ["smooth", "jump"])
@pytest.mark.parametrize("coefficient", ["quadrature", "nodal", "element"])
def test_dolfinx_p1_equals_skfem_p1(tmp_path, case, coefficient):
    """Same mesh, same coefficient quadrature → the same discrete solution (to round-off)."""
    n = 33
    a = CASES[case]
    if coefficient == "quadrature":
        ref = solve_p1(a, 1.0, n, intorder=INTORDER[case])
    elif coefficient == "nodal":
        X, Y = grid(n)
        ref = solve_p1(a(X, Y), 1.0, n, coefficient="nodal")
    else:  # callable at the triangle centroids
        ref = solve_p1(a, 1.0, n, coefficient="element")
    u, _ = run_dolfinx(tmp_path, n, case, coefficient)
    assert np.all(u[[0, -1], :] == 0) and np.all(u[:, [0, -1]] == 0)
    assert rel_max(u, ref) < 1e-12, rel_max(u, ref)


def test_quadrature_rule_matters(tmp_path):
    """Guard against a vacuous comparison: with a different rule (basix's degree-2) the jump
    solutions differ well above round-off — so the test above really compares the same problem."""
    n = 33
    ref = solve_p1(a_jump, 1.0, n, intorder=INTORDER["jump"])
    u, _ = run_dolfinx(tmp_path, n, "jump", "quadrature", intorder=2)
    assert rel_max(u, ref) > 1e-6


@pytest.mark.parametrize("case", ["smooth", "jump"])
def test_mpi_two_ranks_reproduce_serial(tmp_path, case):
    n = 33
    serial, _ = run_dolfinx(tmp_path, n, case)
    parallel, meta = run_dolfinx(tmp_path, n, case, ranks=2)
    assert rel_max(parallel, serial) < 1e-12, rel_max(parallel, serial)


@pytest.mark.parametrize("case", ["smooth", "jump"])
def test_fd_and_dolfinx_p1_agree_to_discretisation_error(tmp_path, capsys, case):
    """FD (arithmetic face means, the Darcy family's solver) vs dolfinx P1 on the common 33-grid
    nodes: the difference shrinks with h — about second order for the smooth coefficient, about
    first order for the jump."""
    diffs = []
    for n in (33, 65, 129):
        X, Y = grid(n)
        u_fd, _ = solve_darcy(CASES[case](X, Y), 1.0)
        u_fe, _ = run_dolfinx(tmp_path, n, case)
        r = (n - 1) // 32
        diffs.append(rel_max(u_fd[::r, ::r], u_fe[::r, ::r]))
    rates = np.log2(np.array(diffs[:-1]) / np.array(diffs[1:]))
    with capsys.disabled():
        print(f"\n[{case}] |u_FD - u_P1(dolfinx)| / max|u| at n = 33, 65, 129:",
              ", ".join(f"{d:.2e}" for d in diffs), "; rates", ", ".join(f"{q:.2f}" for q in rates),
              file=sys.stderr)
    assert diffs[0] > diffs[1] > diffs[2]
    if case == "smooth":
        assert np.all(rates > 1.7) and diffs[0] < 5e-3, (diffs, rates)
    else:
        assert diffs[2] < 0.25 * diffs[0] and diffs[2] < 1e-2, diffs
