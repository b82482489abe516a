"""DFG channel meshes (gmsh → curved scikit-fem MeshTri2) and the regular-grid view."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("gmsh")

from pdeforge.generators.fem.ns import DFG, dfg_mesh, grid_view, spaces

C = np.array(DFG.center)[:, None]


@pytest.fixture(scope="module")
def cm():
    return dfg_mesh(h=0.08)


def test_hash_is_reproducible_in_a_fresh_process(cm):
    assert dfg_mesh(h=0.08).hash == cm.hash
    code = "from pdeforge.generators.fem.ns import dfg_mesh; print(dfg_mesh(h=0.08).hash)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == cm.hash
    assert dfg_mesh(h=0.07).hash != cm.hash


def test_cylinder_nodes_lie_on_the_circle(cm):
    m = cm.mesh
    cyl = m.boundaries["cylinder"]
    verts = np.unique(m.facets[:, cyl])
    mids = cm.n_vertices + cyl  # P2 geometry nodes of the cylinder edges
    for idx in (verts, mids):
        r = np.linalg.norm(m.doflocs[:, idx] - C, axis=0)
        assert np.abs(r - DFG.radius).max() < 1e-15
    # the curved mesh's area is that of the channel minus the disk up to the P2 arc error
    from skfem import Basis, ElementTriP2, Functional

    area = Functional(lambda w: 1.0 + 0 * w.x[0]).assemble(Basis(m, ElementTriP2(), intorder=4))
    exact = DFG.length * DFG.height - np.pi * DFG.radius**2
    straight = DFG.length * DFG.height - 0.5 * len(cyl) * DFG.radius**2 * np.sin(2 * np.pi / len(cyl))
    assert abs(area - exact) < 1e-3 * abs(straight - exact)


def test_boundaries_and_pressure_points(cm):
    m = cm.mesh
    bf = m.boundary_facets()
    names = ("inlet", "outlet", "walls", "cylinder")
    assert sum(len(m.boundaries[n]) for n in names) == len(bf)
    V = cm.vertices
    for q in ((0.15, 0.2), (0.25, 0.2)):
        assert np.linalg.norm(V - np.array(q)[:, None], axis=0).min() < 1e-15
    # refined towards the cylinder: the cylinder edges are the mesh's shortest
    assert cm.h_min < 0.2 * cm.h_max


def test_uniform_refinement_keeps_the_circle(cm):
    fine = dfg_mesh(h=0.08, refine=1)
    assert fine.info["n_elements"] == 4 * cm.info["n_elements"]
    assert len(fine.mesh.boundaries["cylinder"]) == 2 * len(cm.mesh.boundaries["cylinder"])
    verts = np.unique(fine.mesh.facets[:, fine.mesh.boundaries["cylinder"]])
    assert np.abs(np.linalg.norm(fine.vertices[:, verts] - C, axis=0) - DFG.radius).max() < 1e-15


@pytest.fixture(scope="module")
def view(cm):
    S = spaces(cm)
    return S, grid_view(S, 64, 64)


def test_grid_view_mask_matches_the_geometry(view):
    _, gv = view
    X, Y = np.meshgrid(gv.x, gv.y, indexing="ij")
    assert gv.mask.shape == (64, 64)
    assert np.array_equal(gv.mask, DFG.is_fluid(X, Y))
    assert gv.mask.sum() < 64 * 64  # the cylinder is seen


def test_grid_view_is_exact_on_linear_fields(view):
    S, gv = view
    xu = S.basis_u.doflocs
    U = np.where(np.arange(S.n_u) % 2 == 0, 1.5 + 2 * xu[0] - 3 * xu[1], -0.5 * xu[0] + 4 * xu[1])
    xp = S.basis_p.doflocs
    P = 0.3 - 7 * xp[0] + 2 * xp[1]
    out = gv.apply(U, P)
    X, Y = np.meshgrid(gv.x, gv.y, indexing="ij")
    fluid = gv.mask == 1
    assert np.abs(out["u"] - (1.5 + 2 * X - 3 * Y))[fluid].max() < 1e-12
    assert np.abs(out["v"] - (-0.5 * X + 4 * Y))[fluid].max() < 1e-12
    # P1 pressure is linear in the reference coordinates: on the curved (isoparametric) cells at
    # the cylinder a linear field of x is not in the space, so check it on the straight cells
    from pdeforge.generators.fem.ns import locate

    cells, _ = locate(S, np.vstack([X.ravel(), Y.ravel()]))
    curved = np.unique(S.cmesh.mesh.f2t[:, S.cmesh.mesh.boundaries["cylinder"]])
    straight = fluid & ~np.isin(cells, curved).reshape(X.shape)
    assert straight.sum() > 0.99 * fluid.sum()
    assert np.abs(out["p"] - (0.3 - 7 * X + 2 * Y))[straight].max() < 1e-12
    assert np.all(out["u"][~fluid] == 0)
    # stacks of frames
    frames = gv.apply(np.stack([U, 2 * U]), np.stack([P, 2 * P]))
    assert frames["p"].shape == (2, 64, 64) and np.allclose(frames["p"][1], 2 * out["p"])


def test_linear_velocity_exact_inside_the_curved_elements(view):
    """The isoparametric P2 space holds linear fields of x: exact at points 1e-4 m off the circle."""
    from pdeforge.generators.fem.ns import evaluate

    S, _ = view
    xu = S.basis_u.doflocs
    f = lambda x, y: 0.7 - 3 * x + 5 * y
    U = np.where(np.arange(S.n_u) % 2 == 0, f(xu[0], xu[1]), 0.0)
    th = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    pts = C + (DFG.radius + 1e-4) * np.vstack([np.cos(th), np.sin(th)])
    x = np.concatenate([U, np.zeros(S.n_p)])
    assert np.abs(evaluate(S, x, pts, "u") - f(*pts)).max() < 1e-12
    inside = C + (DFG.radius - 1e-4) * np.vstack([np.cos(th), np.sin(th)])
    assert np.all(np.isnan(evaluate(S, x, inside, "u")))
