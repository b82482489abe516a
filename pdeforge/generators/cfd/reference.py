"""Ghia, Ghia & Shin (1982), J. Comput. Phys. 48, 387–411: lid-driven cavity centreline velocities.

Table I: u along the vertical line through the cavity centre (x = 0.5) at the listed y;
Table II: v along the horizontal line through the centre (y = 0.5) at the listed x.  Unit
square, lid velocity 1 (so the values are in lid units), 129 × 129 (Re ≤ 1000) multigrid
vorticity–stream-function solutions.  Coordinates ascending; wall values included.

The Re = 400 entry of Table II at x = 0.9063 (−0.23827) is out of line with its neighbours
(−0.44993 at 0.8594 and −0.22847 at 0.9453) and is widely held to be a misprint;
:func:`ghia_points` leaves it out unless asked.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GHIA_Y", "GHIA_U", "GHIA_X", "GHIA_V", "ghia_points", "centrelines"]

GHIA_Y = np.array([0.0000, 0.0547, 0.0625, 0.0703, 0.1016, 0.1719, 0.2813, 0.4531, 0.5000,
                   0.6172, 0.7344, 0.8516, 0.9531, 0.9609, 0.9688, 0.9766, 1.0000])
GHIA_U = {
    100: np.array([0.00000, -0.03717, -0.04192, -0.04775, -0.06434, -0.10150, -0.15662, -0.21090,
                   -0.20581, -0.13641, 0.00332, 0.23151, 0.68717, 0.73722, 0.78871, 0.84123, 1.00000]),
    400: np.array([0.00000, -0.08186, -0.09266, -0.10338, -0.14612, -0.24299, -0.32726, -0.17119,
                   -0.11477, 0.02135, 0.16256, 0.29093, 0.55892, 0.61756, 0.68439, 0.75837, 1.00000]),
    1000: np.array([0.00000, -0.18109, -0.20196, -0.22220, -0.29730, -0.38289, -0.27805, -0.10648,
                    -0.06080, 0.05702, 0.18719, 0.33304, 0.46604, 0.51117, 0.57492, 0.65928, 1.00000]),
}
GHIA_X = np.array([0.0000, 0.0625, 0.0703, 0.0781, 0.0938, 0.1563, 0.2266, 0.2344, 0.5000,
                   0.8047, 0.8594, 0.9063, 0.9453, 0.9531, 0.9609, 0.9688, 1.0000])
GHIA_V = {
    100: np.array([0.00000, 0.09233, 0.10091, 0.10890, 0.12317, 0.16077, 0.17507, 0.17527, 0.05454,
                   -0.24533, -0.22445, -0.16914, -0.10313, -0.08864, -0.07391, -0.05906, 0.00000]),
    400: np.array([0.00000, 0.18360, 0.19713, 0.20920, 0.22965, 0.28124, 0.30203, 0.30174, 0.05186,
                   -0.38598, -0.44993, -0.23827, -0.22847, -0.19254, -0.15663, -0.12146, 0.00000]),
    1000: np.array([0.00000, 0.27485, 0.29012, 0.30353, 0.32627, 0.37095, 0.33075, 0.32235, 0.02526,
                    -0.31966, -0.42665, -0.51550, -0.39188, -0.33714, -0.27669, -0.21388, 0.00000]),
}


def ghia_points(re: int, *, include_suspect: bool = False):
    """(y, u along x = 0.5, x, v along y = 0.5) for Re in {100, 400, 1000}, interior points
    only (the wall values are boundary conditions, not results)."""
    if re not in GHIA_U:
        raise KeyError(f"Ghia tables used here: Re in {sorted(GHIA_U)}, got {re}")
    inner = slice(1, -1)
    y, u = GHIA_Y[inner], GHIA_U[re][inner]
    x, v = GHIA_X[inner], GHIA_V[re][inner]
    if re == 400 and not include_suspect:
        keep = ~np.isclose(x, 0.9063)
        x, v = x[keep], v[keep]
    return y, u, x, v


def centrelines(solver):
    """Staggered centreline profiles of a cavity solution on an even grid, lid units.

    Returns (y, u(x = W/2, y) / U_lid, x, v(x, y = H/2) / U_lid) with coordinates scaled to
    [0, 1] and the wall values appended, read from the faces that lie on the centre lines
    (u-face column nx/2, v-face row ny/2) — no averaging.  Compare with :func:`ghia_points`
    by linear interpolation.
    """
    d = solver.domain
    if d.nx % 2 or d.ny % 2:
        raise ValueError("centreline faces need an even number of cells in x and y")
    lid = d.sides["north"].tangential
    y = np.concatenate([[0.0], (np.arange(d.ny) + 0.5) / d.ny, [1.0]])
    u = np.concatenate([[0.0], solver.u[d.nx // 2] / lid, [1.0]])
    x = np.concatenate([[0.0], (np.arange(d.nx) + 0.5) / d.nx, [1.0]])
    v = np.concatenate([[0.0], solver.v[:, d.ny // 2] / lid, [0.0]])
    return y, u, x, v
