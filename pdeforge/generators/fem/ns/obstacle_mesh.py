r"""Channel with one DeepCFD-style obstacle: five primitive shapes, body-fitted gmsh meshes.

Geometry (metres): the channel [0, L] × [0, H] minus one obstacle of ``shape`` with size D,
centre (x_c, y_c) and rotation θ (degrees, counter-clockwise about the centre). The shapes are
DeepCFD's five primitives (Ribeiro et al. 2020), each defined so that D is its cross-stream
extent at θ = 0:

* ``circle``: diameter D;
* ``square``: side D;
* ``rhombus``: the square rotated by 45°, diagonals D (vertices at (±D/2, 0), (0, ±D/2));
* ``triangle_forward``: equilateral, side D, apex pointing upstream (−x), vertical face
  downstream; ``triangle_backward``: the mirror image (apex downstream). Centre = centroid.

D is the reference length of the force coefficients, c = 2F/(ρŪ²D), for every shape and
rotation (documented so; for a rotated body the projected height differs). Δp is
p(x_f, y_c) − p(x_b, y_c), the upstream and downstream points where the line y = y_c meets the
obstacle boundary (for the circle (x_c ∓ r, y_c), the DFG definition); those points are mesh
vertices (polygon edges are split there).

Mesh: gmsh ``geo`` kernel, outer box + one hole (polygon: straight edges through its vertices;
circle: four arcs, lifted to curved P2 as in :mod:`.mesh`), Threshold size field on the
distance to the obstacle (``h_obs`` on it, growing to ``h`` over ``grow``), Frontal–Delaunay,
one thread. Boundaries ``inlet``, ``outlet``, ``walls``, ``obstacle``. The hash is
:func:`.mesh.mesh_hash` (sha256 of doflocs then t).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .mesh import ChannelMesh, mesh_hash

__all__ = ["REGION_LABELS", "SHAPES", "ObstacleGeometry", "deepcfd_inputs", "obstacle_mesh"]

SHAPES = ("circle", "square", "triangle_forward", "triangle_backward", "rhombus")


def _unit_polygon(shape: str) -> np.ndarray:
    """(2, n) counter-clockwise vertices for size 1 at the origin, θ = 0."""
    h = math.sqrt(3.0) / 2.0
    if shape == "square":
        v = [(0.5, -0.5), (0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5)]
    elif shape == "rhombus":
        v = [(0.5, 0.0), (0.0, 0.5), (-0.5, 0.0), (0.0, -0.5)]
    elif shape == "triangle_forward":
        v = [(-2 * h / 3, 0.0), (h / 3, -0.5), (h / 3, 0.5)]
    elif shape == "triangle_backward":
        v = [(2 * h / 3, 0.0), (-h / 3, 0.5), (-h / 3, -0.5)]
    else:
        raise ValueError(f"no polygon for shape {shape!r}")
    return np.array(v, float).T


@dataclasses.dataclass(frozen=True)
class ObstacleGeometry:
    """Channel [0, length] × [0, height] with one obstacle (module docstring)."""

    shape: str = "square"
    size: float = 0.1
    center: tuple[float, float] = (0.4, 0.4)
    rotation: float = 0.0  # degrees, counter-clockwise
    length: float = 1.72
    height: float = 0.79

    @property
    def diameter(self) -> float:
        """Reference length D of c_D, c_L (= ``size``)."""
        return float(self.size)

    @property
    def radius(self) -> float:
        return 0.5 * float(self.size)

    def polygon(self) -> np.ndarray:
        """(2, n) counter-clockwise vertices in metres (polygons only)."""
        a = math.radians(self.rotation)
        R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        return R @ (self.size * _unit_polygon(self.shape)) + np.asarray(self.center, float)[:, None]

    def signed_distance(self, x, y) -> np.ndarray:
        """Exact signed distance to the obstacle boundary (m): > 0 in the fluid, < 0 inside."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        if self.shape == "circle":
            return np.hypot(x - self.center[0], y - self.center[1]) - self.radius
        V = self.polygon()
        P = np.stack([x, y])
        n = V.shape[1]
        dist = np.full(x.shape, np.inf)
        side = np.full(x.shape, -np.inf)
        for i in range(n):
            a, b = V[:, i], V[:, (i + 1) % n]
            e = b - a
            rel = P - a.reshape((2,) + (1,) * x.ndim)
            t = np.clip((rel[0] * e[0] + rel[1] * e[1]) / (e @ e), 0.0, 1.0)
            d = np.hypot(rel[0] - t * e[0], rel[1] - t * e[1])
            dist = np.minimum(dist, d)
            # outward normal of a counter-clockwise polygon: (e_y, -e_x)
            side = np.maximum(side, (rel[0] * e[1] - rel[1] * e[0]) / np.hypot(*e))
        return np.where(side > 0, dist, -dist)

    def is_fluid(self, x, y) -> np.ndarray:
        """1 where (x, y) lies in the closed fluid domain, else 0 (analytic, vectorised)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        box = (x >= 0) & (x <= self.length) & (y >= 0) & (y <= self.height)
        return (box & (self.signed_distance(x, y) >= 0)).astype(np.uint8)

    def area(self) -> float:
        """Area of the obstacle (m²)."""
        if self.shape == "circle":
            return math.pi * self.radius**2
        V = self.polygon()
        return 0.5 * float(np.sum(V[0] * np.roll(V[1], -1) - np.roll(V[0], -1) * V[1]))

    def extent(self) -> tuple[float, float, float, float]:
        """Bounding box (x_min, x_max, y_min, y_max) of the obstacle."""
        if self.shape == "circle":
            (xc, yc), r = self.center, self.radius
            return xc - r, xc + r, yc - r, yc + r
        V = self.polygon()
        return float(V[0].min()), float(V[0].max()), float(V[1].min()), float(V[1].max())

    def pressure_points(self) -> np.ndarray:
        """(2, 2): the upstream and downstream points of the boundary on the line y = y_c."""
        xc, yc = self.center
        if self.shape == "circle":
            return np.array([[xc - self.radius, xc + self.radius], [yc, yc]])
        V = self.polygon()
        xs = []
        for i in range(V.shape[1]):
            a, b = V[:, i], V[:, (i + 1) % V.shape[1]]
            if (a[1] - yc) * (b[1] - yc) <= 0 and a[1] != b[1]:
                xs.append(a[0] + (yc - a[1]) * (b[0] - a[0]) / (b[1] - a[1]))
        return np.array([[min(xs), max(xs)], [yc, yc]])

    def validate(self, clearance: float = 0.0) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape {self.shape!r} not in {SHAPES}")
        x0, x1, y0, y1 = self.extent()
        c = clearance
        if not (self.size > 0 and x0 > c and x1 < self.length - c and y0 > c and y1 < self.height - c):
            raise ValueError(f"obstacle {self} must lie strictly inside the channel (clearance {c} m)")

    def boundary_loop(self) -> np.ndarray:
        """(2, n) polygon vertices with the two Δp points inserted (counter-clockwise)."""
        V = self.polygon()
        pts = self.pressure_points()
        out = []
        n = V.shape[1]
        for i in range(n):
            a, b = V[:, i], V[:, (i + 1) % n]
            out.append(a)
            for k in range(2):
                q = pts[:, k]
                e = b - a
                t = ((q - a) @ e) / (e @ e)
                cross = abs(e[0] * (q - a)[1] - e[1] * (q - a)[0]) / np.hypot(*e)
                if 1e-9 < t < 1 - 1e-9 and cross < 1e-12:
                    out.append(q.copy())
        return np.array(out).T


def _gmsh(geo: ObstacleGeometry, h: float, h_obs: float, grow: float):
    import gmsh

    L, H = geo.length, geo.height
    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.Verbosity", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads2D", 1)
        gmsh.model.add("obstacle")
        g = gmsh.model.geo
        corners = [g.addPoint(0, 0, 0), g.addPoint(L, 0, 0), g.addPoint(L, H, 0), g.addPoint(0, H, 0)]
        sides = [g.addLine(corners[i], corners[(i + 1) % 4]) for i in range(4)]
        if geo.shape == "circle":
            xc, yc = geo.center
            r = geo.radius
            c = g.addPoint(xc, yc, 0)
            ring = [g.addPoint(xc + r, yc, 0), g.addPoint(xc, yc + r, 0), g.addPoint(xc - r, yc, 0),
                    g.addPoint(xc, yc - r, 0)]
            curves = [g.addCircleArc(ring[i], c, ring[(i + 1) % 4]) for i in range(4)]
        else:
            V = geo.boundary_loop()
            ids = [g.addPoint(float(V[0, i]), float(V[1, i]), 0) for i in range(V.shape[1])]
            curves = [g.addLine(ids[i], ids[(i + 1) % len(ids)]) for i in range(len(ids))]
        g.addPlaneSurface([g.addCurveLoop(sides), g.addCurveLoop(curves)])
        g.synchronize()
        f = gmsh.model.mesh.field
        dist = f.add("Distance")
        f.setNumbers(dist, "CurvesList", curves)
        f.setNumber(dist, "Sampling", 200)
        thr = f.add("Threshold")
        f.setNumber(thr, "InField", dist)
        f.setNumber(thr, "SizeMin", h_obs)
        f.setNumber(thr, "SizeMax", h)
        f.setNumber(thr, "DistMin", 0.0)
        f.setNumber(thr, "DistMax", grow)
        f.setAsBackgroundMesh(thr)
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
            raise RuntimeError(f"gmsh returned element types {list(etypes)}, expected linear triangles")
        version = gmsh.__version__
    finally:
        if gmsh.isInitialized():
            gmsh.model.remove()
        if started:
            gmsh.finalize()
    tags = np.asarray(tags, np.int64)
    xyz = np.asarray(coords, float).reshape(-1, 3)
    tri = np.asarray(enodes[0], np.int64).reshape(-1, 3)
    used = np.unique(tri)
    lookup = np.full(tags.max() + 1, -1, np.int64)
    lookup[tags] = np.arange(tags.size)
    p = xyz[lookup[used], :2].T.copy()
    renum = np.full(tags.max() + 1, -1, np.int64)
    renum[used] = np.arange(used.size)
    return p, renum[tri].T.copy(), version


def obstacle_mesh(geometry: ObstacleGeometry, h: float = 0.04, h_obs: float | None = None,
                  grow: float | None = None) -> ChannelMesh:
    """Curved (``MeshTri2``) mesh of the channel with the obstacle; boundaries inlet / outlet /
    walls / obstacle. ``h`` far-field size, ``h_obs`` size on the obstacle (default D / 12),
    ``grow`` distance over which the size grows to ``h`` (default 3 D)."""
    from skfem import MeshTri1, MeshTri2

    geometry.validate()
    D = geometry.diameter
    h_obs = D / 12 if h_obs is None else h_obs
    grow = 3 * D if grow is None else grow
    p, t, version = _gmsh(geometry, h, h_obs, grow)
    m = MeshTri1(p, t)
    L, H = geometry.length, geometry.height
    tol = 1e-9 * max(L, H)
    bf = m.boundary_facets()
    mid = m.p[:, m.facets[:, bf]].mean(axis=1)
    inlet = np.abs(mid[0]) < tol
    outlet = np.abs(mid[0] - L) < tol
    walls = (np.abs(mid[1]) < tol) | (np.abs(mid[1] - H) < tol)
    obs = bf[~(inlet | outlet | walls)]
    if geometry.shape == "circle":
        pts = m.p.copy()
        idx = np.unique(m.facets[:, obs])
        c = np.asarray(geometry.center, float)[:, None]
        d = pts[:, idx] - c
        pts[:, idx] = c + geometry.radius * d / np.linalg.norm(d, axis=0)
        m = MeshTri1(pts, m.t)
    M = MeshTri2.from_mesh(m)
    doflocs = M.doflocs.copy()
    n_v = m.p.shape[1]
    if geometry.shape == "circle":
        c = np.asarray(geometry.center, float)[:, None]
        d = doflocs[:, n_v + obs] - c
        doflocs[:, n_v + obs] = c + geometry.radius * d / np.linalg.norm(d, axis=0)
    M = MeshTri2(doflocs, m.t, sort_t=False)
    ends = np.unique(m.facets[:, obs])
    off = np.abs(geometry.signed_distance(m.p[0, ends], m.p[1, ends])).max()
    if off > 1e-9 * D:
        raise ValueError(f"obstacle boundary vertices off the analytic shape by {off:.3g} m")
    M = M.with_boundaries({"inlet": bf[inlet], "outlet": bf[outlet], "walls": bf[walls], "obstacle": obs})
    lengths = np.linalg.norm(np.diff(m.p[:, m.facets], axis=1)[:, 0], axis=0)
    info = dict(mesher="gmsh", gmsh_version=version, algorithm="frontal-delaunay (6)", h=h, h_obs=h_obs, grow=grow,
                refine=0, n_vertices=int(n_v), n_elements=int(m.t.shape[1]), n_obstacle_edges=int(obs.size),
                edge_min=float(lengths.min()), edge_max=float(lengths.max()), geometry=dataclasses.asdict(geometry))
    return ChannelMesh(mesh=M, geometry=geometry, hash=mesh_hash(M), info=info)


#: DeepCFD's flow-region labels (Ribeiro et al. 2020, input channel 2)
REGION_LABELS = {"obstacle": 0, "fluid": 1, "wall": 2, "inlet": 3, "outlet": 4}


def deepcfd_inputs(geometry: ObstacleGeometry, nx: int = 172, ny: int = 79) -> dict[str, np.ndarray]:
    """DeepCFD's three input channels on the nx × ny cell centres of [0, L] × [0, H] (axis 0 = x).

    ``sdf_obstacle``: exact signed distance to the obstacle (m, > 0 in the fluid);
    ``flow_region``: :data:`REGION_LABELS` — 0 in cells whose centre is in the obstacle, else 2 in
    the bottom and top rows (no-slip walls; they take the corner cells), 3 in the first column
    (inlet), 4 in the last (outlet), 1 elsewhere; ``sdf_walls``: distance to the nearer channel
    wall, min(y, H − y) (m). Also ``x``, ``y`` (the cell centres, m).
    """
    from .grid import grid_points

    gx, gy = grid_points(geometry.length, geometry.height, nx, ny)
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    sdf = geometry.signed_distance(X, Y)
    region = np.full((nx, ny), REGION_LABELS["fluid"], np.int8)
    region[0, :] = REGION_LABELS["inlet"]
    region[-1, :] = REGION_LABELS["outlet"]
    region[:, 0] = region[:, -1] = REGION_LABELS["wall"]
    region[sdf < 0] = REGION_LABELS["obstacle"]
    return {"sdf_obstacle": sdf, "flow_region": region, "sdf_walls": np.minimum(Y, geometry.height - Y), "x": gx, "y": gy}
