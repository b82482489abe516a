r"""Point evaluation of Taylor–Hood fields on the curved mesh and the regular-grid (CFDBench) view.

Point location: each point is located in a straight triangle of the vertex triangulation
(matplotlib's trapezoid-map finder), then the reference coordinates ξ are found by Newton's
method on that element's isoparametric P2 map x(ξ) = Σ_k x_k φ_k(ξ) (one step on straight
elements). A point belongs to the fluid when it lies in a straight triangle and ξ lies in the
reference triangle (tolerance 1e-10): points between a cylinder chord and its curved edge are
solid, as in the curved mesh. Values are Σ_k c_k φ_k(ξ) with the element's P2 (velocity) or P1
(pressure) coefficients, so a field in the discrete space (e.g. any linear field) is reproduced
exactly.

Grid view: ``nx × ny`` cell centres of the bounding box [0, L] × [0, H] (CFDBench's 64 × 64
layout: axis 0 = x, axis 1 = y), values 0 and mask 0 in the solid.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

__all__ = ["GridView", "evaluate", "grid_points", "grid_view", "locate", "point_matrix"]


def locate(S, pts: np.ndarray, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """(element index or −1, reference coordinates (2, n)) of points ``pts`` (2, n)."""
    from matplotlib.tri import Triangulation
    from skfem import ElementTriP2

    cm = S.cmesh
    V = cm.vertices
    tri = Triangulation(V[0], V[1], cm.triangles.T.copy())
    pts = np.asarray(pts, float)
    cells = tri.get_trifinder()(pts[0], pts[1]).astype(np.int64)
    X = np.full(pts.shape, np.nan)
    ok = cells >= 0
    if not ok.any():
        return cells, X
    e = ElementTriP2()
    geo_dofs = cm.mesh.dofs.element_dofs[:, cells[ok]]  # (6, n) indices into doflocs
    xk = cm.mesh.doflocs[:, geo_dofs]  # (2, 6, n)
    # affine start from the three vertices
    p0, p1, p2 = (cm.mesh.doflocs[:, cm.triangles[i, cells[ok]]] for i in range(3))
    Ja = np.stack([p1 - p0, p2 - p0], axis=1)  # (2, 2, n): columns are the edge vectors
    xi = np.linalg.solve(Ja.transpose(2, 0, 1), (pts[:, ok] - p0).T[..., None])[..., 0].T
    for _ in range(30):
        phi = np.array([e.lbasis(xi, k)[0] for k in range(6)])  # (6, n)
        dphi = np.array([e.lbasis(xi, k)[1] for k in range(6)])  # (6, 2, n)
        F = np.einsum("ikn,kn->in", xk, phi)
        DF = np.einsum("ikn,kjn->ijn", xk, dphi)
        step = np.linalg.solve(DF.transpose(2, 0, 1), (pts[:, ok] - F).T[..., None])[..., 0].T
        xi = xi + step
        if np.abs(step).max() < 1e-14:
            break
    inside = (xi[0] >= -tol) & (xi[1] >= -tol) & (xi[0] + xi[1] <= 1 + tol)
    c = cells[ok]
    c[~inside] = -1
    cells[ok] = c
    X[:, ok] = xi
    X[:, cells < 0] = np.nan
    return cells, X


def point_matrix(S, pts: np.ndarray, field: str = "p") -> sp.csr_matrix:
    """Sparse (n_points, n) matrix mapping coefficients to point values.

    ``field``: ``"u"`` / ``"v"`` act on the velocity coefficients ``U``; ``"p"`` on ``P``.
    Rows of points outside the fluid are zero.
    """
    from skfem import ElementTriP1, ElementTriP2

    cells, X = locate(S, pts)
    ok = np.nonzero(cells >= 0)[0]
    if field == "p":
        e, dofs, n = ElementTriP1(), S.basis_p.element_dofs, S.n_p
        cols = dofs[:, cells[ok]]
    elif field in ("u", "v"):
        e, n = ElementTriP2(), S.n_u
        comp = 0 if field == "u" else 1
        scalar = S.cmesh.mesh.dofs.element_dofs[:, cells[ok]]  # scalar P2 dofs = geometry dofs
        cols = 2 * scalar + comp
    else:
        raise ValueError(f"field must be 'u', 'v' or 'p', got {field!r}")
    nb = cols.shape[0]
    vals = np.array([e.lbasis(X[:, ok], k)[0] for k in range(nb)])
    rows = np.broadcast_to(ok, (nb, ok.size))
    return sp.coo_matrix((vals.ravel(), (rows.ravel(), cols.ravel())), shape=(pts.shape[1], n)).tocsr()


def evaluate(S, x: np.ndarray, pts: np.ndarray, field: str = "p") -> np.ndarray:
    """Values of ``field`` of the state x = [U, P] at points ``pts`` (2, n); NaN outside the fluid."""
    cells, _ = locate(S, pts)
    part = x[S.n_u :] if field == "p" else x[: S.n_u]
    out = point_matrix(S, pts, field) @ part
    out[cells < 0] = np.nan
    return out


def grid_points(length: float, height: float, nx: int = 64, ny: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates x (nx,), y (ny,) of the nx × ny grid on [0, length] × [0, height]."""
    return (np.arange(nx) + 0.5) * length / nx, (np.arange(ny) + 0.5) * height / ny


@dataclasses.dataclass
class GridView:
    """Interpolation onto a regular grid: ``x`` (nx,), ``y`` (ny,) in m, ``mask`` (nx, ny), 1 = fluid.

    ``apply(U, P)`` → dict of (nx, ny) arrays ``u``, ``v`` (m/s), ``p`` (Pa), zero in the solid;
    stacks of frames (n, n_u) / (n, n_p) give (n, nx, ny).
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    Iu: sp.csr_matrix
    Iv: sp.csr_matrix
    Ip: sp.csr_matrix

    def apply(self, U: np.ndarray, P: np.ndarray) -> dict:
        shape = (len(self.x), len(self.y))
        U, P = np.asarray(U), np.asarray(P)
        if U.ndim == 1:
            return {k: (I @ a).reshape(shape) for k, I, a in (("u", self.Iu, U), ("v", self.Iv, U), ("p", self.Ip, P))}
        return {k: (a @ I.T).reshape((a.shape[0],) + shape)
                for k, I, a in (("u", self.Iu, U), ("v", self.Iv, U), ("p", self.Ip, P))}


def grid_view(S, nx: int = 64, ny: int = 64) -> GridView:
    """The nx × ny cell-centre view of the channel's bounding box (see the module docstring)."""
    geo = S.cmesh.geometry
    gx, gy = grid_points(geo.length, geo.height, nx, ny)
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    pts = np.vstack([X.ravel(), Y.ravel()])
    cells, _ = locate(S, pts)
    mask = (cells >= 0).astype(np.uint8).reshape(nx, ny)
    return GridView(x=gx, y=gy, mask=mask, Iu=point_matrix(S, pts, "u"), Iv=point_matrix(S, pts, "v"),
                    Ip=point_matrix(S, pts, "p"))
