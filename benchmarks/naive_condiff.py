"""Naive reference implementation of the ConDiff finite-volume system.

This is the "straightforward notebook" baseline used by the benchmarks: the
matrix is assembled by a Python double loop over the unknowns that appends
``(row, col, value)`` triplets, converted with ``scipy.sparse.coo_matrix`` to
CSR, and solved with ``scipy.sparse.linalg.spsolve`` using its defaults.

It discretises the same problem as :mod:`pdeforge.generators.fv`
(``-div(k grad u) = f`` on the unit square, ``u = 0`` on the boundary,
dimensionless; ``k`` of shape ``(n + 1, n + 1)`` sampled at
``((a + 1/2) h, (b + 1/2) h)``, unknowns at ``((i + 1) h, (j + 1) h)``,
``h = 1 / (n + 1)``, axis 0 = ``x``, unknown index ``i * n + j``) and must give
the same matrix as :func:`pdeforge.generators.fv.condiff_matrix`.  It does no
input validation on purpose.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def naive_condiff_matrix(k: np.ndarray) -> sp.csr_matrix:
    """Assemble the five-point finite-volume matrix with a Python loop over cells.

    Face coefficients are the mean of the two ``k`` samples at the ends of
    each control-volume face; off-diagonals are ``-(face coefficient)`` for
    interior neighbours, the diagonal is the sum of all four face
    coefficients, and everything is scaled by ``(n + 1)^2``.
    """
    n = k.shape[0] - 1
    scale = (n + 1) ** 2
    rows, cols, vals = [], [], []
    for i in range(n):
        for j in range(n):
            p = i * n + j
            k_east = 0.5 * (k[i + 1, j] + k[i + 1, j + 1])
            k_west = 0.5 * (k[i, j] + k[i, j + 1])
            k_north = 0.5 * (k[i, j + 1] + k[i + 1, j + 1])
            k_south = 0.5 * (k[i, j] + k[i + 1, j])
            rows.append(p)
            cols.append(p)
            vals.append(scale * (k_east + k_west + k_north + k_south))
            if i + 1 < n:
                rows.append(p)
                cols.append(p + n)
                vals.append(-scale * k_east)
            if i > 0:
                rows.append(p)
                cols.append(p - n)
                vals.append(-scale * k_west)
            if j + 1 < n:
                rows.append(p)
                cols.append(p + 1)
                vals.append(-scale * k_north)
            if j > 0:
                rows.append(p)
                cols.append(p - 1)
                vals.append(-scale * k_south)
    return sp.coo_matrix((vals, (rows, cols)), shape=(n * n, n * n)).tocsr()


def naive_solve(A: sp.spmatrix, b: np.ndarray) -> np.ndarray:
    """Solve ``A x = b`` with ``scipy.sparse.linalg.spsolve`` (default options)."""
    return spla.spsolve(A, b)
