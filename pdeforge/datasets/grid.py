r"""Grids: mapping fields between rectilinear grids, and coarser resolutions by injection.

Grid mapping rule
-----------------
The output grid is the grid of the targets (all targets must share it: targets are never
interpolated). An input stored on another rectilinear grid with the same number of axes is mapped
onto it by **separable linear interpolation in physical coordinates** (bilinear in 2-D), using
the stored coordinate variables of its dims (:func:`to_grid`, weights precomputed once). It
never extrapolates: a target point outside the input's coordinate range is an error. For ConDiff,
``k`` lives on the ``(n+1)²`` points ``((a+½)h, (b+½)h)`` and ``u``, ``f`` on the ``n²`` points
``((i+1)h, (j+1)h)``; every target point is the centre of four ``k`` points, so the rule gives
exactly their mean ``¼(k[i,j] + k[i+1,j] + k[i,j+1] + k[i+1,j+1])`` — no row or column is dropped.
Scalar per-sample variables (dims ``(sample,)``) used as inputs become constant channels.

Resolution rule
---------------
``resolution=m`` (or one value per axis) restricts inputs and targets to a coarser grid by
**point injection**: the coarse grid is the grid with the same layout in the domain (card
``dataset.domain``) and ``m`` points per axis, and it is available only when each of its points
is a stored point. Writing a uniform axis as ``x_i = lo + (i + c) h`` with ``h = L / (n + e)``
(interior nodes: c = 1, e = 1; cell centres: c = ½, e = 0; periodic: c = 0, e = 0; end points
included: c = 0, e = −1), the coarse axis is available when ``r = (n + e) / (m + e)`` is an
integer and ``c (r − 1)`` is an integer; coarse point ``j`` is stored point ``j r + c (r − 1)``.
For ConDiff's interior grids this is ``(n + 1) % (m + 1) == 0``: 127 → 63, 31, 15, 7, 3, 1;
64 → 12, 4; 16 → none but 16 itself. Any other ``m`` raises an error listing the available
resolutions. Inputs on other grids are interpolated straight onto the coarse points (the same
values as mapping at full resolution and then injecting). :attr:`TorchDataset.coords` reflects the
resolution.

"""

from __future__ import annotations

from collections.abc import Sequence
import threading

import numpy as np

from pdeforge.errors import InvalidValueError

_SNAP = 1e-9  # interpolation weights this close to 0 or 1 are exact injections


# --- grid mapping ------------------------------------------------------------------------------


class _AxisMap:
    """Linear interpolation along one axis: ``out[p] = w0[p] v[i0[p]] + w1[p] v[i1[p]]``.

    ``kind`` selects the cheapest exact evaluation: ``identity``; ``slice`` (injection at
    equally strided points); ``take`` (injection, any points); ``pair`` (neighbouring points with
    one common weight, e.g. a staggered grid); ``general``.
    """

    def __init__(self, src: np.ndarray, dst: np.ndarray, label: str = "axis"):
        src = np.asarray(src, dtype=np.float64).reshape(-1)
        dst = np.asarray(dst, dtype=np.float64).reshape(-1)
        n = src.size
        if n == 0 or dst.size == 0:
            raise InvalidValueError(f"{label}: empty coordinate axis")
        if n > 1 and not np.all(np.diff(src) > 0):
            raise InvalidValueError(f"{label}: source coordinates are not strictly increasing")
        if n == 1:
            i0 = np.zeros(dst.size, dtype=np.intp)
            w1 = np.zeros(dst.size)
            scale = max(abs(float(src[0])), 1.0)
            bad = np.abs(dst - src[0]) > _SNAP * scale
        else:
            i0 = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, n - 2).astype(np.intp)
            w1 = (dst - src[i0]) / (src[i0 + 1] - src[i0])
            bad = (w1 < -_SNAP) | (w1 > 1 + _SNAP)
            w1[np.abs(w1) < _SNAP] = 0.0
            up = np.abs(w1 - 1.0) < _SNAP
            i0[up] += 1
            w1[up] = 0.0
        if bad.any():
            p = float(dst[np.flatnonzero(bad)[0]])
            raise InvalidValueError(
                f"{label}: target point {p:.6g} lies outside the source coordinates "
                f"[{src[0]:.6g}, {src[-1]:.6g}]; grid mapping interpolates, it never extrapolates")
        i1 = np.minimum(i0 + 1, n - 1)
        self.n_src, self.n_dst = n, dst.size
        self.i0, self.i1, self.w1, self.w0 = i0, i1, w1, 1.0 - w1
        self.c = 0.0
        steps = np.diff(i0)
        if not w1.any():
            if dst.size == 1 or (steps[0] > 0 and np.all(steps == steps[0])):
                step = int(steps[0]) if dst.size > 1 else 1
                self.s0 = slice(int(i0[0]), int(i0[-1]) + 1, step)
                self.kind = "identity" if (step == 1 and i0[0] == 0 and dst.size == n) else "slice"
            else:
                self.kind = "take"
        elif w1.all() and np.ptp(w1) <= 1e-12 and (dst.size == 1 or np.all(steps == 1)):
            self.kind = "pair"
            c = float(w1.mean())
            self.c = 0.5 if abs(c - 0.5) <= 1e-12 else c
            self.s0 = slice(int(i0[0]), int(i0[-1]) + 1)
            self.s1 = slice(int(i0[0]) + 1, int(i0[-1]) + 2)
        else:
            self.kind = "general"


class GridMap:
    """Precomputed separable linear interpolation between two rectilinear grids.

    ``GridMap(src_coords, dst_coords)(values)`` maps ``values[..., n_0, …, n_{d-1}]`` given at the
    points ``src_coords`` (one increasing 1-D array per trailing axis) to the points
    ``dst_coords``; leading axes (samples, frames) are carried along. Exact on functions that are
    linear along each axis (bilinear in 2-D); at points that coincide with source points it is
    plain injection. ``out=`` writes (and casts) into a given array, e.g. a float32 batch slot.
    """

    def __init__(self, src_coords: Sequence[np.ndarray], dst_coords: Sequence[np.ndarray],
                 labels: Sequence[str] | None = None):
        if len(src_coords) != len(dst_coords):
            raise InvalidValueError(f"source grid has {len(src_coords)} axes, target grid {len(dst_coords)}")
        labels = list(labels) if labels is not None else [f"axis {a}" for a in range(len(src_coords))]
        self.axes = [_AxisMap(s, d, lab) for s, d, lab in zip(src_coords, dst_coords, labels)]
        self.src_shape = tuple(a.n_src for a in self.axes)
        self.dst_shape = tuple(a.n_dst for a in self.axes)
        self.identity = all(a.kind == "identity" for a in self.axes)
        self._nax = len(self.axes)
        self._steps = [(a, m) for a, m in enumerate(self.axes) if m.kind != "identity"]
        self._programs: dict[int, list[tuple]] = {}
        self._interp = any(m.kind in ("pair", "general") for m in self.axes)
        #: product of the equal weights of the "pair" axes, applied once per call
        self._scale = float(np.prod([0.5 for a in self.axes if a.kind == "pair" and a.c == 0.5]))
        # every mapped axis a staggered "pair" with weights ½ (ConDiff's k): the whole map is a
        # chain of contiguous 1-D adds on the flattened array (see _midpoints)
        halves = [m.kind == "pair" and m.c == 0.5 for m in self.axes if m.kind != "identity"]
        self._midpoint = bool(halves) and all(halves)
        if self._midpoint:
            strides = [int(np.prod(self.src_shape[a + 1:])) for a in range(self._nax)]
            self._mid_strides = [strides[a] for a in reversed(range(self._nax)) if self.axes[a].kind == "pair"]
            self._mid_slices = (Ellipsis,) + tuple(m.s0 if m.kind == "pair" else slice(None) for m in self.axes)
        self._scratch: dict[tuple, list[np.ndarray]] = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_scratch"] = {}
        return state

    def _program(self, lead: int) -> list[tuple]:
        """The steps for inputs with ``lead`` leading axes, index tuples prebuilt (cached)."""
        prog = self._programs.get(lead)
        if prog is None:
            prog = []
            for a, m in self._steps:
                pos = lead + a
                pre = (slice(None),) * pos
                last = a == self._nax - 1
                if m.kind in ("slice", "pair"):
                    s1 = pre + (m.s1,) if m.kind == "pair" else None
                    prog.append((m.kind, m, pos, last, pre + (m.s0,), s1))
                else:
                    prog.append((m.kind, m, pos, last, None, None))
            self._programs[lead] = prog
        return prog

    def _midpoints(self, v: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """Midpoint averages along every mapped axis of a C-contiguous ``v``.

        Along an axis with element stride ``st`` the pair sums are ``w[p] = v[p] + v[p + st]`` on
        the flattened array (one contiguous add; sums that cross the end of that axis are
        garbage and are sliced away at the end), last axis first; then one strided pass
        multiplies by the product of the weights (a power of two, so exact) and casts into
        ``out``. For ConDiff's k: ¼((k[i,j] + k[i,j+1]) + (k[i+1,j] + k[i+1,j+1])).
        """
        flat = v.reshape(-1)
        key = (threading.get_ident(), flat.size, flat.dtype.str)
        bufs = self._scratch.get(key)
        if bufs is None:  # per thread and size; tails the adds never write stay 0
            bufs = self._scratch[key] = [np.zeros_like(flat) for _ in self._mid_strides]
        for st, buf in zip(self._mid_strides, bufs):
            np.add(flat[:-st], flat[st:], out=buf[:-st])
            flat = buf
        view = flat.reshape(v.shape)[self._mid_slices]
        if out is None:
            return view * self._scale
        np.multiply(view, self._scale, out=out, casting="unsafe")
        return out

    def __call__(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        v = values if isinstance(values, np.ndarray) else np.asarray(values)
        lead = v.ndim - self._nax
        if lead < 0 or v.shape[lead:] != self.src_shape:
            raise InvalidValueError(f"grid mapping expects trailing shape {self.src_shape}, got {v.shape}")
        if self._interp and v.dtype.kind != "f":
            v = v.astype(np.float64)
        if self._midpoint and v.flags.c_contiguous and v.size:
            return self._midpoints(v, out)
        fresh = False  # does this call own v (a C-contiguous temporary)?
        scale = self._scale
        for kind, m, pos, last, i0, i1 in self._program(lead):
            if kind == "slice":
                v = v[i0]
                continue
            if kind == "take":
                v = np.take(v, m.i0, axis=pos)
                fresh = True
                continue
            if kind == "pair" and m.c == 0.5:
                if last and v.flags.c_contiguous:
                    # pairs along the last axis as one contiguous 1-D add; the sums that straddle
                    # two rows land in the last column, which the slice below drops
                    flat = v.reshape(-1)
                    buf = np.empty(v.shape, dtype=v.dtype)
                    fb = buf.reshape(-1)
                    np.add(flat[:-1], flat[1:], out=fb[:-1])
                    fb[-1] = 0.0  # never used; keep it defined
                    if scale != 1.0:
                        buf *= scale
                        scale = 1.0
                    v = buf[i0]
                    fresh = False  # a strided view: later steps must not assume contiguity
                    continue
                v = np.add(v[i0], v[i1])
            elif kind == "pair":
                v = (1.0 - m.c) * v[i0] + m.c * v[i1]
            else:
                shape = (-1,) + (1,) * (self._nax - 1 - (pos - lead))
                v = (np.take(v, m.i0, axis=pos) * m.w0.reshape(shape)
                     + np.take(v, m.i1, axis=pos) * m.w1.reshape(shape))
            if scale != 1.0:  # the equal-weight factors, applied once on the first temporary
                v *= scale
                scale = 1.0
            fresh = True
        if out is None:
            return v if fresh else np.array(v, copy=True)
        np.copyto(out, v, casting="unsafe")
        return out


def to_grid(values: np.ndarray, src_coords: Sequence[np.ndarray], dst_coords: Sequence[np.ndarray]) -> np.ndarray:
    """Map ``values`` from the rectilinear grid ``src_coords`` to ``dst_coords`` by separable
    linear (bilinear in 2-D) interpolation in physical coordinates; see :class:`GridMap`."""
    return GridMap(src_coords, dst_coords)(values)


# --- resolution ---------------------------------------------------------------------------------


def _layout(coords: np.ndarray, lo: float, hi: float, label: str) -> tuple[int, int]:
    """``(2c, 2e)`` of a uniform axis ``x_i = lo + (i + c) h``, ``h = (hi - lo) / (n + e)``."""
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.size
    if n < 2:
        raise InvalidValueError(f"{label}: a single point cannot be coarsened")
    h = (coords[-1] - coords[0]) / (n - 1)
    if not np.allclose(np.diff(coords), h, rtol=1e-6, atol=0):
        raise InvalidValueError(f"{label}: resolution= needs a uniform grid")
    c2, e2 = 2 * (coords[0] - lo) / h, 2 * ((hi - lo) / h - n)
    if abs(c2 - round(c2)) > 1e-6 or abs(e2 - round(e2)) > 1e-6:
        raise InvalidValueError(f"{label}: the points are not on a uniform lattice of the domain "
                                f"[{lo:g}, {hi:g}]; resolution= cannot place a coarse grid")
    return int(round(c2)), int(round(e2))


def _coarse(n: int, c2: int, e2: int, m: int) -> np.ndarray | None:
    num, den = 2 * n + e2, 2 * m + e2
    if m < 1 or den <= 0 or num % den:
        return None
    r = num // den
    if (c2 * (r - 1)) % 2:
        return None
    return np.arange(m, dtype=np.intp) * r + c2 * (r - 1) // 2


def available_resolutions(coords: np.ndarray, domain: Sequence[float], label: str = "axis") -> list[int]:
    """Point counts ``m`` whose coarse grid is a subset of ``coords`` (see the module docstring)."""
    c2, e2 = _layout(coords, float(domain[0]), float(domain[1]), label)
    n = len(coords)
    return [m for m in range(1, n + 1) if _coarse(n, c2, e2, m) is not None]


def coarse_indices(coords: np.ndarray, domain: Sequence[float], m: int, label: str = "axis") -> np.ndarray:
    """Indices of the stored points that form the ``m``-point coarse grid, or a clear error."""
    c2, e2 = _layout(coords, float(domain[0]), float(domain[1]), label)
    n = len(coords)
    idx = _coarse(n, c2, e2, int(m))
    if idx is None or idx[-1] >= n or idx[0] < 0:
        avail = available_resolutions(coords, domain, label)
        raise InvalidValueError(
            f"resolution {m} is not available along {label} ({n} stored points): the coarse points "
            f"must be stored points (point injection); available resolutions: "
            f"{', '.join(map(str, avail))}")
    return idx
