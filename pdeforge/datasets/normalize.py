"""Per-variable normalisation statistics, computed once on the train split and stored.

Rule
----
For every numeric data variable of a config, the statistics are the mean and standard deviation
over **all train samples and all points** (space, and time for time series): one pair per
variable, which the loader applies to every channel that carries that variable. Accumulation is
in float64, shard by shard in row blocks, combined with the pairwise (Chan et al.) update, so
the result does not depend on how the split is sharded and never needs the whole split in memory.

The statistics come **only from the train split**. ``TorchDataset(split="val")`` and ``"test"``
read the train file and never compute their own, so no information from held-out data reaches the
inputs or the loss.

Transforms
----------
A positive variable with a large dynamic range — ``min > 0`` and ``max / min > 10**LOG_DECADES``
(more than two decades; ConDiff's ``k = exp(g)`` at high variance) — is normalised in log space:
``z = (log v - mean_log) / std_log``. The choice is recorded per variable as
``"transform": "log"`` or ``"none"`` in the stats file, so the loader has no dataset-specific
branches: it applies what the file says. A generator may force the choice with a variable
attribute ``transform`` (``"log"`` or ``"none"``). A constant variable (std below
``1e-12 * max(1, |mean|)``, e.g. k ≡ 1 in Poisson configs) gets ``std = 1`` so that it maps to 0
instead of dividing by zero; it is marked ``"constant": true``.

Roles
-----
Each variable's ``role`` attribute (:data:`pdeforge.datasets.schema.ROLES`) is recorded.

* A **mask** (role ``mask``: 1 = fluid, 0 = solid) is never z-scored: it gets
  ``"transform": "identity"`` with ``mean = 0``, ``std = 1``, so a mask used as an input
  channel keeps its exact 0/1 values (``(m - 0) / 1``); a ``transform`` attribute cannot
  override that. Its raw moments are still recorded (``raw_mean`` = the fluid fraction).
* A **per-sample scalar** (dims ``(sample,)``; the case parameters of role ``param``, e.g. a
  velocity or viscosity, used as inputs become constant channels in the loader) is normalised
  as a scalar: one value per train sample (``count`` = number of train samples, not weighted by
  the grid), z-scored with the same rule as fields (log space for a positive parameter spanning
  more than two decades, e.g. a viscosity from 1e-5 to 1e-3). It is marked ``"scalar": true``.
* A **field on the mask's grid** (same dims and shape as the shard's one mask variable) has its
  statistics over **fluid points only** (``mask != 0``): what a solver leaves in solid cells
  (zeros, or any placeholder) never shifts the mean, the std or the log-space decision. It is
  marked ``"fluid_only": <mask name>``; its normalisation is still applied to every point.

File
----
``<config>/normalization.json`` beside the manifest, written atomically
(:func:`pdeforge.atomic.write_json`)::

    {"format": "pdeforge-normalization/2", "content_key": <manifest content key>,
     "train_fingerprint": <sha256 of the train shards' (file, range, sha256)>, "split": "train",
     "n_samples": N, "variables": {"k": {"transform": "log", "mean": …, "std": …, "min": …,
     "max": …, "count": …, "raw_mean": …, "raw_std": …, "constant": false, "role": "input",
     "scalar": false}, …}}

It is recomputed when the manifest's content key differs (other generator settings) or when the
train shards differ (the content key does not cover split sizes: regenerating with another
``n_train`` keeps the key but changes the train set), and when it has another ``format``
(version 1 files predate the mask rule; the other variables' numbers are unchanged). If the
directory cannot be written the statistics are kept in memory and a warning says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from pdeforge.atomic import write_json
from pdeforge.datasets import store
from pdeforge.errors import CorruptFileError, InvalidValueError, StoreError

STATS_FILE = "normalization.json"
#: version 2: per-variable ``role`` and ``scalar``, the identity transform of masks
STATS_FORMAT = "pdeforge-normalization/2"
#: a positive variable spanning more than this many decades is normalised in log space
LOG_DECADES = 2.0
#: what a ``transform`` attribute may ask for
TRANSFORMS = ("none", "log")
#: the role whose variables are never z-scored
MASK_ROLE = "mask"
#: rows per read block are chosen so that one block stays below this many bytes
_BLOCK_BYTES = 64 << 20


def train_fingerprint(manifest: dict[str, Any]) -> str:
    """sha256 over the train shards' file names, sample ranges and file checksums."""
    shards = manifest.get("splits", {}).get("train", {}).get("shards", [])
    blob = [[s["file"], s["start"], s["stop"], s.get("sha256", "")] for s in shards]
    return hashlib.sha256(json.dumps(blob).encode()).hexdigest()


class _Moments:
    """Streaming count / mean / M2 / min / max in float64, combined blockwise."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max = math.inf, -math.inf

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return
        nb = x.size
        mb = float(x.mean())
        m2b = float(np.square(x - mb).sum())
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else 0.0


def compute_stats(files: list[Path], variables: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per-variable statistics over the given shard files (see the module docstring)."""
    import h5py

    from pdeforge.datasets import schema

    raw: dict[str, _Moments] = {}
    logm: dict[str, _Moments] = {}
    forced: dict[str, str] = {}
    roles: dict[str, str | None] = {}
    scalar: dict[str, bool] = {}
    fluid_of: dict[str, str] = {}  # variable -> the mask whose fluid points its statistics cover
    for path in files:
        try:
            fh = h5py.File(path, "r")
        except OSError as exc:
            raise CorruptFileError(path, f"cannot be opened (truncated or corrupt?): {exc}") from None
        with fh:
            masks = [d for d in fh.values() if isinstance(d, h5py.Dataset) and _text_attr(d, "role") == MASK_ROLE]
            mask_ds = masks[0] if len(masks) == 1 else None
            mask_dims = schema._dims(mask_ds) if mask_ds is not None else None
            for name, ds in fh.items():
                if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiub":
                    continue
                dims = schema._dims(ds)
                if not dims or dims[0] != "sample" or dims == (name,):
                    continue  # coordinates
                if variables is not None and name not in variables:
                    continue
                roles.setdefault(name, _text_attr(ds, "role"))
                scalar.setdefault(name, dims == ("sample",))
                attr = _text_attr(ds, "transform")
                if attr is not None:
                    if attr not in TRANSFORMS:
                        raise CorruptFileError(path, f"variable {name!r} has transform {attr!r}; "
                                               f"expected one of {', '.join(TRANSFORMS)}")
                    forced[name] = attr
                # a field on the mask's grid: fluid points only (solid cells may hold anything)
                on_mask = (mask_ds is not None and ds.name != mask_ds.name
                           and dims == mask_dims and ds.shape == mask_ds.shape)
                if on_mask:
                    fluid_of[name] = mask_ds.name.rsplit("/", 1)[-1]
                r, lg = raw.setdefault(name, _Moments()), logm.setdefault(name, _Moments())
                row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * 8)
                step = max(1, _BLOCK_BYTES // row_bytes)
                for a in range(0, ds.shape[0], step):
                    try:
                        block = np.asarray(ds[a:a + step], dtype=np.float64)
                        if on_mask:
                            block = block[np.asarray(mask_ds[a:a + step]) != 0]
                    except OSError as exc:
                        raise CorruptFileError(path, f"variable {name!r} unreadable (corrupt?): {exc}") from None
                    r.add(block)
                    if lg is not None and block.size:
                        if block.min() > 0:
                            lg.add(np.log(block))
                        else:
                            logm[name] = lg = None  # not positive: log space impossible
    out: dict[str, dict[str, Any]] = {}
    for name, r in raw.items():
        lg = logm.get(name)
        info = {"role": roles.get(name), "scalar": bool(scalar.get(name))}
        if name in fluid_of:
            info["fluid_only"] = fluid_of[name]
        if roles.get(name) == MASK_ROLE:  # 0/1 stays 0/1: never z-scored, whatever else is asked
            out[name] = {"transform": "identity", "mean": 0.0, "std": 1.0, "constant": False,
                         "min": r.min, "max": r.max, "count": r.n, "raw_mean": r.mean,
                         "raw_std": r.std, **info}
            continue
        if name in forced:
            transform = forced[name]
            if transform == "log" and (lg is None or r.min <= 0):
                raise InvalidValueError(f"variable {name!r} asks for log normalisation but has "
                                        f"values <= 0 (min {r.min:g})")
        elif r.n and r.min > 0 and r.max > r.min * 10 ** LOG_DECADES:
            transform = "log"
        else:
            transform = "none"
        m = lg if transform == "log" else r
        mean, std = m.mean, m.std
        constant = std <= 1e-12 * max(1.0, abs(mean))
        out[name] = {
            "transform": transform, "mean": mean, "std": 1.0 if constant else std,
            "constant": bool(constant), "min": r.min, "max": r.max, "count": r.n,
            "raw_mean": r.mean, "raw_std": r.std, **info,
        }
    return out


def _text_attr(ds, name: str) -> str | None:
    value = ds.attrs.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def load_stats(cdir: str | Path, *, recompute: bool = False) -> dict[str, Any]:
    """The train-split statistics of one config: read from ``normalization.json`` when it is
    current, else computed from the train shards and written there."""
    cdir = Path(cdir)
    manifest = store.read_manifest(cdir)
    if manifest is None:
        raise InvalidValueError(f"{cdir}: no {store.MANIFEST}; normalisation statistics need the "
                                "config's manifest (pass normalize=False to read raw values)")
    key = manifest.content_key
    fingerprint = train_fingerprint(manifest)
    path = cdir / STATS_FILE
    if not recompute and path.is_file():
        try:
            stats = json.loads(path.read_text())
        except (OSError, ValueError):
            stats = None  # unreadable: recompute and overwrite
        if (isinstance(stats, dict) and stats.get("format") == STATS_FORMAT
                and stats.get("content_key") == key and stats.get("train_fingerprint") == fingerprint):
            return stats
    if "train" not in manifest.splits or not manifest.split("train").shards:
        raise InvalidValueError(f"{cdir}: the train split has no samples; normalisation statistics "
                                "come from the train split only (pass normalize=False)")
    from pdeforge.datasets.reading import open_split_files

    train = open_split_files(cdir, split="train")  # verified like every other read
    files = train.files
    stats = {
        "format": STATS_FORMAT,
        "content_key": key,
        "train_fingerprint": fingerprint,
        "split": "train",
        "n_samples": sum(ref.n for ref in train.shards),
        "log_decades": LOG_DECADES,
        "created_at": store.now(),
        "variables": compute_stats(files),
    }
    try:
        write_json(path, stats)
    except (OSError, StoreError) as exc:  # read-only or full: StoreError from pdeforge.atomic
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        warnings.warn(f"cannot write {path} ({why}); using the statistics in memory", stacklevel=2)
    return stats


class Normalizer:
    """Per-channel affine (or log-affine) map built from a stats file.

    ``channels`` lists the variable of each channel; ``apply`` maps physical values to
    ``(T(v) - mean) / std`` with ``T`` = ``log`` where the stats say ``"log"``, else the identity
    (``"none"``, and ``"identity"`` whose mean 0 and std 1 leave the values exactly as they
    are: masks); ``invert`` maps back.
    Works on numpy arrays and torch tensors shaped ``(C, *grid)`` or ``(B, C, *grid)``.
    """

    def __init__(self, stats: dict[str, Any], channels: list[str], n_spatial: int):
        missing = [c for c in dict.fromkeys(channels) if c not in stats["variables"]]
        if missing:
            raise InvalidValueError(f"no normalisation statistics for {', '.join(missing)} "
                                    f"(have: {', '.join(sorted(stats['variables']))})")
        v = stats["variables"]
        self.channels = list(channels)
        self.n_spatial = n_spatial
        self.mean = np.array([v[c]["mean"] for c in channels], dtype=np.float64)
        self.std = np.array([v[c]["std"] for c in channels], dtype=np.float64)
        self.log = np.array([v[c]["transform"] == "log" for c in channels], dtype=bool)
        self._log_idx = np.flatnonzero(self.log)
        shape = (len(channels),) + (1,) * n_spatial
        self._shift32 = self.mean.astype(np.float32).reshape(shape)
        self._inv32 = (1.0 / self.std).astype(np.float32).reshape(shape)
        self._shape = shape

    def _check(self, t) -> int:
        axis = t.ndim - self.n_spatial - 1
        if axis not in (0, 1) or t.shape[axis] != len(self.channels):
            raise InvalidValueError(
                f"expected a tensor shaped (C, *grid) or (B, C, *grid) with C = {len(self.channels)} "
                f"and {self.n_spatial} grid axes; got shape {tuple(t.shape)}")
        return axis

    def apply_(self, arr: np.ndarray) -> np.ndarray:
        """In place on a float32 numpy array (the loader's fast path)."""
        axis = self._check(arr)
        if self._log_idx.size:
            sel = (slice(None),) * axis + (self._log_idx,)
            arr[sel] = np.log(arr[sel])
        arr -= self._shift32
        arr *= self._inv32
        return arr

    def apply(self, t):
        axis = self._check(t)
        mean, std = self._params(t)
        if self._log_idx.size:
            t = self._where_log(t, axis, np.log if isinstance(t, np.ndarray) else (lambda a: a.log()))
        return (t - mean) / std

    def invert(self, t):
        axis = self._check(t)
        mean, std = self._params(t)
        t = t * std + mean
        if self._log_idx.size:
            t = self._where_log(t, axis, np.exp if isinstance(t, np.ndarray) else (lambda a: a.exp()))
        return t

    def _params(self, t):
        if isinstance(t, np.ndarray):
            return self.mean.reshape(self._shape).astype(t.dtype), self.std.reshape(self._shape).astype(t.dtype)
        import torch

        mean = torch.as_tensor(self.mean.reshape(self._shape), dtype=t.dtype, device=t.device)
        std = torch.as_tensor(self.std.reshape(self._shape), dtype=t.dtype, device=t.device)
        return mean, std

    def _where_log(self, t, axis, fn):
        out = t.copy() if isinstance(t, np.ndarray) else t.clone()
        sel = (slice(None),) * axis + (self._log_idx.tolist(),)
        out[sel] = fn(t[sel])
        return out
