"""Cell-centred finite-volume discretisation of the ConDiff diffusion problem.

Problem
-------
Find ``u`` on the unit square ``Omega = (0, 1)^2`` with

    -div(k grad u) = f   in Omega,        u = 0   on the boundary,

where ``k > 0`` is the diffusion coefficient.  Everything is dimensionless:
lengths are fractions of the side of the square, and ``k``, ``f`` and ``u``
carry no physical units.

Geometry (grid size ``n``, spacing ``h = 1 / (n + 1)``)
------------------------------------------------------
* Unknowns ``u[i, j]`` live at the interior points ``x = (i + 1) h``,
  ``y = (j + 1) h`` for ``i, j = 0 .. n-1`` (:func:`interior_coords`).
* The coefficient is an ``(n + 1) x (n + 1)`` array; ``k[a, b]`` is the value
  at ``x = (a + 1/2) h``, ``y = (b + 1/2) h`` for ``a, b = 0 .. n``
  (:func:`coefficient_coords`).
* Array axis 0 is ``x`` and axis 1 is ``y`` for ``u``, ``f`` and ``k``.
  Unknowns are numbered in C order of the ``(n, n)`` array:
  ``index = i * n + j``.

Scheme
------
The control volume of ``u[i, j]`` is the square
``[(i + 1/2) h, (i + 3/2) h] x [(j + 1/2) h, (j + 3/2) h]``; the four
coefficient samples ``k[i, j]``, ``k[i+1, j]``, ``k[i, j+1]``, ``k[i+1, j+1]``
sit at its corners.  Each face gets the mean of the two samples at its ends::

    east  (to i+1): (k[i+1, j] + k[i+1, j+1]) / 2
    west  (to i-1): (k[i,   j] + k[i,   j+1]) / 2
    north (to j+1): (k[i, j+1] + k[i+1, j+1]) / 2
    south (to j-1): (k[i,   j] + k[i+1, j  ]) / 2

Row ``(i, j)`` of the matrix has ``-(face coefficient)`` in the column of each
interior neighbour and the sum of all four face coefficients on the diagonal
(boundary faces included: the Dirichlet value ``u = 0`` lies one ``h`` away,
so boundary neighbours simply drop out of the off-diagonal part).  The whole
matrix is multiplied by ``(n + 1)^2 = 1 / h^2``, so the discrete system is
``A u = f`` with ``f`` sampled at the unknowns.  ``A`` is symmetric positive
definite (a weighted graph Laplacian plus a positive boundary term), and the
scheme is second-order accurate in ``h`` for smooth solutions.  For a
coefficient that jumps across a straight line it stays second order when the
line passes through a row of unknowns (e.g. a jump at ``x = 1/2`` with odd
``n``), but drops to first order when a row of ``k`` samples lies on the jump
(even ``n``), because that face then gets the one-sided value instead of the
harmonic mean (see ``tests/test_fv.py``).

Performance (measured on a 2-core CPU; numpy 2.4, scipy 1.17, pyamg 5.4)
------------------------------------------------------------------------
Coefficient ``k = exp(g)`` with ``g`` a smooth Gaussian random field scaled to
``max(g) - min(g) = 11`` (contrast ``k_max / k_min`` about 6e4), ``f = 1``,
``rtol = 1e-10``.  Per-call CPU time (best of 5-200 calls, BLAS limited to one
thread with ``OPENBLAS_NUM_THREADS=1``; the machine was shared with other
jobs, so CPU time is more trustworthy than wall time here):

=================================  =======  =======  =======  =======  =======
step                                n=64    n=128    n=256    n=384    n=512
=================================  =======  =======  =======  =======  =======
:func:`condiff_matrix`              0.18 ms  0.58 ms  2.4 ms
naive loop assembly (benchmarks/)   10 ms    42 ms    166 ms
``"direct"`` (``splu``, MMD)        6.0 ms   32 ms    214 ms   580 ms   1230 ms
``spsolve`` (default COLAMD)        8.5 ms   46 ms    259 ms
``"amg"`` (SA setup + PCG)          17 ms    52 ms    225 ms   605 ms   870 ms
PCG iterations with AMG             11       11       15       16       12
=================================  =======  =======  =======  =======  =======

Decisions taken from these numbers:

* ``"direct"`` uses ``scipy.sparse.linalg.splu`` with the ``MMD_AT_PLUS_A``
  ordering and symmetric-mode pivoting: 20-30 % faster than ``spsolve`` with
  its default ordering at ``n = 64`` and ``128``.
* The smoothed-aggregation setup is paid again for every new coefficient, so
  the direct solver is faster up to ``n = 256`` and level at ``n = 384``;
  AMG wins from ``n = 512``.  ``"auto"`` uses the direct solver up to
  :data:`DIRECT_MAX_UNKNOWNS` ``= 384**2`` unknowns and AMG above.

Threading caveat: pyamg's setup and CG spend much of their time in small
BLAS calls.  With OpenBLAS's default multithreading on a busy machine these
became 10-40x slower (e.g. 0.3-5 s instead of 0.05 s per AMG solve at
``n = 128``), while the direct solver was unaffected.  When generating data
in parallel worker processes, set ``OPENBLAS_NUM_THREADS=1`` (or use
``threadpoolctl``) in the workers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = [
    "DIRECT_MAX_UNKNOWNS",
    "MAX_ACCEPTED_RESIDUAL",
    "SOLVERS",
    "SolveError",
    "SolveInfo",
    "coefficient_coords",
    "condiff_matrix",
    "five_point_matrix",
    "interior_coords",
    "solve",
    "solve_condiff",
]

#: ``"auto"`` picks the direct solver for systems with at most this many
#: unknowns (grids up to ``n = 384``) and AMG-preconditioned CG above it.
#: Measured: direct is faster than AMG at n = 64, 128, 256, level at n = 384,
#: slower at n = 512 (see module docstring).
DIRECT_MAX_UNKNOWNS = 384 * 384

#: A solution whose relative residual ``||b - A x|| / ||b||`` exceeds this is
#: rejected with :class:`SolveError` instead of being returned.
MAX_ACCEPTED_RESIDUAL = 1e-6


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------


def interior_coords(n: int) -> np.ndarray:
    """Coordinates ``(i + 1) h``, ``i = 0 .. n-1``, of the unknowns along one axis.

    ``h = 1 / (n + 1)``; dimensionless (the domain is the unit square).  The
    same vector serves for ``x`` (array axis 0) and ``y`` (axis 1).
    """
    n = _check_grid_size(n)
    return np.arange(1, n + 1, dtype=float) / (n + 1)


def coefficient_coords(n: int) -> np.ndarray:
    """Coordinates ``(a + 1/2) h``, ``a = 0 .. n``, of the ``k`` samples along one axis.

    ``h = 1 / (n + 1)``; dimensionless.  For an ``(n, n)`` grid of unknowns
    the coefficient array has shape ``(n + 1, n + 1)``; these are the cell
    corners of the control volumes.
    """
    n = _check_grid_size(n)
    return (np.arange(n + 1, dtype=float) + 0.5) / (n + 1)


def _check_grid_size(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"grid size n must be a positive integer, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------
# assembly
# --------------------------------------------------------------------------


def _validate_coefficient(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(
            f"k must be a square 2-D array of shape (n + 1, n + 1), got shape {k.shape}"
        )
    if k.shape[0] < 2:
        raise ValueError(
            f"k must have shape (n + 1, n + 1) with n >= 1, got shape {k.shape}"
        )
    if not np.all(np.isfinite(k)):
        raise ValueError("k must be finite (found NaN or inf)")
    kmin = k.min()
    if kmin <= 0.0:
        raise ValueError(f"k must be strictly positive, got min(k) = {kmin!r}")
    return k


def condiff_matrix(k: np.ndarray) -> sp.csr_matrix:
    """Assemble the finite-volume matrix ``A`` of ``-div(k grad u)`` with ``u = 0`` on the boundary.

    Parameters
    ----------
    k : array of shape (n + 1, n + 1)
        Dimensionless diffusion coefficient; ``k[a, b]`` is sampled at
        ``x = (a + 1/2) h``, ``y = (b + 1/2) h`` with ``h = 1 / (n + 1)``
        (axis 0 is ``x``).  Must be finite and strictly positive.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n*n, n*n)
        Five-point matrix in canonical CSR form (sorted column indices, no
        duplicates, no stored zeros), rows/columns numbered ``i * n + j``.
        With face coefficients ``k_e, k_w, k_n, k_s`` (means of the two
        ``k`` samples at the ends of each face)::

            A[p, p]      = (k_e + k_w + k_n + k_s) / h^2
            A[p, p +- n] = -k_e / h^2, -k_w / h^2   (x neighbours, if interior)
            A[p, p +- 1] = -k_n / h^2, -k_s / h^2   (y neighbours, if interior)

        ``A`` is symmetric positive definite.

    Raises
    ------
    ValueError
        If ``k`` is not a square 2-D array with at least 2 rows, or has
        non-finite or non-positive entries.

    Notes
    -----
    Fully vectorised: the CSR arrays are written directly, row by row in the
    order west, south, centre, north, east (which is ascending column
    order), without building an intermediate COO matrix.
    """
    k = _validate_coefficient(k)
    n = k.shape[0] - 1
    scale = float((n + 1) ** 2)

    # Face coefficients, already multiplied by 1/h^2.  Axis 0 = x (i), axis 1 = y (j).
    # kx[a, j]: face between cell columns a-1 and a (x = (a + 1/2) h), a = 0..n.
    kx = (0.5 * scale) * (k[:, :-1] + k[:, 1:])  # (n + 1, n)
    # ky[i, b]: face between cell rows b-1 and b (y = (b + 1/2) h), b = 0..n.
    ky = (0.5 * scale) * (k[:-1, :] + k[1:, :])  # (n, n + 1)

    return five_point_matrix(kx[:-1, :], kx[1:, :], ky[:, :-1], ky[:, 1:])


def five_point_matrix(west: np.ndarray, east: np.ndarray, south: np.ndarray,
                      north: np.ndarray) -> sp.csr_matrix:
    """CSR matrix of a 5-point diffusion stencil on an n × n block of unknowns.

    Each argument is an (n, n) array holding, for unknown (i, j) (axis 0 = x), the
    coefficient of the face towards that neighbour, already divided by h²: row
    ``p = i*n + j`` gets ``-west`` at ``p-n``, ``-south`` at ``p-1``, the sum of all four on the
    diagonal, ``-north`` at ``p+1``, ``-east`` at ``p+n``. Faces on the boundary keep their
    diagonal contribution (homogeneous Dirichlet one face away) and drop the off-diagonal.
    The CSR arrays are written directly, row by row in ascending column order
    (W, S, C, N, E), without an intermediate COO matrix.
    """
    n = west.shape[0]
    vals = np.empty((n, n, 5))
    vals[:, :, 0] = -west
    vals[:, :, 1] = -south
    vals[:, :, 2] = west + east + south + north
    vals[:, :, 3] = -north
    vals[:, :, 4] = -east

    p = np.arange(n * n, dtype=np.int32).reshape(n, n)
    cols = np.stack([p - n, p - 1, p, p + 1, p + n], axis=-1)

    keep = np.ones((n, n, 5), dtype=bool)
    keep[0, :, 0] = False  # no west neighbour at i = 0
    keep[:, 0, 1] = False  # no south neighbour at j = 0
    keep[:, -1, 3] = False  # no north neighbour at j = n-1
    keep[-1, :, 4] = False  # no east neighbour at i = n-1

    indptr = np.empty(n * n + 1, dtype=np.int32)
    indptr[0] = 0
    np.cumsum(keep.sum(axis=2).ravel(), out=indptr[1:])

    A = sp.csr_matrix((vals[keep], cols[keep], indptr), shape=(n * n, n * n))
    A.has_sorted_indices = True
    A.has_canonical_format = True
    return A


# --------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SolveInfo:
    """Diagnostics of one linear solve.

    Attributes
    ----------
    method : str
        Solver actually used (``"direct"`` or ``"amg"``; ``"auto"`` is
        resolved), or ``"trivial"`` for a zero right-hand side.
    residual : float
        Relative residual ``||b - A x||_2 / ||b||_2``, recomputed from the
        returned ``x`` after the solve (0 for a zero right-hand side).
    iterations : int
        Krylov iterations (0 for the direct solver and the trivial case).
    """

    method: str
    residual: float
    iterations: int


class SolveError(RuntimeError):
    """The solver did not reach an acceptable residual."""


def _solve_direct(A: sp.spmatrix, b: np.ndarray, rtol: float) -> tuple[np.ndarray, int]:
    """Sparse LU (SuperLU) with minimum-degree ordering on ``A + A^T``.

    For a symmetric ``A`` in CSR form, the CSR arrays are also the CSC arrays
    of ``A^T = A``, so the CSC matrix that SuperLU needs is built without a
    format conversion.  ``rtol`` is unused (the solve is exact up to
    rounding).
    """
    del rtol
    A = A.tocsr()
    A_csc = sp.csc_matrix((A.data, A.indices, A.indptr), shape=A.shape)  # = A^T
    lu = spla.splu(
        A_csc,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    # A_csc is A^T; since A is symmetric this is a solve with A, but use
    # trans="T" so that the result is right even for a nonsymmetric input.
    return lu.solve(b, trans="T"), 0


#: One QDLDL solver per sparsity pattern (per process): the symbolic analysis (AMD ordering,
#: elimination tree) is done once and every new coefficient only refactors numerically.
_LDL_CACHE: dict[tuple[int, int], tuple[object, np.ndarray, np.ndarray]] = {}


def _solve_ldl(A: sp.spmatrix, b: np.ndarray, rtol: float) -> tuple[np.ndarray, int]:
    """Sparse LDLᵀ (QDLDL, AMD ordering) reusing the symbolic factorisation across calls.

    ConDiff matrices of one grid share their sparsity pattern, so only the numeric
    factorisation is repeated: measured on a 2-core CPU at contrast ~1e5, 1.5 ms (n = 64)
    and 11.5 ms (n = 128) per solve versus 6.1 ms and 31.6 ms for SuperLU (``"direct"``).
    For symmetric ``A`` in CSR form, the CSR arrays of ``tril(A)`` are the CSC arrays of
    ``triu(A)``, the upper triangle QDLDL takes. ``rtol`` is unused (exact up to rounding).
    """
    del rtol
    import qdldl

    L = sp.tril(A.tocsr(), format="csr")
    L.sort_indices()
    U = sp.csc_matrix((L.data, L.indices, L.indptr), shape=A.shape)
    key = (A.shape[0], U.nnz)
    cached = _LDL_CACHE.get(key)
    if cached is not None and np.array_equal(cached[1], U.indptr) and np.array_equal(cached[2], U.indices):
        solver = cached[0]
        solver.update(U, upper=True)
    else:
        solver = qdldl.Solver(U, upper=True)
        _LDL_CACHE[key] = (solver, U.indptr.copy(), U.indices.copy())
    return np.asarray(solver.solve(b), dtype=float), 0


def _solve_amg(A: sp.spmatrix, b: np.ndarray, rtol: float) -> tuple[np.ndarray, int]:
    """Conjugate gradients preconditioned by one smoothed-aggregation AMG V-cycle.

    Stops when ``||b - A x|| / ||b|| <= rtol``. pyamg draws random vectors from numpy's global
    generator while it builds the hierarchy (spectral-radius estimates), which made two solves
    of the same system differ at round-off (~1e-12), so a regenerated sample would not be
    bit-identical. The build and solve therefore run with the global generator seeded with
    :data:`AMG_SEED`, and the caller's global state is restored afterwards.
    """
    import pyamg  # imported lazily: only needed for large grids

    A = A.tocsr()
    saved = np.random.get_state()
    np.random.seed(AMG_SEED)
    try:
        ml = pyamg.smoothed_aggregation_solver(A, symmetry="hermitian")
        residuals: list[float] = []
        x = ml.solve(
            b,
            tol=rtol,
            accel="cg",
            maxiter=1000,
            residuals=residuals,
        )
    finally:
        np.random.set_state(saved)
    return np.asarray(x, dtype=float), max(len(residuals) - 1, 0)


#: seed of numpy's global generator while pyamg runs (see :func:`_solve_amg`)
AMG_SEED = 0


#: Concrete solvers, by name: ``f(A, b, rtol) -> (x, iterations)``.
SOLVERS: dict[str, Callable[[sp.spmatrix, np.ndarray, float], tuple[np.ndarray, int]]] = {
    "direct": _solve_direct,
    "ldl": _solve_ldl,
    "amg": _solve_amg,
}

#: Selectors mapping ``(number of unknowns, direct_max_unknowns)`` to a name in
#: :data:`SOLVERS`.  ``"auto"`` is the only size-dependent one.
_METHODS: dict[str, Callable[[int, int], str]] = {
    "auto": lambda size, limit: ("ldl", "amg")[size > limit],
    **{name: (lambda size, limit, _name=name: _name) for name in SOLVERS},
}


def solve(
    A: sp.spmatrix,
    b: np.ndarray,
    method: str = "auto",
    rtol: float = 1e-10,
    direct_max_unknowns: int = DIRECT_MAX_UNKNOWNS,
    max_residual: float = MAX_ACCEPTED_RESIDUAL,
) -> tuple[np.ndarray, SolveInfo]:
    """Solve the sparse symmetric positive definite system ``A x = b``.

    Parameters
    ----------
    A : sparse matrix (N, N)
        System matrix, e.g. from :func:`condiff_matrix`.
    b : array (N,)
        Right-hand side (dimensionless, like ``A``).
    method : {"auto", "direct", "amg"}
        ``"direct"``: SuperLU factorisation (``scipy.sparse.linalg.splu``,
        MMD ordering on ``A + A^T``); ``"amg"``: CG preconditioned by
        ``pyamg`` smoothed aggregation, run to relative residual ``rtol``;
        ``"auto"``: ``"direct"`` if ``N <= direct_max_unknowns`` else
        ``"amg"``.
    rtol : float
        Target relative residual for the iterative solver.
    direct_max_unknowns : int
        Size threshold used by ``"auto"`` (default
        :data:`DIRECT_MAX_UNKNOWNS`, chosen from the timings in the module
        docstring).
    max_residual : float
        Solutions with relative residual above this are rejected.

    Returns
    -------
    x : array (N,)
    info : SolveInfo
        Method used, relative residual ``||b - A x||_2 / ||b||_2`` recomputed
        after the solve, and iteration count.

    Raises
    ------
    ValueError
        Unknown ``method`` (the message lists the known ones) or shape
        mismatch.
    SolveError
        If the recomputed relative residual is not finite or exceeds
        ``max_residual``.
    """
    try:
        select = _METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown solver method {method!r}; known methods: {sorted(_METHODS)}"
        ) from None
    b = np.asarray(b, dtype=float)
    if b.ndim != 1 or A.shape[0] != A.shape[1] or A.shape[0] != b.shape[0]:
        raise ValueError(
            f"shape mismatch: A is {A.shape}, b is {b.shape}; need square A and b of length A.shape[0]"
        )

    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return np.zeros_like(b), SolveInfo(method="trivial", residual=0.0, iterations=0)

    name = select(A.shape[0], direct_max_unknowns)
    x, iterations = SOLVERS[name](A, b, rtol)
    residual = float(np.linalg.norm(b - A @ x)) / bnorm
    if not (math.isfinite(residual) and residual <= max_residual):
        raise SolveError(
            f"{name} solver returned relative residual {residual:.3e} "
            f"> accepted {max_residual:.1e} (N = {A.shape[0]}, rtol = {rtol:.1e})"
        )
    return x, SolveInfo(method=name, residual=residual, iterations=int(iterations))


def solve_condiff(
    k: np.ndarray,
    f: np.ndarray,
    method: str = "auto",
    rtol: float = 1e-10,
) -> tuple[np.ndarray, SolveInfo]:
    """Solve ``-div(k grad u) = f`` on the unit square with ``u = 0`` on the boundary.

    Parameters
    ----------
    k : array (n + 1, n + 1)
        Coefficient at ``((a + 1/2) h, (b + 1/2) h)``, ``h = 1 / (n + 1)``,
        axis 0 = ``x``.  Dimensionless, finite, positive.
    f : array (n, n)
        Source at the unknowns ``((i + 1) h, (j + 1) h)``, axis 0 = ``x``.
        Dimensionless.
    method, rtol
        Passed to :func:`solve`.

    Returns
    -------
    u : array (n, n)
        Discrete solution at the unknowns, same orientation as ``f``.
    info : SolveInfo
    """
    A = condiff_matrix(k)
    n = k.shape[0] - 1
    f = np.asarray(f, dtype=float)
    if f.shape != (n, n):
        raise ValueError(f"f must have shape (n, n) = ({n}, {n}) for k of shape {k.shape}, got {f.shape}")
    u, info = solve(A, f.ravel(), method=method, rtol=rtol)
    return u.reshape(n, n), info
