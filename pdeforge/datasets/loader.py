r"""The uniform loader: any generated split as a :class:`torch.utils.data.Dataset`.

``TorchDataset("condiff", config="cubic0.1_grid64", split="train")`` yields ``(x, y)`` float32
tensors shaped ``(channels, nx, ny)``: ``x`` stacks the input variables, ``y`` the targets, in the
order listed (default: the shard attributes ``inputs`` / ``targets``, i.e. the card's ``[task]``).
Nothing in this module knows about a particular dataset; everything follows from the shard
format (:mod:`pdeforge.datasets.schema`), the manifest and the stats file.

Reading
-------
Shards are found through the manifest (the records :func:`pdeforge.datasets.store.split_files`
reads, with their sample ranges and sizes) and read one row (= one HDF5 chunk, by the format)
per variable and sample. Rows whose bytes HDF5 stores as they are (the pdeforge format: no
compression, one-row chunks) are read as zero-copy views of a read-only memory map of the shard
at the chunk offsets HDF5 reports (:func:`direct_rows`); anything else goes through h5py.
``direct=False`` forces h5py everywhere (the same values, tested). At grid 64 an h5py call costs
~5 µs per row, the mapped read plus the float32 cast ~1 µs. xarray is not on this path (a sample
through ``open_split`` costs hundreds of times more: ``benchmarks/test_loader_speed.py``). A
mapped shard that shrinks in place while open is refused before any read (a read past the end of
a map would crash the process); the store itself never rewrites a file in place. Each process opens
its own handles lazily on first use, keyed by ``os.getpid()``, so DataLoader workers (fork or
spawn) never share or pickle an open HDF5 handle; ``__getstate__`` drops them. A global index
maps to ``(shard, row)`` through the manifest's sample ranges. Only ``in_memory=True`` reads a
whole split (once, at construction). At construction every shard is opened once to check that
it exists, has the size the manifest records, opens as HDF5, holds the requested variables with
consistent dims/shapes/coordinates, and has as many rows as its sample range; anything else raises
:class:`~pdeforge.errors.CorruptFileError` or :class:`~pdeforge.errors.InvalidValueError` naming
the file.

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

Rollout mode
------------
``mode="rollout"`` serves time series (variables with dims ``(sample, t, …)``). The window ending
at frame ``t`` gives ``x`` = frames ``t−history+1 … t`` and ``y`` = frames ``t+1 … t+horizon``,
stacked frame-major: channel ``f * V + v`` is variable ``v`` at the ``f``-th frame of the window
(``V`` = number of time-dependent variables on that side). Inputs without a time dim (static
coefficients) follow as extra channels, once. Each sample has ``T − history − horizon + 1``
windows; dataset index ``i`` is window ``i % n_windows`` of sample ``i // n_windows``
(:meth:`TorchDataset.window`).

Normalisation
-------------
With ``normalize=True`` samples come out as ``(T(v) − mean) / std`` per channel, with the
statistics of the channel's variable computed on the **train split only** and stored as
``normalization.json`` beside the manifest (:mod:`pdeforge.datasets.normalize`; ``T`` = log for
positive variables spanning more than two decades, as the stats file records).
:meth:`TorchDataset.normalize` / :meth:`TorchDataset.denormalize` apply and invert the map.

Batches
-------
:meth:`TorchDataset.__getitems__` fills one preallocated batch (the DataLoader calls it with the
indices of a batch); :func:`make_loader` builds a DataLoader whose batch order for a fixed seed
does not depend on ``num_workers``.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from pdeforge.datasets import schema, store
from pdeforge.datasets.normalize import Normalizer, load_stats
from pdeforge.errors import CorruptFileError, InvalidValueError, StoreError, UnknownNameError

#: what h5py raises for damaged files: OSError (truncation), RuntimeError and KeyError
#: (metadata checksum mismatches)
_H5_ERRORS = (OSError, RuntimeError, KeyError)

TIME_DIM = "t"
MODES = ("operator", "rollout")
_BCAST = object()  # plan marker: a per-frame scalar broadcast over the grid
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


# --- dataset -------------------------------------------------------------------------------------


def _names(value, what: str) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    names = [str(v) for v in value]
    if not names:
        raise InvalidValueError(f"no {what} variables given")
    return names


def _attr_str(obj, name: str) -> str | None:
    if name not in obj.attrs:
        return None
    v = obj.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def _resolve(name_or_path, config, split, root) -> tuple[Path | None, list[tuple[Path, int | None, int | None, int | None]]]:
    """``(config dir or None, [(file, start, stop, bytes), …])`` of one split, like ``open_split``."""
    path = Path(str(name_or_path))
    if path.suffix == ".nc":
        if not path.is_file():
            raise StoreError(f"{path}: no such shard file")
        cdir = path.parent.parent if (path.parent.parent / store.MANIFEST).is_file() else None
        return cdir, [(path, None, None, None)]
    cdir = store.resolve_config_dir(name_or_path, config, root)
    manifest = store.read_manifest(cdir)
    if split not in manifest["splits"]:
        raise UnknownNameError("split", split, manifest["splits"])
    info = manifest["splits"][split]
    recs = sorted(info["shards"], key=lambda s: s["start"])
    have = sum(s["stop"] - s["start"] for s in recs)
    if have != info["n_samples"]:
        warnings.warn(f"{cdir}: split {split!r} has {have} of {info['n_samples']} samples "
                      "(incomplete; re-run generate to resume); loading what is there", stacklevel=3)
    return cdir, [(cdir / s["file"], int(s["start"]), int(s["stop"]), s.get("bytes")) for s in recs]


def _manifest_digests(cdir: Path | None, split: str) -> dict[Path, str]:
    """``{shard path: sha256}`` recorded in the manifest (empty without a manifest)."""
    if cdir is None:
        return {}
    manifest = store.read_manifest(cdir)
    if manifest is None or split not in manifest["splits"]:
        return {}
    return {cdir / s["file"]: s["sha256"] for s in manifest["splits"][split]["shards"] if "sha256" in s}


class _Batch(Sequence):
    """What :meth:`TorchDataset.__getitems__` returns: the stacked batch ``x``, ``y`` plus a
    lazy per-sample view, so torch's default collate still works; :func:`collate` (used by
    :func:`make_loader`) hands the stacked tensors over without copying."""

    __slots__ = ("x", "y")

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.x[i], self.y[i]


def collate(batch):
    """Collate for :class:`TorchDataset`: a prepared batch passes through as ``[x, y]``."""
    if isinstance(batch, _Batch):
        return [batch.x, batch.y]
    return default_collate(batch)


class _Rows(list):
    """Per-row arrays of one variable, indexed like the h5py dataset they stand in for:
    ``rows[r]`` and ``rows[r, sl, …]``."""

    __slots__ = ()

    def __getitem__(self, key):
        if type(key) is tuple:
            return list.__getitem__(self, key[0])[key[1:]]
        return list.__getitem__(self, key)


def direct_rows(ds, buffer, file_size: int) -> _Rows | None:
    """Zero-copy row views of the HDF5 dataset ``ds`` in ``buffer`` (a memory map of its file),
    or ``None`` when its rows are not stored as plain bytes.

    Possible when no filter touches the data (no compression, no checksum), the dtype is numeric
    and native-endian, and the layout is contiguous or chunked with chunks of exactly one row,
    all allocated. Row ``r`` is then the ``ds.shape[1:]`` array at its chunk's byte offset
    (``get_chunk_info``), or at ``offset + r · row bytes`` for contiguous layout: the bytes
    ``ds[r]`` would return, without a library call per row. Every extent is checked against
    ``file_size``, so a truncated file raises ``OSError`` instead of being read past its end.
    """
    import h5py

    n, row_shape, dtype = ds.shape[0], ds.shape[1:], ds.dtype
    if not n or not dtype.isnative or dtype.kind not in "biuf":
        return None
    plist = ds.id.get_create_plist()
    if plist.get_nfilters():
        return None
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    layout = plist.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        base = ds.id.get_offset()
        if base is None:  # never written
            return None
        offsets = [base + r * row_bytes for r in range(n)]
    elif layout == h5py.h5d.CHUNKED and ds.chunks == (1, *row_shape) and ds.id.get_num_chunks() == n:
        offsets = [0] * n
        for c in range(n):
            info = ds.id.get_chunk_info(c)
            if info.filter_mask or info.size != row_bytes or info.byte_offset is None:
                return None
            offsets[info.chunk_offset[0]] = info.byte_offset
    else:
        return None
    if max(offsets) + row_bytes > file_size:
        raise OSError(f"variable {ds.name!r} extends past the end of the file ({file_size} bytes)")
    return _Rows(np.ndarray(row_shape, dtype=dtype, buffer=buffer, offset=int(o)) for o in offsets)


class TorchDataset(Dataset):
    """One split of a generated config as ``(x, y)`` float32 tensors; see the module docstring.

    Attributes: ``inputs``, ``targets`` (variable names), ``variables`` (both, as a dict),
    ``x_channels`` / ``y_channels`` (what each channel holds), ``coords`` (``{dim: values}`` of
    the output grid, after ``resolution``), ``grid_shape``, ``files``, ``config_dir``, ``stats``
    (the train statistics when ``normalize=True``), ``n_samples``, ``n_windows`` (rollout).

    ``verify=True`` (default) compares every shard's sha256 with the manifest when the dataset is
    opened (about 1 s per GiB), so a silently altered file is refused with the file named instead
    of feeding wrong numbers to training.

    ``direct=True`` (default) reads rows that HDF5 stores as plain bytes (the pdeforge format:
    uncompressed one-row chunks) through a read-only memory map of the shard instead of an
    h5py call per row (:func:`direct_rows`: the same bytes, without h5py's per-call overhead);
    other variables, and everything with ``direct=False``, go through h5py.
    """

    def __init__(self, name_or_path, config=None, split="train", root=None, mode="operator",
                 inputs=None, targets=None, normalize=True, resolution=None, in_memory=False,
                 history=1, horizon=1, verify=True, direct=True):
        import h5py

        super().__init__()
        if mode not in MODES:
            raise UnknownNameError("mode", mode, MODES)
        for label, v in (("history", history), ("horizon", horizon)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidValueError(f"{label} must be an integer >= 1, got {v!r}")
        self.mode, self.split, self.direct = mode, split, bool(direct)
        self.history, self.horizon = int(history), int(horizon)
        self.config_dir, entries = _resolve(name_or_path, config, split, root)
        digests = _manifest_digests(self.config_dir, split) if verify else {}
        self.files = [e[0] for e in entries]
        if not self.files:
            raise StoreError(f"{self.config_dir}: split {split!r} has no shards yet; generate it first")

        # --- inspect every shard once (in this process; handles are closed again) --------------
        counts: list[int] = []
        sample_start: list[int] = []
        meta: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        coords: dict[str, np.ndarray] = {}
        first = self.files[0]
        for path, start, stop, nbytes in entries:
            if not path.is_file():
                raise CorruptFileError(path, "listed in the manifest but missing (re-run generate)")
            if nbytes is not None and path.stat().st_size != nbytes:
                raise CorruptFileError(path, f"size {path.stat().st_size} bytes, the manifest records "
                                             f"{nbytes} (truncated or altered?); run pdeforge verify")
            if verify and path in digests and store.file_sha256(path) != digests[path]:
                raise CorruptFileError(path, "sha256 differs from the manifest (file altered or corrupt); "
                                             "run pdeforge verify, then regenerate with --force")
            try:
                fh = h5py.File(path, "r")
            except OSError as exc:
                raise CorruptFileError(path, f"cannot be opened (truncated or corrupt?): {exc}") from None
            with fh:
                try:
                    if path == first:
                        inputs = _names(inputs if inputs is not None else self._default(fh, path, "inputs"), "input")
                        targets = _names(targets if targets is not None else self._default(fh, path, "targets"), "target")
                        self._vars = list(dict.fromkeys(inputs + targets))
                        card = _attr_str(fh, "card")
                        try:
                            self._card = json.loads(card) if card else {}
                        except ValueError:
                            raise CorruptFileError(path, "the 'card' attribute is not valid JSON") from None
                    missing = [v for v in self._vars if v not in fh or not isinstance(fh[v], h5py.Dataset)]
                    if missing:
                        have = sorted(k for k, d in fh.items() if isinstance(d, h5py.Dataset))
                        raise InvalidValueError(f"{path}: no variable {', '.join(map(repr, missing))}; "
                                                f"the file has: {', '.join(have)}")
                    n_rows = None
                    for v in self._vars:
                        ds = fh[v]
                        dims = schema._dims(ds)
                        if not dims or dims[0] != "sample":
                            raise CorruptFileError(path, f"variable {v!r} has dims {dims}; the first must be 'sample'")
                        if n_rows is None:
                            n_rows = ds.shape[0]
                        if ds.shape[0] != n_rows:
                            raise CorruptFileError(path, f"variable {v!r} has {ds.shape[0]} rows, others {n_rows}")
                        if v not in meta:
                            meta[v] = (dims, ds.shape[1:])
                        elif meta[v] != (dims, ds.shape[1:]):
                            raise CorruptFileError(path, f"variable {v!r} has dims {dims} shape {ds.shape[1:]}, "
                                                         f"but {first} has {meta[v][0]} {meta[v][1]}")
                        for d, size in zip(dims[1:], ds.shape[1:]):
                            if d == TIME_DIM and d not in fh:
                                continue
                            if d not in fh:
                                raise CorruptFileError(path, f"dim {d!r} of {v!r} has no coordinate variable")
                            values = np.asarray(fh[d][()], dtype=np.float64)
                            if values.shape != (size,):
                                raise CorruptFileError(path, f"coordinate {d!r} has {values.size} points, "
                                                             f"{v!r} has {size} along it")
                            if d not in coords:
                                coords[d] = values
                            elif not np.array_equal(coords[d], values):
                                raise CorruptFileError(path, f"coordinate {d!r} differs from {first}")
                    if start is None:  # a lone shard file: its own attributes give the range
                        start = int(np.asarray(fh.attrs.get("sample_start", 0)).reshape(-1)[0])
                        stop = start + n_rows
                    if n_rows != stop - start:
                        raise CorruptFileError(path, f"holds {n_rows} samples, its range [{start}, {stop}) says {stop - start}")
                except _H5_ERRORS as exc:
                    raise CorruptFileError(path, f"unreadable (truncated or corrupt?): {exc}") from None
            counts.append(n_rows)
            sample_start.append(start)
        self._sample_start = sample_start
        self.time = coords.get(TIME_DIM)
        self._starts = [0]
        for c in counts:
            self._starts.append(self._starts[-1] + c)
        self.n_samples = self._starts[-1]
        self.inputs, self.targets = tuple(inputs), tuple(targets)
        self.variables = {"inputs": list(self.inputs), "targets": list(self.targets)}
        self._plan(meta, coords, resolution)

        # --- statistics --------------------------------------------------------------------
        self.stats = None
        self._xnorm = self._ynorm = None
        self.normalized = bool(normalize)
        if normalize:
            self._load_norm()

        # --- per-process handles; optional in-memory copy -------------------------------------
        self._pid = None
        self._handles: dict[int, Any] = {}
        self._dsets: dict[int, list] = {}
        self._mem = None
        if in_memory:
            mem = []
            for path in self.files:
                try:
                    with h5py.File(path, "r") as fh:
                        mem.append([fh[v][()] for v in self._vars])
                except _H5_ERRORS as exc:
                    raise CorruptFileError(path, f"unreadable (truncated or corrupt?): {exc}") from None
            self._mem = mem

    # --- construction helpers -----------------------------------------------------------------
    @staticmethod
    def _default(fh, path, which: str) -> str:
        value = _attr_str(fh, which)
        if not value:
            raise InvalidValueError(f"{path}: no {which!r} attribute naming the default {which}; "
                                    f"pass {which}=[...] explicitly")
        return value

    def _plan(self, meta, coords, resolution) -> None:
        rollout = self.mode == "rollout"

        def split_dims(v):
            dims = meta[v][0][1:]
            has_t = bool(dims) and dims[0] == TIME_DIM
            return has_t, dims[1:] if has_t else dims

        for v in self.inputs + self.targets:
            has_t, _ = split_dims(v)
            if has_t and not rollout:
                raise InvalidValueError(f"variable {v!r} has a time dim {meta[v][0]}; use mode='rollout'")
        grid_dims: tuple[str, ...] | None = None
        for v in self.targets:
            has_t, sp = split_dims(v)
            if rollout and not has_t:
                raise InvalidValueError(f"rollout target {v!r} has no {TIME_DIM!r} dim (dims {meta[v][0]})")
            if grid_dims is None:
                grid_dims = sp
            elif sp != grid_dims:
                raise InvalidValueError(
                    f"{self.files[0]}: targets live on different grids ({self.targets[0]!r}: {grid_dims}, "
                    f"{v!r}: {sp}); inputs are mapped onto the target grid, targets never are")
        self.grid_dims = grid_dims
        src_coords = [coords[d] for d in grid_dims]
        if resolution is None:
            out_coords = src_coords
        else:
            res = [resolution] * len(grid_dims) if np.isscalar(resolution) else list(resolution)
            if len(res) != len(grid_dims):
                raise InvalidValueError(f"resolution needs {len(grid_dims)} values (one per axis of {grid_dims}), got {res}")
            domain = (self._card.get("dataset") or {}).get("domain")
            if not domain or len(domain) < len(grid_dims):
                raise InvalidValueError(f"{self.files[0]}: resolution= needs the card's dataset.domain "
                                        "to place the coarse grid, and the card has none")
            out_coords = [c[coarse_indices(c, domain[a], int(m), f"{grid_dims[a]!r}")]
                          for a, (c, m) in enumerate(zip(src_coords, res))]
        self.coords = {d: np.array(c) for d, c in zip(grid_dims, out_coords)}
        self.grid_shape = tuple(len(c) for c in out_coords)
        self.resolution = None if resolution is None else self.grid_shape

        def mapper(v):
            _, sp = split_dims(v)
            if not sp:
                return None  # scalar: broadcast
            if len(sp) != len(grid_dims):
                raise InvalidValueError(f"variable {v!r} has grid dims {sp}, the targets {grid_dims}: "
                                        "different numbers of axes cannot be mapped")
            gm = GridMap([coords[d] for d in sp], out_coords, labels=[f"{v!r} {d}->{g}" for d, g in zip(sp, grid_dims)])
            return None if gm.identity else gm  # same grid: plain (casting) assignment

        index = {v: i for i, v in enumerate(self._vars)}
        self.n_windows = 1
        self._fplan_t = []
        if not rollout:
            self._fplan = ([(index[v], mapper(v), 0, c) for c, v in enumerate(self.inputs)]
                           + [(index[v], mapper(v), 1, c) for c, v in enumerate(self.targets)])
            self.x_channels, self.y_channels = list(self.inputs), list(self.targets)
            self._x_vars, self._y_vars = list(self.inputs), list(self.targets)
            return
        tin = [v for v in self.inputs if split_dims(v)[0]]
        static = [v for v in self.inputs if not split_dims(v)[0]]
        lengths = {v: meta[v][1][0] for v in tin + list(self.targets)}
        if len(set(lengths.values())) > 1:
            raise InvalidValueError(f"time-dependent variables have different numbers of frames: {lengths}")
        T = next(iter(lengths.values()))
        self.n_frames = T
        self.n_windows = T - self.history - self.horizon + 1
        if self.n_windows < 1:
            raise InvalidValueError(f"{T} frames cannot hold history {self.history} + horizon {self.horizon}")
        H, F, V, W = self.history, self.horizon, len(tin), len(self.targets)

        def tmapper(v):
            gm = mapper(v)
            return _BCAST if gm is None and not split_dims(v)[1] else gm

        # the window of index (sample, w) holds input frames w .. w+H-1 and target frames
        # w+H .. w+H+F-1; channel f*V + k is variable k at the window's f-th frame
        self._fplan = [(index[v], mapper(v), 0, H * V + k) for k, v in enumerate(static)]
        self._fplan_t = ([(index[v], tmapper(v), 0, slice(k, k + H * V, V), 0, H) for k, v in enumerate(tin)]
                         + [(index[v], tmapper(v), 1, slice(k, k + F * W, W), H, H + F)
                            for k, v in enumerate(self.targets)])
        self.x_channels = [f"{v}[t{f - H + 1:+d}]" if f != H - 1 else f"{v}[t]" for f in range(H) for v in tin] + static
        self.y_channels = [f"{v}[t+{f + 1}]" for f in range(F) for v in self.targets]
        self._x_vars = [v for _ in range(H) for v in tin] + static
        self._y_vars = [v for _ in range(F) for v in self.targets]

    def _load_norm(self) -> None:
        if self.stats is None:
            if self.config_dir is None:
                raise InvalidValueError(f"{self.files[0]} is not inside a config directory with a manifest; "
                                        "normalisation needs the config's train split (pass normalize=False)")
            self.stats = load_stats(self.config_dir)
        n = len(self.grid_shape)
        self._xnorm = Normalizer(self.stats, self._x_vars, n)
        self._ynorm = Normalizer(self.stats, self._y_vars, n)

    # --- handles ---------------------------------------------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_pid"], state["_handles"], state["_dsets"] = None, {}, {}
        return state

    def _own_handles(self) -> dict[int, list]:
        """This process's per-shard dataset handles (a forked worker starts afresh)."""
        pid = os.getpid()
        if self._pid != pid:  # new process: never touch the parent's handles
            self._pid, self._handles, self._dsets = pid, {}, {}
        return self._dsets

    def _open(self, k: int) -> list:
        import h5py

        path = self.files[k]
        try:
            fh = h5py.File(path, "r")
            d = [fh[v] for v in self._vars]
            fd = size = None
            if self.direct:
                # the store replaces files by rename, never in place, so a mapped inode keeps its
                # bytes even if the shard is regenerated meanwhile; an in-place truncation is
                # caught by the size check in _fill (reading past the end of a map would crash)
                fd = os.open(path, os.O_RDONLY)
                size = os.fstat(fd).st_size
                mm = np.memmap(path, dtype=np.uint8, mode="r")
                d = [direct_rows(ds, mm, size) or ds for ds in d]
                if all(not isinstance(x, _Rows) for x in d):
                    os.close(fd)
                    fd = None
        except _H5_ERRORS as exc:
            raise CorruptFileError(path, f"cannot be opened (truncated or corrupt?): {exc}") from None
        self._handles[k], self._dsets[k] = (fh, fd, size), d
        return d

    def _check_mapped(self, k: int) -> None:
        """Refuse to read a memory-mapped shard that shrank since it was mapped."""
        fh, fd, size = self._handles[k]
        if fd is not None and os.fstat(fd).st_size < size:
            raise CorruptFileError(self.files[k], f"shrank to {os.fstat(fd).st_size} bytes while open "
                                                  f"(was {size}; truncated in place?)")

    def close(self) -> None:
        """Close this process's open shard handles (reopened on the next read)."""
        if self._pid == os.getpid():
            for fh, fd, _ in self._handles.values():
                try:
                    fh.close()
                    if fd is not None:
                        os.close(fd)
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        self._handles, self._dsets = {}, {}

    # --- indexing ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_samples * self.n_windows

    def window(self, i: int) -> tuple[int, int]:
        """``(sample position, t)`` of dataset index ``i``: ``t`` is the last input frame."""
        s, w = divmod(self._check_index(i), self.n_windows)
        return s, w + self.history - 1

    def sample_id(self, i: int) -> int:
        """The split's global sample index (the ``sample`` coordinate) of dataset index ``i``."""
        s = self._check_index(i) // self.n_windows
        k = bisect.bisect_right(self._starts, s) - 1
        return self._sample_start[k] + s - self._starts[k]

    def _check_index(self, i) -> int:
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} items")
        return i

    def _fill(self, indices, X: np.ndarray, Y: np.ndarray) -> None:
        """Write the samples ``indices`` into ``X[b]``, ``Y[b]`` (float32, cast on assignment)."""
        starts, nw, ng = self._starts, self.n_windows, len(self.grid_shape)
        out = (X, Y)
        plan = [(vi, gm, out[side], ch) for vi, gm, side, ch in self._fplan]
        plan_t = [(vi, gm, out[side], sl, t0, t1) for vi, gm, side, sl, t0, t1 in self._fplan_t]
        mem = self._mem
        handles = self._own_handles() if mem is None else None
        k = -1
        checked: set[int] = set()
        try:
            for b, i in enumerate(indices):
                s, w = divmod(i, nw)
                k = bisect.bisect_right(starts, s) - 1
                row = s - starts[k]
                if mem is not None:
                    src = mem[k]
                else:
                    src = handles.get(k) or self._open(k)
                    if k not in checked:  # once per shard and batch
                        self._check_mapped(k)
                        checked.add(k)
                for vi, gm, dst, ch in plan:  # one row per variable
                    if gm is None:  # same grid, or a scalar broadcast: assignment casts to float32
                        dst[b, ch] = src[vi][row]
                    else:
                        gm(src[vi][row], out=dst[b, ch])
                for vi, gm, dst, sl, t0, t1 in plan_t:  # rollout: frames w+t0 .. w+t1-1
                    a = src[vi][row, w + t0:w + t1]
                    if gm is None:
                        dst[b, sl] = a
                    elif gm is _BCAST:
                        dst[b, sl] = a.reshape(a.shape + (1,) * ng)
                    else:
                        gm(a, out=dst[b, sl])
        except _H5_ERRORS as exc:
            path = self.files[k] if k >= 0 else self.files[0]
            raise CorruptFileError(path, f"read failed (truncated or corrupt?): {exc}") from None

    def _batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        idx = []
        for i in indices:
            i = int(i)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {i} out of range for {n} items")
            idx.append(i)
        X = np.empty((len(idx), len(self.x_channels), *self.grid_shape), dtype=np.float32)
        Y = np.empty((len(idx), len(self.y_channels), *self.grid_shape), dtype=np.float32)
        self._fill(idx, X, Y)
        if self.normalized:
            self._xnorm.apply_(X)
            self._ynorm.apply_(Y)
        return X, Y

    def __getitem__(self, i) -> tuple[torch.Tensor, torch.Tensor]:
        X, Y = self._batch((i,))
        return torch.from_numpy(X[0]), torch.from_numpy(Y[0])

    def __getitems__(self, indices) -> _Batch:
        """A whole batch in one preallocated pair of arrays (used by the DataLoader)."""
        X, Y = self._batch(indices)
        return _Batch(torch.from_numpy(X), torch.from_numpy(Y))

    # --- normalisation -----------------------------------------------------------------------------
    def normalize(self, t, part: str = "x"):
        """Physical values → normalised, for ``part`` "x" (inputs) or "y" (targets)."""
        return self._norm(part).apply(t)

    def denormalize(self, t, part: str = "y"):
        """Normalised → physical values (e.g. a model's prediction of ``y``)."""
        return self._norm(part).invert(t)

    def _norm(self, part: str) -> Normalizer:
        if part not in ("x", "y"):
            raise UnknownNameError("part", part, ("x", "y"))
        if self._xnorm is None:
            self._load_norm()
        return self._xnorm if part == "x" else self._ynorm

    def __repr__(self) -> str:
        where = self.config_dir or self.files[0]
        return (f"TorchDataset({str(where)!r}, split={self.split!r}, mode={self.mode!r}, "
                f"x={self.x_channels}, y={self.y_channels}, grid={self.grid_shape}, n={len(self)})")


def _seed_worker(worker_id: int) -> None:
    """Seed numpy and random in a worker from torch's per-worker seed (itself from the loader's
    generator), so any randomness a transform adds is reproducible too."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: Dataset, batch_size: int = 32, shuffle: bool = True, seed: int = 0,
                num_workers: int = 0, **kwargs) -> DataLoader:
    """A DataLoader whose batches for a fixed ``seed`` are the same for any ``num_workers``.

    The shuffle order comes from a ``torch.Generator`` seeded with ``seed`` and drawn in the main
    process; workers return batches in order; :class:`TorchDataset` samples are deterministic.
    Extra keyword arguments go to :class:`torch.utils.data.DataLoader`.
    """
    g = torch.Generator()
    g.manual_seed(int(seed))
    kwargs.setdefault("collate_fn", collate)
    kwargs.setdefault("worker_init_fn", _seed_worker)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g,
                      num_workers=num_workers, **kwargs)
