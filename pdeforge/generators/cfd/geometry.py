"""Domains of CFD part 1 from physical parameters (lengths in m, velocities in m/s).

* :func:`cavity_domain`: closed box ``width × height``, lid (north wall) moving at
  ``lid_velocity`` along +x, the other three walls at rest.
* :func:`tube_domain`: 2D channel ``length`` (x, streamwise) × ``width`` (y), inlet on the west
  side with a uniform or parabolic profile of mean velocity ``inlet_velocity``, no-slip walls
  south and north, outflow east.
* :func:`dam_domain`: the same channel (``length`` × ``height``) with a rectangular solid block
  ("dam", "step") standing on the floor: upstream face at x = ``step_position``, width
  ``step_width`` and height ``step_height``.

The block must lie on grid lines (the geometry is resolved by the grid, not immersed):
:func:`grid_index` refuses an edge that is not within 1e-6 cells of a grid line unless
``snap=True``, in which case the edge moves to the nearest line and the geometry actually
solved is what the builder returns in ``Geometry.params``.

Inlet profiles (:func:`inlet_profile`): ``"uniform"`` (u = U on every inlet face) and
``"parabolic"`` (u(y) = 6 U s (1 − s), s = y/H, the Poiseuille profile of mean U); both are
face averages of the continuous profile, so the discrete inflow is exactly U·H per unit depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdeforge.errors import InvalidValueError

from .mac import Domain, Side

__all__ = ["Geometry", "INLET_PROFILES", "inlet_profile", "grid_index", "cavity_domain",
           "tube_domain", "dam_domain"]

INLET_PROFILES = ("uniform", "parabolic")


@dataclass
class Geometry:
    """A :class:`Domain` plus the geometric parameters it realises (after any snapping)."""

    domain: Domain
    params: dict


def _positive(name: str, value) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InvalidValueError(f"{name} must be a positive number, got {value}")
    return value


def inlet_profile(kind: str, ny: int, height: float, mean_velocity: float) -> np.ndarray:
    """Face-averaged inlet velocity (m/s) on the ny faces of a side of length ``height`` (m)."""
    if kind not in INLET_PROFILES:
        raise InvalidValueError(f"inlet_profile must be one of {INLET_PROFILES}, got {kind!r}")
    if kind == "uniform":
        return np.full(ny, float(mean_velocity))
    s = np.linspace(0.0, 1.0, ny + 1)
    s0, s1 = s[:-1], s[1:]
    # mean of 6 U s (1 - s) over [s0, s1]
    return 6.0 * mean_velocity * ((s1**2 - s0**2) / 2 - (s1**3 - s0**3) / 3) / (s1 - s0)


def grid_index(name: str, value: float, h: float, n: int, *, snap: bool) -> int:
    """The grid line index k with k·h = value (m); refuses off-grid values unless ``snap``."""
    k = value / h
    kr = int(round(k))
    if abs(k - kr) > 1e-6 and not snap:
        raise InvalidValueError(
            f"{name} = {value} m is not on a grid line (spacing {h} m: {k:.4f} cells); choose a "
            f"multiple of the spacing, change the grid, or pass snap=True")
    if not 0 <= kr <= n:
        raise InvalidValueError(f"{name} = {value} m lies outside the domain")
    return kr


def _check_grid(nx: int, ny: int) -> tuple[int, int]:
    nx, ny = int(nx), int(ny)
    if nx < 4 or ny < 4:
        raise InvalidValueError(f"the grid needs at least 4 × 4 cells, got {nx} × {ny}")
    return nx, ny


def cavity_domain(*, width: float, height: float, lid_velocity: float, nx: int, ny: int) -> Geometry:
    """Lid-driven cavity: [0, width] × [0, height] m, north wall moving at lid_velocity (m/s)."""
    nx, ny = _check_grid(nx, ny)
    width, height = _positive("width", width), _positive("height", height)
    lid = float(lid_velocity)
    dom = Domain(width, height, nx, ny, np.zeros((nx, ny), bool),
                 {"north": Side("wall", tangential=lid)})
    return Geometry(dom, {"width": width, "height": height})


def tube_domain(*, length: float, width: float, inlet_velocity: float, inlet_profile_kind: str,
                nx: int, ny: int) -> Geometry:
    """Channel [0, length] × [0, width] m: inlet west, outflow east, walls south/north."""
    nx, ny = _check_grid(nx, ny)
    length, width = _positive("length", length), _positive("width", width)
    prof = inlet_profile(inlet_profile_kind, ny, width, _positive("inlet_velocity", inlet_velocity))
    dom = Domain(length, width, nx, ny, np.zeros((nx, ny), bool),
                 {"west": Side("inlet", profile=prof), "east": Side("outflow")})
    return Geometry(dom, {"length": length, "width": width})


def dam_domain(*, length: float, height: float, step_height: float, step_width: float,
               step_position: float, inlet_velocity: float, inlet_profile_kind: str,
               nx: int, ny: int, snap: bool = False) -> Geometry:
    """Channel [0, length] × [0, height] m with a solid block on the floor (the dam/step)."""
    nx, ny = _check_grid(nx, ny)
    length, height = _positive("length", length), _positive("height", height)
    dx, dy = length / nx, height / ny
    i0 = grid_index("step_position", float(step_position), dx, nx, snap=snap)
    i1 = grid_index("step_position + step_width", float(step_position) + _positive("step_width", step_width),
                    dx, nx, snap=snap)
    j1 = grid_index("step_height", _positive("step_height", step_height), dy, ny, snap=snap)
    if i1 <= i0 or j1 < 1:
        raise InvalidValueError("the step must cover at least one cell (after snapping)")
    if j1 > ny - 2:
        raise InvalidValueError("the step must leave at least two fluid cells above it")
    if i0 < 2 or i1 > nx - 2:
        raise InvalidValueError("the step must stay at least two cells away from inlet and outlet")
    solid = np.zeros((nx, ny), bool)
    solid[i0:i1, :j1] = True
    prof = inlet_profile(inlet_profile_kind, ny, height, _positive("inlet_velocity", inlet_velocity))
    dom = Domain(length, height, nx, ny, solid, {"west": Side("inlet", profile=prof), "east": Side("outflow")})
    return Geometry(dom, {"length": length, "height": height, "step_position": i0 * dx,
                          "step_width": (i1 - i0) * dx, "step_height": j1 * dy})
