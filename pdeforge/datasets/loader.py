r"""The uniform loader: any generated split as a :class:`torch.utils.data.Dataset`.

``TorchDataset("condiff", config="cubic0.1_grid64", split="train")`` yields ``(x, y)`` float32
tensors shaped ``(channels, nx, ny)``: ``x`` stacks the input variables, ``y`` the targets, in the
order listed (default: the shard attributes ``inputs`` / ``targets``, i.e. the card's ``[task]``).
Nothing in this module knows about a particular dataset; everything follows from the shard
format (:mod:`pdeforge.datasets.schema`), the manifest and the stats file.

Shards come from the verified-open path (:mod:`pdeforge.datasets.reading`: size, sha256 and
identity attributes checked against the manifest when the dataset is opened) and are read row
by row by :class:`~pdeforge.datasets.shard_reader.ShardReader`; inputs on other grids are
mapped onto the target grid and ``resolution=`` coarsens by injection
(:mod:`pdeforge.datasets.grid`).

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
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from pdeforge.datasets import schema
from pdeforge.datasets.grid import GridMap, coarse_indices
from pdeforge.datasets.normalize import Normalizer, load_stats
from pdeforge.datasets.reading import open_split_files
from pdeforge.datasets.shard_reader import H5_ERRORS as _H5_ERRORS
from pdeforge.datasets.shard_reader import ShardReader
from pdeforge.errors import CorruptFileError, InvalidValueError, PdeforgeError, StoreError, UnknownNameError

TIME_DIM = "t"
MODES = ("operator", "rollout", "frames")
#: the pseudo-variable of the time channel in mode="frames"
TIME_CHANNEL = "t"
_BCAST = object()  # plan marker: a per-frame scalar broadcast over the grid


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


class _Batch(Sequence):
    """What :meth:`TorchDataset.__getitems__` returns: the stacked batch ``x``, ``y`` plus a
    lazy per-sample view, so torch's default collate still works; :func:`collate` (used by
    :func:`make_loader`) hands the stacked tensors over without copying."""

    __slots__ = ("x", "y", "m")

    def __init__(self, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor | None = None):
        self.x, self.y, self.m = x, y, m

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return (self.x[i], self.y[i]) if self.m is None else (self.x[i], self.y[i], self.m[i])


def collate(batch):
    """Collate for :class:`TorchDataset`: a prepared batch passes through as ``[x, y]``
    (``[x, y, mask]`` for a masked split)."""
    if isinstance(batch, _Batch):
        return [batch.x, batch.y] if batch.m is None else [batch.x, batch.y, batch.m]
    return default_collate(batch)


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

    def __init__(self, name_or_path, config=None, split="train", root=None, mode=None,
                 inputs=None, targets=None, normalize=True, resolution=None, in_memory=False,
                 history=1, horizon=1, verify=True, direct=True, mask="auto", task=None):
        import h5py

        super().__init__()
        if mode is not None and mode not in MODES:
            raise UnknownNameError("mode", mode, MODES)
        for label, v in (("history", history), ("horizon", horizon)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidValueError(f"{label} must be an integer >= 1, got {v!r}")
        self.mode, self.split, self.direct = mode, split, bool(direct)
        self.history, self.horizon = int(history), int(horizon)
        self.task = task
        found = open_split_files(name_or_path, config, split, root, verify=verify)
        self.config_dir = found.cdir
        entries = [(s.path, s.start, s.stop) for s in found.shards]
        self.files = found.files
        if not self.files:
            raise StoreError(f"{self.config_dir}: split {split!r} has no shards yet; generate it first")

        # --- inspect every shard once (in this process; handles are closed again) --------------
        counts: list[int] = []
        sample_start: list[int] = []
        meta: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        coords: dict[str, np.ndarray] = {}
        first = self.files[0]
        for path, start, stop in entries:
            try:
                fh = h5py.File(path, "r")
            except OSError as exc:
                raise CorruptFileError(path, f"cannot be opened (truncated or corrupt?): {exc}") from None
            with fh:
                try:
                    if path == first:
                        card = _attr_str(fh, "card")
                        try:
                            self._card = json.loads(card) if card else {}
                        except ValueError:
                            raise CorruptFileError(path, "the 'card' attribute is not valid JSON") from None
                        declared = self._declared_task(path, task)
                        if self.mode is None:
                            self.mode = declared.get("mode", "operator")
                            if self.mode not in MODES:
                                raise UnknownNameError("mode", self.mode, MODES)
                        if inputs is None and "inputs" in declared:
                            inputs = declared["inputs"]
                        if targets is None and "targets" in declared:
                            targets = declared["targets"]
                        inputs = _names(inputs if inputs is not None else self._default(fh, path, "inputs"), "input")
                        targets = _names(targets if targets is not None else self._default(fh, path, "targets"), "target")
                        self.mask_var = self._mask_name(fh, path, mask, targets)
                        extra = [self.mask_var] if self.mask_var else []
                        self._vars = list(dict.fromkeys(inputs + targets + extra))
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
                    if n_rows != stop - start:
                        raise CorruptFileError(path, f"holds {n_rows} samples, its range [{start}, {stop}) says {stop - start}")
                except _H5_ERRORS as exc:
                    if isinstance(exc, PdeforgeError):  # our own errors (UnknownNameError is a KeyError)
                        raise
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
        self._reader = ShardReader(self.files, self._vars, direct=self.direct)
        self._mem = self._reader.read_all() if in_memory else None

    # --- construction helpers -----------------------------------------------------------------
    def _declared_task(self, path, task) -> dict:
        """The task the card declares: ``[task]`` (``task=None``) or ``[tasks.<task>]``; keys
        ``mode``, ``inputs``, ``targets`` (explicit arguments win)."""
        if task is None:
            return {k: v for k, v in (self._card.get("task") or {}).items() if k in ("mode", "inputs", "targets")}
        tasks = self._card.get("tasks") or {}
        if task not in tasks:
            raise UnknownNameError("task", str(task), list(tasks))
        return dict(tasks[task])

    @staticmethod
    def _mask_name(fh, path, mask, targets) -> str | None:
        """The mask variable: ``mask="auto"`` takes the ``role == "mask"`` variable on the targets'
        grid (None when there is none), a name takes that variable, ``None`` disables masking."""
        import h5py

        from pdeforge.datasets.schema import _dims

        if mask is None or mask is False:
            return None
        found = [k for k, d in fh.items() if isinstance(d, h5py.Dataset) and _attr_str(d, "role") == "mask"]
        if mask == "auto":
            grid = tuple(d for d in _dims(fh[targets[0]])[1:] if d != TIME_DIM) if targets[0] in fh else ()
            on_grid = [k for k in found if _dims(fh[k])[1:] == grid]
            if len(on_grid) > 1:
                raise InvalidValueError(f"{path}: several mask variables ({', '.join(on_grid)}); pass mask=NAME")
            return on_grid[0] if on_grid else None
        if str(mask) not in found:
            raise UnknownNameError("mask variable", str(mask), found)
        return str(mask)

    @staticmethod
    def _default(fh, path, which: str) -> str:
        value = _attr_str(fh, which)
        if not value:
            raise InvalidValueError(f"{path}: no {which!r} attribute naming the default {which}; "
                                    f"pass {which}=[...] explicitly")
        return value

    def _plan(self, meta, coords, resolution) -> None:
        rollout = self.mode in ("rollout", "frames")

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
        self._tchan = None
        mplan = []
        if self.mask_var:
            has_t, sp = split_dims(self.mask_var)
            if has_t or len(sp) != len(grid_dims):
                raise InvalidValueError(f"mask {self.mask_var!r} has dims {meta[self.mask_var][0]}: a mask must be "
                                        f"a static field on the targets' grid axes {grid_dims}")
            mplan = [(index[self.mask_var], mapper(self.mask_var), 2, 0)]
        if not rollout:
            self._fplan = ([(index[v], mapper(v), 0, c) for c, v in enumerate(self.inputs)]
                           + [(index[v], mapper(v), 1, c) for c, v in enumerate(self.targets)] + mplan)
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
        if self.mode == "frames":
            self._plan_frames(index, mapper, split_dims, tin, static, T, mplan, coords)
            return
        self.n_windows = T - self.history - self.horizon + 1
        if self.n_windows < 1:
            raise InvalidValueError(f"{T} frames cannot hold history {self.history} + horizon {self.horizon}")
        H, F, V, W = self.history, self.horizon, len(tin), len(self.targets)

        def tmapper(v):
            gm = mapper(v)
            return _BCAST if gm is None and not split_dims(v)[1] else gm

        # the window of index (sample, w) holds input frames w .. w+H-1 and target frames
        # w+H .. w+H+F-1; channel f*V + k is variable k at the window's f-th frame
        self._fplan = [(index[v], mapper(v), 0, H * V + k) for k, v in enumerate(static)] + mplan
        self._fplan_t = ([(index[v], tmapper(v), 0, slice(k, k + H * V, V), 0, H) for k, v in enumerate(tin)]
                         + [(index[v], tmapper(v), 1, slice(k, k + F * W, W), H, H + F)
                            for k, v in enumerate(self.targets)])
        self.x_channels = [f"{v}[t{f - H + 1:+d}]" if f != H - 1 else f"{v}[t]" for f in range(H) for v in tin] + static
        self.y_channels = [f"{v}[t+{f + 1}]" for f in range(F) for v in self.targets]
        self._x_vars = [v for _ in range(H) for v in tin] + static
        self._y_vars = [v for _ in range(F) for v in self.targets]

    def _plan_frames(self, index, mapper, split_dims, tin, static, T, mplan, coords) -> None:
        """mode="frames" (non-autoregressive): index (sample, k) → x = the static inputs (case
        parameters broadcast to constant channels, static fields) + one channel holding the
        frame's time coordinate t[k]; y = the targets at frame k. Time-dependent inputs are
        refused (they would hand the model the answer's frame)."""
        if tin:
            raise InvalidValueError(f"mode='frames' takes static inputs only (case parameters, static fields); "
                                    f"{', '.join(tin)} have a {TIME_DIM!r} dim")
        if TIME_DIM not in coords:
            raise InvalidValueError(f"mode='frames' needs a {TIME_DIM!r} coordinate")
        self.n_windows = T
        self.history, self.horizon = 0, 1
        S = len(static)

        def tmapper(v):
            gm = mapper(v)
            return _BCAST if gm is None and not split_dims(v)[1] else gm

        self._fplan = [(index[v], mapper(v), 0, k) for k, v in enumerate(static)] + mplan
        self._fplan_t = [(index[v], tmapper(v), 1, slice(k, k + 1), 0, 1) for k, v in enumerate(self.targets)]
        self._tchan = S
        self.x_channels = static + [TIME_CHANNEL]
        self.y_channels = [f"{v}[t]" for v in self.targets]
        self._x_vars = static + [TIME_CHANNEL]
        self._y_vars = list(self.targets)

    def _load_norm(self) -> None:
        if self.stats is None:
            if self.config_dir is None:
                raise InvalidValueError(f"{self.files[0]} is not inside a config directory with a manifest; "
                                        "normalisation needs the config's train split (pass normalize=False)")
            self.stats = load_stats(self.config_dir)
            if TIME_CHANNEL in self._x_vars and TIME_CHANNEL not in self.stats["variables"]:
                t = np.asarray(self.time, dtype=np.float64)  # the time channel: z-score of t
                self.stats = {**self.stats, "variables": {**self.stats["variables"], TIME_CHANNEL: {
                    "mean": float(t.mean()), "std": float(t.std()) or 1.0, "transform": "none",
                    "role": "coordinate"}}}
        n = len(self.grid_shape)
        self._xnorm = Normalizer(self.stats, self._x_vars, n)
        self._ynorm = Normalizer(self.stats, self._y_vars, n)

    # --- handles ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close this process's open shard handles (reopened on the next read)."""
        self._reader.close()

    # --- indexing ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_samples * self.n_windows

    def window(self, i: int) -> tuple[int, int]:
        """``(sample position, t)`` of dataset index ``i``: ``t`` is the last input frame
        (mode="frames": the frame served)."""
        s, w = divmod(self._check_index(i), self.n_windows)
        return s, w + max(self.history - 1, 0)

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

    def _fill(self, indices, X: np.ndarray, Y: np.ndarray, M: np.ndarray | None = None) -> None:
        """Write the samples ``indices`` into ``X[b]``, ``Y[b]`` (and the mask into ``M[b]``;
        float32, cast on assignment)."""
        starts, nw, ng = self._starts, self.n_windows, len(self.grid_shape)
        out = (X, Y, M)
        plan = [(vi, gm, out[side], ch) for vi, gm, side, ch in self._fplan]
        plan_t = [(vi, gm, out[side], sl, t0, t1) for vi, gm, side, sl, t0, t1 in self._fplan_t]
        mem, reader = self._mem, self._reader
        tchan, time = self._tchan, self.time
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
                    src = reader.rows(k)
                    if k not in checked:  # once per shard and batch
                        reader.check(k)
                        checked.add(k)
                for vi, gm, dst, ch in plan:  # one row per variable
                    if gm is None:  # same grid, or a scalar broadcast: assignment casts to float32
                        dst[b, ch] = src[vi][row]
                    else:
                        gm(src[vi][row], out=dst[b, ch])
                if tchan is not None:  # mode="frames": the frame's time as a constant channel
                    X[b, tchan] = time[w]
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

    def _batch(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
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
        M = np.empty((len(idx), 1, *self.grid_shape), dtype=np.float32) if self.mask_var else None
        self._fill(idx, X, Y, M)
        if self.normalized:
            self._xnorm.apply_(X)
            self._ynorm.apply_(Y)
        return X, Y, M

    def __getitem__(self, i):
        """``(x, y)``, or ``(x, y, mask)`` when the split has a mask (:attr:`mask_var`)."""
        X, Y, M = self._batch((i,))
        if M is None:
            return torch.from_numpy(X[0]), torch.from_numpy(Y[0])
        return torch.from_numpy(X[0]), torch.from_numpy(Y[0]), torch.from_numpy(M[0])

    def __getitems__(self, indices) -> _Batch:
        """A whole batch in one preallocated pair of arrays (used by the DataLoader)."""
        X, Y, M = self._batch(indices)
        return _Batch(torch.from_numpy(X), torch.from_numpy(Y), None if M is None else torch.from_numpy(M))

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
