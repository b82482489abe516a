r"""Mesh fields in storage: vertex values, the mesh itself (padded to fixed capacities), the hash.

Cases of a body-fitted family have their own meshes, but a shard stores every case in arrays of
one shape. The case's mesh goes on the first ``n_nodes`` / ``n_triangles`` entries of fixed
capacities (``max_nodes``, ``max_triangles``): vertex values are 0 past ``n_nodes``, triangle
corners −1 past ``n_triangles``, ``node_mask`` says which entries are real.

The vertex values of a Taylor–Hood state are the P2 velocity coefficients and the P1 pressure
coefficients at the mesh vertices (scikit-fem numbers the vertex dofs first, so vertex ``i`` has
velocity coefficients ``2i`` (u) and ``2i + 1`` (v), pressure coefficient ``i``).

:func:`divergence_frames` integrates the mass defect of a velocity state (m²/s).
"""

from __future__ import annotations

import numpy as np

from pdeforge.errors import InvalidValueError

#: names written by :func:`mesh_arrays` besides the vertex fields
MESH_KEYS = ("node_x", "node_y", "triangles", "node_mask", "n_nodes", "n_triangles", "mesh_sha256")


def mesh_arrays(S, U: np.ndarray, P: np.ndarray, max_nodes: int, max_triangles: int,
                names: tuple[str, str, str] = ("u", "v", "p")) -> dict[str, np.ndarray]:
    """Vertex fields and the padded mesh of spaces ``S``.

    ``U`` (…, n_u) and ``P`` (…, n_p) are velocity and pressure coefficients (leading axes, e.g.
    frames, are kept); returns ``names`` → (…, max_nodes) float32 vertex values and
    :data:`MESH_KEYS` (coordinates in m, float64; triangles int32; node_mask int8; sizes int64;
    the sha256 of the curved mesh as 32 uint8).
    """
    n_nodes, n_tri = S.cmesh.n_vertices, S.cmesh.triangles.shape[1]
    if n_nodes > max_nodes or n_tri > max_triangles:
        raise InvalidValueError(f"the mesh of this case has {n_nodes} vertices and {n_tri} triangles; "
                                f"problem.max_nodes = {max_nodes} and max_triangles = {max_triangles} are too small")
    U, P = np.asarray(U, float), np.asarray(P, float)

    def pad(a):
        return np.concatenate([a, np.zeros(a.shape[:-1] + (max_nodes - n_nodes,))], axis=-1)

    tri = np.full((max_triangles, 3), -1, dtype=np.int32)
    tri[:n_tri] = S.cmesh.triangles.T
    nu, nv, np_ = names
    return {
        nu: pad(U[..., 0: 2 * n_nodes: 2]).astype(np.float32),
        nv: pad(U[..., 1: 2 * n_nodes: 2]).astype(np.float32),
        np_: pad(P[..., :n_nodes]).astype(np.float32),
        "node_x": pad(S.cmesh.vertices[0]), "node_y": pad(S.cmesh.vertices[1]),
        "triangles": tri,
        "node_mask": (np.arange(max_nodes) < n_nodes).astype(np.int8),
        "n_nodes": np.int64(n_nodes), "n_triangles": np.int64(n_tri),
        "mesh_sha256": np.frombuffer(bytes.fromhex(S.cmesh.hash), dtype=np.uint8).copy(),
    }


def divergence_frames(S, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(∫_Ω |∇·u_h| dx, ∫_Ω |∂u_h/∂x| + |∂v_h/∂y| dx)`` (m²/s) of each row of ``U`` (n_frames,
    n_u): the mass defect and its scale (their ratio is the relative divergence). One sparse
    matrix per derivative maps the velocity coefficients to ∂u/∂x and ∂v/∂y at the quadrature
    points (the quadrature of :func:`~pdeforge.generators.fem.ns.divergence_l1`)."""
    import scipy.sparse as sp

    bu = S.basis_u
    nel, nqp = bu.dx.shape
    rows = np.broadcast_to(np.arange(nel * nqp).reshape(nel, nqp), (bu.Nbfun, nel, nqp)).ravel()
    cols = np.stack([np.broadcast_to(bu.element_dofs[i][:, None], (nel, nqp)) for i in range(bu.Nbfun)]).ravel()

    def matrix(d: int):
        vals = np.stack([bu.basis[i][0].grad[d][d] for i in range(bu.Nbfun)]).ravel()
        return sp.coo_matrix((vals, (rows, cols)), shape=(nel * nqp, bu.N)).tocsr()

    Dx, Dy = matrix(0), matrix(1)
    w = bu.dx.ravel()
    U = np.atleast_2d(np.asarray(U, float))
    div, scale = np.empty(len(U)), np.empty(len(U))
    for k, row in enumerate(U):
        a, b = Dx @ row, Dy @ row
        div[k], scale[k] = float(w @ np.abs(a + b)), float(w @ (np.abs(a) + np.abs(b)))
    return div, scale
