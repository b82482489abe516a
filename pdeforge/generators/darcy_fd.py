"""The 5-point node-grid scheme of FNO's Darcy problem: −∇·(a∇u) = f on (0,1)², u = 0 on ∂Ω.

Unknowns at the interior nodes of the S × S node grid ``x_i = i/(S−1)``; the face coefficient
between two neighbouring nodes is the mean (arithmetic by default, or harmonic) of their ``a``
values; rows are scaled by 1/h² = (S−1)². Second order for smooth ``a`` (tests/test_darcy.py).
The ``fd`` elliptic backend (:mod:`pdeforge.generators.elliptic_backends`) and the Darcy
families call :func:`solve_darcy`; this module imports neither of them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pdeforge.errors import UnknownNameError
from pdeforge.generators import fv

FACE_MEANS = ("arithmetic", "harmonic")


def node_coords(s: int) -> np.ndarray:
    """The s nodes ``i/(s−1)``, i = 0..s−1, of one axis (boundary included)."""
    if s < 2:
        raise ValueError(f"need at least 2 nodes, got {s}")
    return np.arange(s, dtype=float) / (s - 1)


def psi(g: np.ndarray, positive: float = 12.0, negative: float = 3.0) -> np.ndarray:
    """ψ(g): ``positive`` where g ≥ 0, ``negative`` where g < 0."""
    return np.where(np.asarray(g) >= 0.0, float(positive), float(negative))


def face_coefficients(a: np.ndarray, mean: str = "arithmetic") -> tuple[np.ndarray, np.ndarray]:
    """Face values ``(ax, ay)``: ``ax[i, j]`` between nodes (i, j), (i+1, j); ``ay[i, j]`` between
    (i, j), (i, j+1). Shapes (S−1, S) and (S, S−1)."""
    a = np.asarray(a, dtype=float)
    if mean == "arithmetic":
        return 0.5 * (a[:-1, :] + a[1:, :]), 0.5 * (a[:, :-1] + a[:, 1:])
    if mean == "harmonic":
        return (2.0 * a[:-1, :] * a[1:, :] / (a[:-1, :] + a[1:, :]),
                2.0 * a[:, :-1] * a[:, 1:] / (a[:, :-1] + a[:, 1:]))
    raise UnknownNameError("face mean", mean, FACE_MEANS)


def darcy_matrix(a: np.ndarray, mean: str = "arithmetic") -> sp.csr_matrix:
    """5-point matrix of −∇·(a∇u), u = 0 on ∂Ω, on the S × S node grid (see module docstring).

    ``a``: (S, S) node values, axis 0 = x, finite and > 0. Returns the SPD CSR matrix over the
    (S−2)² interior nodes, numbered ``(i−1)(S−2) + (j−1)`` (C order of ``u[1:-1, 1:-1]``),
    multiplied by 1/h² = (S−1)².
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 3:
        raise ValueError(f"a must be a square (S, S) array with S >= 3, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() <= 0:
        raise ValueError("a must be finite and strictly positive")
    S = a.shape[0]
    ax, ay = face_coefficients(a, mean)
    scale = float((S - 1) ** 2)
    # faces (i−1, i) and (i, i+1) of the interior nodes, and likewise in y
    return fv.five_point_matrix(scale * ax[:-1, 1:-1], scale * ax[1:, 1:-1],
                                scale * ay[1:-1, :-1], scale * ay[1:-1, 1:])


def solve_darcy(a: np.ndarray, f: float | np.ndarray = 1.0, mean: str = "arithmetic",
                method: str = "auto", rtol: float = 1e-10) -> tuple[np.ndarray, fv.SolveInfo]:
    """Solve the node-grid problem; returns u on all S × S nodes (0 on the boundary) and the
    :class:`~pdeforge.generators.fv.SolveInfo`. ``f``: scalar or (S, S) node values (only the
    interior ones are used)."""
    a = np.asarray(a, dtype=float)
    S = a.shape[0]
    A = darcy_matrix(a, mean)
    if np.ndim(f) == 0:
        b = np.full((S - 2) * (S - 2), float(f))
    else:
        f = np.asarray(f, dtype=float)
        if f.shape != a.shape:
            raise ValueError(f"f must be a scalar or have the shape of a {a.shape}, got {f.shape}")
        b = f[1:-1, 1:-1].ravel()
    x, info = fv.solve(A, b, method=method, rtol=rtol)
    u = np.zeros_like(a)
    u[1:-1, 1:-1] = x.reshape(S - 2, S - 2)
    return u, info
