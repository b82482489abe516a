r"""Body-fitted triangular meshes of a channel with a circular cylinder (the DFG benchmark).

Geometry (SI units, metres): the channel Ω = [0, L] × [0, H] minus the disk of radius r
centred at (x_c, y_c); the DFG benchmark of Schäfer & Turek (1996) has L = 2.2, H = 0.41,
(x_c, y_c) = (0.2, 0.2), r = 0.05 (diameter D = 0.1).

Mesher: gmsh's Python API (``pip install gmsh``; headless, no system libraries needed here),
built through its built-in ``geo`` kernel: the four corners, the circle as four arcs whose end
points sit at the angles 0, π/2, π, 3π/2 (so the DFG pressure points (x_c ∓ r, y_c) are mesh
vertices), one plane surface with a hole. Element size: a Threshold field on the distance to
the cylinder (``h_cyl`` on the circle, growing linearly to ``h`` at distance ``grow``) combined
(minimum) with a wake box [x_c, x_c + wake] × [y_c − 2r, y_c + 2r] of size ``h_wake``.
Frontal–Delaunay (algorithm 6), one thread, fixed options, so the mesh is a pure function of
the arguments and the gmsh version (recorded in :attr:`ChannelMesh.info`).

Curved boundary (P2 geometry): the straight mesh is lifted to scikit-fem's quadratic
``MeshTri2`` (isoparametric P2 mapping); every vertex on the cylinder is projected onto the
circle (c + r (x − c)/|x − c|) and so is the midpoint node of every cylinder edge, so each
boundary element has a quadratic edge interpolating the circle at three points. ``refine=k``
splits every triangle into four k times (red refinement of the straight mesh) and projects the
new cylinder vertices before lifting.

Mesh hash: sha256 over the bytes of ``doflocs`` (float64, C order; vertices then edge
midpoints) followed by ``t`` (int64, C order) — :func:`mesh_hash`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

__all__ = ["DFG", "ChannelGeometry", "ChannelMesh", "channel_mesh", "dfg_mesh", "from_arrays", "mesh_hash"]

BOUNDARY_NAMES = ("inlet", "outlet", "walls", "cylinder")


@dataclasses.dataclass(frozen=True)
class ChannelGeometry:
    """Channel [0, length] × [0, height] with a cylinder of ``radius`` at ``center`` (metres)."""

    length: float = 2.2
    height: float = 0.41
    center: tuple[float, float] = (0.2, 0.2)
    radius: float = 0.05

    @property
    def diameter(self) -> float:
        return 2.0 * self.radius

    def is_fluid(self, x, y) -> np.ndarray:
        """1 where (x, y) lies in the closed fluid domain, else 0 (analytic, vectorised)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        inside_box = (x >= 0) & (x <= self.length) & (y >= 0) & (y <= self.height)
        outside_disk = (x - self.center[0]) ** 2 + (y - self.center[1]) ** 2 >= self.radius**2
        return (inside_box & outside_disk).astype(np.uint8)

    def validate(self) -> None:
        xc, yc = self.center
        r = self.radius
        if not (r > 0 and xc - r > 0 and xc + r < self.length and yc - r > 0 and yc + r < self.height):
            raise ValueError(f"cylinder (centre {self.center}, radius {r}) must lie strictly inside the channel "
                             f"[0, {self.length}] x [0, {self.height}]")


#: the DFG 2D benchmark geometry (Schäfer & Turek 1996)
DFG = ChannelGeometry()


@dataclasses.dataclass
class ChannelMesh:
    """A quadratic (``MeshTri2``) mesh with boundaries ``inlet``, ``outlet``, ``walls``, ``cylinder``.

    ``mesh.p[:, :n_vertices]`` are the triangle vertices, ``mesh.t`` (3, n_elements) the
    triangles; ``mesh.doflocs`` additionally holds one (possibly curved) midpoint per edge.
    ``hash`` is :func:`mesh_hash` of ``mesh``; ``info`` says how it was made.
    """

    mesh: Any
    geometry: ChannelGeometry
    hash: str
    info: dict

    @property
    def n_vertices(self) -> int:
        return int(self.mesh.t.max()) + 1

    @property
    def vertices(self) -> np.ndarray:
        """(2, n_vertices) vertex coordinates (m)."""
        return self.mesh.doflocs[:, : self.n_vertices]

    @property
    def triangles(self) -> np.ndarray:
        """(3, n_elements) vertex indices of each triangle."""
        return self.mesh.t

    @property
    def h_min(self) -> float:
        return float(self.info["edge_min"])

    @property
    def h_max(self) -> float:
        return float(self.info["edge_max"])


def mesh_hash(mesh) -> str:
    """sha256 of ``doflocs`` (float64, C order) followed by ``t`` (int64, C order)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(mesh.doflocs, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(mesh.t, dtype="<i8").tobytes())
    return h.hexdigest()


def _gmsh_triangulation(geo: ChannelGeometry, h: float, h_cyl: float, grow: float, h_wake: float,
                        wake: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Linear triangulation from gmsh: (2, n) points, (3, m) triangles, gmsh version."""
    try:
        import gmsh
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the channel mesher needs gmsh's Python wheel: pip install gmsh") from err

    L, H = geo.length, geo.height
    xc, yc = geo.center
    r = geo.radius
    started_here = not gmsh.isInitialized()
    if started_here:
        gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.Verbosity", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads2D", 1)
        gmsh.model.add("channel")
        g = gmsh.model.geo
        corners = [g.addPoint(0, 0, 0), g.addPoint(L, 0, 0), g.addPoint(L, H, 0), g.addPoint(0, H, 0)]
        sides = [g.addLine(corners[i], corners[(i + 1) % 4]) for i in range(4)]
        centre = g.addPoint(xc, yc, 0)
        ring = [g.addPoint(xc + r, yc, 0), g.addPoint(xc, yc + r, 0), g.addPoint(xc - r, yc, 0),
                g.addPoint(xc, yc - r, 0)]
        arcs = [g.addCircleArc(ring[i], centre, ring[(i + 1) % 4]) for i in range(4)]
        outer = g.addCurveLoop(sides)
        hole = g.addCurveLoop(arcs)
        g.addPlaneSurface([outer, hole])
        g.synchronize()

        f = gmsh.model.mesh.field
        dist = f.add("Distance")
        f.setNumbers(dist, "CurvesList", arcs)
        f.setNumber(dist, "Sampling", 200)
        thr = f.add("Threshold")
        f.setNumber(thr, "InField", dist)
        f.setNumber(thr, "SizeMin", h_cyl)
        f.setNumber(thr, "SizeMax", h)
        f.setNumber(thr, "DistMin", 0.0)
        f.setNumber(thr, "DistMax", grow)
        fields = [thr]
        if wake > 0 and h_wake < h:
            box = f.add("Box")
            f.setNumber(box, "VIn", h_wake)
            f.setNumber(box, "VOut", h)
            f.setNumber(box, "XMin", xc)
            f.setNumber(box, "XMax", min(xc + wake, L))
            f.setNumber(box, "YMin", max(yc - 2 * r, 0.0))
            f.setNumber(box, "YMax", min(yc + 2 * r, H))
            f.setNumber(box, "Thickness", 2 * r)
            fields.append(box)
        fmin = f.add("Min")
        f.setNumbers(fmin, "FieldsList", fields)
        f.setAsBackgroundMesh(fmin)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.option.setNumber("Mesh.Algorithm", 6)
        gmsh.option.setNumber("Mesh.RandomSeed", 1)
        gmsh.option.setNumber("Mesh.Smoothing", 1)
        gmsh.model.mesh.generate(2)

        tags, coords, _ = gmsh.model.mesh.getNodes()
        etypes, _, enodes = gmsh.model.mesh.getElements(2)
        if list(etypes) != [2]:
            raise RuntimeError(f"gmsh returned element types {list(etypes)}, expected linear triangles only")
        version = gmsh.__version__
    finally:
        gmsh.model.remove() if gmsh.isInitialized() else None
        if started_here:
            gmsh.finalize()

    tags = np.asarray(tags, dtype=np.int64)
    xyz = np.asarray(coords, dtype=float).reshape(-1, 3)
    tri_tags = np.asarray(enodes[0], dtype=np.int64).reshape(-1, 3)
    used = np.unique(tri_tags)  # sorted gmsh tags of the nodes that the triangles use
    lookup = np.full(tags.max() + 1, -1, dtype=np.int64)
    lookup[tags] = np.arange(tags.size)
    p = xyz[lookup[used], :2].T.copy()
    renumber = np.full(tags.max() + 1, -1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    t = renumber[tri_tags].T.copy()
    return p, t, version


def _project_to_circle(points: np.ndarray, idx: np.ndarray, geo: ChannelGeometry) -> None:
    c = np.asarray(geo.center, float)[:, None]
    d = points[:, idx] - c
    points[:, idx] = c + geo.radius * d / np.linalg.norm(d, axis=0)


def _cylinder_facets(mesh, geo: ChannelGeometry, tol: float) -> np.ndarray:
    bf = mesh.boundary_facets()
    ends = mesh.p[:, mesh.facets[:, bf]]  # (2, 2, n_boundary_facets)
    dist = np.linalg.norm(ends - np.asarray(geo.center, float)[:, None, None], axis=0)
    return bf[np.all(np.abs(dist - geo.radius) < tol, axis=0)]


def from_arrays(points: np.ndarray, triangles: np.ndarray, geometry: ChannelGeometry = DFG, refine: int = 0,
                info: dict | None = None) -> ChannelMesh:
    """Lift a straight triangulation of the channel to a curved ``MeshTri2`` with named boundaries.

    ``points`` (2, n) and ``triangles`` (3, m) describe a conforming triangulation of the
    channel whose cylinder vertices lie on the circle (up to ~1e-9 m). ``refine`` red-refines
    it first. Cylinder vertices and cylinder edge midpoints are projected onto the circle.
    """
    from skfem import MeshTri1, MeshTri2

    geometry.validate()
    tol = 1e-6 * geometry.radius
    m = MeshTri1(np.asarray(points, float), np.asarray(triangles, np.int64))
    for _ in range(int(refine)):
        m = m.refined()
        p = m.p.copy()
        cyl = np.unique(m.facets[:, _cylinder_facets(m, geometry, 0.05 * geometry.radius)])
        _project_to_circle(p, cyl, geometry)
        m = MeshTri1(p, m.t)
    p = m.p.copy()
    cyl_f = _cylinder_facets(m, geometry, tol * 1e3)
    _project_to_circle(p, np.unique(m.facets[:, cyl_f]), geometry)
    m = MeshTri1(p, m.t)
    M = MeshTri2.from_mesh(m)
    doflocs = M.doflocs.copy()
    n_v = m.p.shape[1]
    _project_to_circle(doflocs, n_v + cyl_f, geometry)  # edge midpoint nodes are numbered by facet
    M = MeshTri2(doflocs, m.t, sort_t=False)

    L, H = geometry.length, geometry.height
    bf = m.boundary_facets()
    mid = m.p[:, m.facets[:, bf]].mean(axis=1)
    names = {
        "inlet": bf[np.abs(mid[0]) < tol],
        "outlet": bf[np.abs(mid[0] - L) < tol],
        "walls": bf[(np.abs(mid[1]) < tol) | (np.abs(mid[1] - H) < tol)],
        "cylinder": cyl_f,
    }
    counted = np.concatenate(list(names.values()))
    if counted.size != bf.size or np.unique(counted).size != bf.size:
        raise ValueError("boundary facets could not be split into inlet / outlet / walls / cylinder")
    M = M.with_boundaries(names)
    lengths = np.linalg.norm(np.diff(m.p[:, m.facets], axis=1)[:, 0], axis=0)
    meta = dict(info or {})
    meta.update(refine=int(refine), n_vertices=int(n_v), n_elements=int(m.t.shape[1]),
                n_cylinder_edges=int(cyl_f.size), edge_min=float(lengths.min()), edge_max=float(lengths.max()),
                geometry=dataclasses.asdict(geometry))
    return ChannelMesh(mesh=M, geometry=geometry, hash=mesh_hash(M), info=meta)


def channel_mesh(geometry: ChannelGeometry = DFG, h: float = 0.04, h_cyl: float | None = None,
                 grow: float | None = None, h_wake: float | None = None, wake: float = 0.0,
                 refine: int = 0) -> ChannelMesh:
    """gmsh mesh of the channel with a cylinder, refined towards the cylinder (and the wake).

    Parameters (metres)
    -------------------
    h : far-field element size.
    h_cyl : element size on the cylinder (default ``h / 8``).
    grow : distance from the cylinder over which the size grows linearly from ``h_cyl`` to ``h``
        (default ``3 D``).
    h_wake, wake : element size ``h_wake`` in the box [x_c, x_c + wake] × [y_c − D, y_c + D]
        (off when ``wake = 0``; default size ``h / 2``).
    refine : uniform red refinements after meshing (cylinder nodes re-projected each time).
    """
    geometry.validate()
    h_cyl = h / 8 if h_cyl is None else h_cyl
    grow = 3 * geometry.diameter if grow is None else grow
    h_wake = h / 2 if h_wake is None else h_wake
    p, t, version = _gmsh_triangulation(geometry, h, h_cyl, grow, h_wake, wake)
    info = dict(mesher="gmsh", gmsh_version=version, algorithm="frontal-delaunay (6)", h=h, h_cyl=h_cyl,
                grow=grow, h_wake=h_wake, wake=wake)
    return from_arrays(p, t, geometry, refine=refine, info=info)


def dfg_mesh(h: float = 0.04, refine: int = 0, **kwargs) -> ChannelMesh:
    """The DFG benchmark channel (L = 2.2, H = 0.41, cylinder D = 0.1 at (0.2, 0.2)); see :func:`channel_mesh`."""
    return channel_mesh(DFG, h=h, refine=refine, **kwargs)
