"""Body-fitted FEM incompressible Navier–Stokes (Taylor–Hood P2/P1, scikit-fem), validated on DFG.

Public API:

* :func:`dfg_mesh` / :func:`channel_mesh` — gmsh meshes of a channel with a cylinder, lifted to
  curved (isoparametric P2) scikit-fem meshes with named boundaries and a sha256 mesh hash;
* :func:`solve_steady` — steady Navier–Stokes by Newton; :func:`march` — semi-implicit BDF2;
* :class:`Solution` / :class:`Transient` — vertex values u, v, p, drag/lift coefficients, Δp;
* :func:`grid_view` — interpolation to a regular (CFDBench 64 × 64) grid with a fluid mask;
* :mod:`.dfg` — the DFG 2D-1 / 2D-2 benchmark setups and reference values.
"""

from .grid import GridView, evaluate, grid_view, locate, point_matrix
from .mesh import DFG, ChannelGeometry, ChannelMesh, channel_mesh, dfg_mesh, from_arrays, mesh_hash
from .solver import (ParabolicInflow, Solution, Spaces, Transient, convection_matrix, divergence_l1, forces, march,
                     solve_steady, solve_stokes, spaces, strouhal, taylor_hood)

__all__ = ["DFG", "ChannelGeometry", "ChannelMesh", "GridView", "ParabolicInflow", "Solution", "Spaces", "Transient",
           "channel_mesh", "convection_matrix", "dfg_mesh", "divergence_l1", "evaluate", "forces", "from_arrays",
           "grid_view", "locate", "march", "mesh_hash", "point_matrix", "solve_steady", "solve_stokes", "spaces",
           "strouhal", "taylor_hood"]
