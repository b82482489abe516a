r"""Elliptic solver backends by name: −∇·(a∇u) = f on (0,1)², u = 0 on ∂Ω, on the S × S node grid.

Every backend takes and returns the same things:

* ``a``: node values ``a[i, j] = a(x_i, y_j)``, ``x_i = i/(S−1)``, i = 0..S−1 (boundary included,
  axis 0 = x), finite and > 0; a batch is a (B, S, S) stack;
* ``f``: a number, (S, S) node values, or a (B, S, S) stack (batches);
* returns u at the same nodes (0 on the boundary rows) and one :class:`BackendInfo` per sample
  (backend, library and version, relative residual of the backend's own linear system, details).

They differ in how node values become a discrete operator (h = 1/(S−1)):

``fd`` (default; what FNO used)
    The 5-point scheme of :func:`pdeforge.generators.darcy_fd.solve_darcy`: unknowns at the interior
    nodes, flux between neighbouring nodes p, q with the face coefficient
    ``face_mean(a_p, a_q)`` (option ``face_mean``: arithmetic (a_p + a_q)/2, or harmonic), f
    sampled at the nodes.
``skfem_p1``
    Conforming P1 finite elements (scikit-fem, :mod:`pdeforge.generators.fem.skfem_backend`) on
    the S × S node grid, each square cut along its (x_i, y_j)–(x_{i+1}, y_{j+1}) diagonal: find
    u_h ∈ P1 ∩ H¹₀ with ∫ a_h ∇u_h·∇v = ∫ f_h v for all v, a_h and f_h the P1 interpolants of the
    node values (option ``coefficient="nodal"``; ``"element"``: a_h = mean of the three vertex
    values per triangle). Both integrands are polynomials of degree ≤ 2 and are integrated
    exactly (degree-2 rule), and since ∫_T a_h = |T| · (vertex mean) the two coefficient modes
    give the same stiffness matrix. On this mesh the P1 stiffness is itself a 5-point stencil
    (the diagonal edges couple nothing: ∇φ_p·∇φ_q = 0 across the hypotenuse of a right
    isosceles triangle), with face coefficient (2a_p + 2a_q + a_r + a_s)/6, r, s the vertices
    opposite the edge pq in its two triangles; and ∫φ_i = h² for an interior node. So for
    constant f, ``skfem_p1`` is ``fd`` with a six-weight face average instead of (a_p + a_q)/2
    (``tests/test_darcy_backends.py`` checks this to round-off); a nodal f enters through the
    P1 mass matrix instead of pointwise.
``dolfinx_p1``
    The same P1 problem assembled and solved by DOLFINx 0.5 + PETSc
    (:mod:`pdeforge.generators.fem.dolfinx_backend`) in the separate interpreter of
    ``make dolfinx`` (``.venv-dolfinx``; override with the environment variable
    ``PDEFORGE_DOLFINX_PYTHON``). Same mesh (checked there), same nodal P1 coefficient integrated
    exactly, so the same discrete solution as ``skfem_p1`` up to round-off. One subprocess per
    batch: mesh, forms (JIT) and solver are set up once and reused for every sample of the batch.

Options (keyword arguments; a backend refuses options it does not take): ``face_mean`` (fd),
``coefficient`` (nodal/element; P1 backends), ``method`` (linear solver: auto, direct, ldl, amg —
:data:`pdeforge.generators.fv.SOLVERS` for fd and skfem_p1, their PETSc counterparts for
dolfinx_p1, where ``auto`` means LU), ``rtol`` (relative residual of the iterative solver), and
``ranks`` (dolfinx_p1: MPI processes, via ``mpirun``).

Cost at the FNO solve grid (S = 421, 419² unknowns, a = ψ(GRF) samples of the Darcy card, f = 1,
batches of 4; 2-core machine shared with other jobs, BLAS/OpenMP at one thread; CPU seconds per
sample, dolfinx_p1 including its subprocess — interpreter start, mesh, JIT — amortised over the
batch): fd 0.55 s (AMG-CG); skfem_p1 1.3 s (mesh + assembly ≈ 0.8 s, AMG-CG ≈ 0.55 s);
dolfinx_p1 1.5 s with ``method="auto"`` (MUMPS LU, ≈ 1.3 s per re-factorisation after the
first) and 0.8 s with ``method="amg"`` (hypre BoomerAMG-CG); its per-batch setup is ≈ 1.5 s wall.
Without ``OPENBLAS_NUM_THREADS=1`` the pyamg-based solves took ≈ 4× the CPU time on this busy
machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pdeforge.datasets.cards import parse_choice
from pdeforge.errors import InvalidValueError
from pdeforge.generators.fem.dolfinx_env import (  # noqa: F401 (DOLFINX_ENV: re-exported)
    DOLFINX_ENV, BackendFailedError, BackendUnavailableError, check_dolfinx, dolfinx_python, dolfinx_status,
    dolfinx_version, run_checked,
)
from pdeforge.registry import Registry

__all__ = ["Backend", "BackendInfo", "BACKENDS", "BackendUnavailableError", "BackendFailedError",
           "get", "names", "taking", "solve", "solve_batch", "dolfinx_python", "dolfinx_status"]

DEFAULT = "fd"
LINEAR_METHODS = ["auto", "direct", "ldl", "amg"]
#: how the P1 backends turn node values of a into the FE coefficient (see the module docstring)
COEFFICIENTS = ["nodal", "element"]
#: repository root of a source checkout (pdeforge/generators/elliptic_backends.py → ../..)
ROOT = Path(__file__).resolve().parents[2]
DOLFINX_SCRIPT = Path(__file__).resolve().parent / "fem" / "dolfinx_backend.py"


@dataclass(frozen=True)
class BackendInfo:
    """Diagnostics of one solve. ``residual``: ‖b − A u‖₂/‖b‖₂ of the backend's linear system;
    ``library``: the software and version that assembled and solved it; ``details``:
    backend-specific (linear method, iterations, PETSc reason …)."""

    backend: str
    library: str
    residual: float
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "library": self.library, "residual": self.residual, **self.details}


#: ``run(a (B, S, S), f (float or (B, S, S)), **options) -> (u (B, S, S), [details with "residual"])``
Runner = Callable[..., tuple[np.ndarray, list[dict[str, Any]]]]


@dataclass(frozen=True)
class Backend:
    """A named solver. ``summary``: what it computes, a format string over ``S`` and the options;
    ``options``: option name → default; ``library()``: "name version" of the software that
    solves; ``check()`` raises :class:`BackendUnavailableError` when that software is missing."""

    name: str
    summary: str
    run: Runner
    options: Mapping[str, Any]
    library: Callable[[], str]
    check: Callable[[], None] = lambda: None

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults updated by ``given``; an option this backend does not take is an error."""
        for key in given:
            if key not in self.options:
                takers = ", ".join(taking(key)) or "none"
                raise InvalidValueError(
                    f"backend {self.name!r} takes no option {key!r} (its options: "
                    f"{', '.join(self.options)}; backends that take {key!r}: {takers})")
        return {**self.options, **given}

    def describe(self, S: int, **options) -> str:
        return self.summary.format(S=S, **self.resolve(options))


BACKENDS: Registry[Backend] = Registry("elliptic backend")


def get(name: str) -> Backend:
    """The backend ``name``; unknown names raise :class:`~pdeforge.errors.UnknownNameError`
    listing the known ones."""
    return BACKENDS.get(name)


def names() -> list[str]:
    return BACKENDS.names()


def _register(backend: Backend) -> Backend:
    return BACKENDS.register(backend.name)(backend)


def taking(option: str) -> list[str]:
    """Names of the backends that take ``option``."""
    return [n for n in BACKENDS.names() if option in BACKENDS.get(n).options]


# --- the common entry points ------------------------------------------------------------------


def _as_stack(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[1] < 3 or a.shape[0] < 1:
        raise ValueError(f"a must be a (B, S, S) stack of node values with S >= 3, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() <= 0:
        raise ValueError("a must be finite and strictly positive")
    return a


def _as_rhs(f, shape: tuple[int, int, int]) -> float | np.ndarray:
    """A number stays a float; node values become a read-only (B, S, S) view."""
    if np.ndim(f) == 0:
        return float(f)
    f = np.asarray(f, dtype=float)
    if f.shape not in (shape[1:], shape):
        raise ValueError(f"f must be a number, {shape[1:]} or {shape} node values, got shape {f.shape}")
    return np.broadcast_to(f, shape)


def _samples(f: float | np.ndarray, count: int) -> Iterator[float | np.ndarray]:
    """The right-hand side of each sample of a batch."""
    return (f for _ in range(count)) if np.ndim(f) == 0 else iter(f)


def solve_batch(backend: str, a, f=1.0, **options) -> tuple[np.ndarray, list[BackendInfo]]:
    """Solve −∇·(a_k∇u_k) = f_k, u_k = 0 on ∂Ω, for every a_k of the (B, S, S) stack ``a``
    with the backend named ``backend``; returns u (B, S, S) and B :class:`BackendInfo`."""
    b = get(backend)
    opts = b.resolve(options)
    a = _as_stack(a)
    f = _as_rhs(f, a.shape)
    b.check()
    u, details = b.run(a, f, **opts)
    library = b.library()
    infos = []
    for d in details:
        d = dict(d)
        infos.append(BackendInfo(b.name, library, float(d.pop("residual")), d))
    return u, infos


def solve(backend: str, a, f=1.0, **options) -> tuple[np.ndarray, BackendInfo]:
    """One (S, S) coefficient: u (S, S) and its :class:`BackendInfo` (see :func:`solve_batch`)."""
    u, infos = solve_batch(backend, np.asarray(a, dtype=float)[None], f, **options)
    return u[0], infos[0]


def _versions(*dists: str) -> str:
    """"name version" of each distribution, comma-separated."""
    return ", ".join(f"{d} {metadata.version(d)}" for d in dists)


#: what :func:`pdeforge.generators.fv.solve` may call (direct, amg, ldl)
LINEAR_SOLVER_DISTS = ("scipy", "pyamg", "qdldl")


# --- fd ---------------------------------------------------------------------------------------


def _each_sample(a: np.ndarray, f, solve_one: Callable) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Run ``solve_one(a_k, f_k) -> (u_k, fv.SolveInfo)`` over a batch; u (B, S, S) and details."""
    u = np.empty_like(a)
    details = []
    for k, fk in enumerate(_samples(f, len(a))):
        u[k], info = solve_one(a[k], fk)
        details.append({"residual": info.residual, "method": info.method, "iterations": info.iterations})
    return u, details


def _run_fd(a: np.ndarray, f, face_mean: str, method: str, rtol: float):
    from pdeforge.generators.darcy_fd import solve_darcy

    return _each_sample(a, f, lambda ak, fk: solve_darcy(ak, fk, mean=face_mean, method=method, rtol=rtol))


_register(Backend(
    name="fd",
    summary=("5-point finite differences on the {S}x{S} node grid, {face_mean} mean of the node "
             "coefficients on faces; linear solver {method}"),
    run=_run_fd,
    options={"face_mean": "arithmetic", "method": "auto", "rtol": 1e-10},
    library=lambda: _versions(*LINEAR_SOLVER_DISTS),
))


# --- skfem_p1 ---------------------------------------------------------------------------------


def _run_skfem_p1(a: np.ndarray, f, coefficient: str, method: str, rtol: float):
    from pdeforge.generators.fem.skfem_backend import solve_fem

    parse_choice("coefficient", coefficient, COEFFICIENTS)
    S = a.shape[1]

    def solve_one(ak, fk):
        # integrands a_h ∇φ·∇φ (degree ≤ 1) and f_h φ (degree 2): the degree-2 rule is exact
        sol = solve_fem(ak, fk, S, order=1, coefficient=coefficient, intorder=2, method=method, rtol=rtol)
        return sol.u, sol.info

    return _each_sample(a, f, solve_one)


_register(Backend(
    name="skfem_p1",
    summary=("P1 finite elements (scikit-fem) on the {S}x{S} node grid, squares cut along the "
             "(x_i, y_j)-(x_i+1, y_j+1) diagonal, coefficient {coefficient} (P1 interpolant of the "
             "node values), integrated exactly; u = nodal values; linear solver {method}"),
    run=_run_skfem_p1,
    options={"coefficient": "nodal", "method": "auto", "rtol": 1e-10},
    library=lambda: _versions("scikit-fem", *LINEAR_SOLVER_DISTS),
))


# --- dolfinx_p1 -------------------------------------------------------------------------------


def _check_dolfinx() -> None:
    check_dolfinx("dolfinx_p1")


def _run_checked(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    return run_checked(cmd, what)


def _dolfinx_version(py: str) -> str:
    return dolfinx_version(py, "dolfinx_p1")


def _mpi_prefix(ranks: int) -> list[str]:
    if int(ranks) < 1:
        raise InvalidValueError(f"ranks={ranks}: must be >= 1")
    if ranks == 1:
        return []
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise BackendUnavailableError(f"ranks={ranks} needs mpirun (Debian: openmpi-bin), which is not on PATH")
    root = ["--allow-run-as-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [mpirun, "-n", str(int(ranks)), "--oversubscribe", *root]


def _run_dolfinx_p1(a: np.ndarray, f, coefficient: str, method: str, rtol: float, ranks: int):
    parse_choice("coefficient", coefficient, COEFFICIENTS)
    parse_choice("method", method, LINEAR_METHODS)
    with tempfile.TemporaryDirectory(prefix="pdeforge-dolfinx-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, a=a, f=np.asarray(f, dtype=float))
        cmd = [*_mpi_prefix(ranks), str(dolfinx_python()), str(DOLFINX_SCRIPT), "--batch", str(src),
               "--out", str(dst), "--coefficient", coefficient, "--method", method, "--rtol", repr(float(rtol))]
        _run_checked(cmd, "dolfinx_p1")
        with np.load(dst) as z:
            u = z["u"]
            per_sample = {k: z[k] for k in ("residual", "ksp_reason", "ksp_iterations", "solve_seconds")}
            shared = {"ranks": int(z["ranks"]), "setup_seconds": float(z["setup_seconds"])}
    if u.shape != a.shape:
        raise BackendFailedError(f"dolfinx_p1 returned u of shape {u.shape} for a of shape {a.shape}")
    details = [{**{k: v[i].item() for k, v in per_sample.items()}, **shared} for i in range(len(a))]
    for i, d in enumerate(details):
        if d["ksp_reason"] <= 0:
            raise BackendFailedError(f"dolfinx_p1: PETSc did not converge on sample {i} of the batch: {d}")
    return u, details


_register(Backend(
    name="dolfinx_p1",
    summary=("P1 finite elements (DOLFINx + PETSc, separate interpreter) on the {S}x{S} node grid, "
             "squares cut along the (x_i, y_j)-(x_i+1, y_j+1) diagonal, coefficient {coefficient} "
             "(P1 interpolant of the node values), integrated exactly; u = nodal values; linear "
             "solver {method} (auto = LU by MUMPS) on {ranks} MPI rank(s)"),
    run=_run_dolfinx_p1,
    options={"coefficient": "nodal", "method": "auto", "rtol": 1e-10, "ranks": 1},
    library=lambda: _dolfinx_version(str(dolfinx_python())),
    check=_check_dolfinx,
))
