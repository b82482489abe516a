"""The pdeforge shard format (version 1) and its checker.

A shard is one netCDF4/HDF5 file (written with h5netcdf) holding one xarray Dataset:

* Path: ``<root>/<dataset>/<config>/<split>/shard-<NNNNN>.nc``; shard ``N`` holds samples
  ``[N*S, min((N+1)*S, n_split))`` with ``S = storage.samples_per_shard`` from the card.
* Dims: ``sample`` first on every data variable; spatial dims carry physical coordinates
  (``x``, ``y`` for the solution grid, ``x_node``, ``y_node`` for coefficient points, ``t``
  for time series). Arrays are stored in the orientation their dims say: ``u[s, i, j]`` is the
  value at ``(x[i], y[j])``. Fields are never flattened.
* One sample per HDF5 chunk for every variable with spatial dims.
* Coordinate ``sample`` holds the global sample index within the split.
* Every data variable has attrs ``role`` (input, target, param, diagnostic, mask),
  ``long_name`` and ``units``.
* Global attrs: see :data:`REQUIRED_ATTRS`. ``card`` is the canonical JSON of the effective
  card and ``card_sha256`` its sha256.
* No NaN or inf in any variable.

:func:`check_shard` returns the list of problems found (empty = valid); ``pdeforge check``
prints them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

FORMAT = "pdeforge-shard/1"
ROLES = ("input", "target", "param", "diagnostic", "mask")
REQUIRED_ATTRS = (
    "format", "pdeforge_version", "dataset", "config", "split", "card", "card_sha256",
    "content_key", "equation", "boundary_conditions", "seeding", "sample_start", "sample_stop",
)
VAR_ATTRS = ("role", "long_name", "units")


def _attr(obj, name):
    value = obj.attrs[name]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == (1,):
        return value[0]
    return value


def check_shard(path: str | Path, visit=None) -> list[str]:
    """Validate one shard file against the format above; returns the problems found.

    ``visit(name, values)``, if given, receives every data variable the check reads (each is
    read once), e.g. to hash it without reading the file a second time."""
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        return [f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}"]
    try:
        with fh:
            problems = _check_open(fh, visit)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        # h5py raises RuntimeError/OSError on damaged metadata (e.g. checksum mismatches)
        problems = [f"corrupt HDF5 structure (truncated or altered file?): {exc}"]
    return [f"{path}: {p}" for p in problems]


def _check_open(fh: h5py.File, visit=None) -> list[str]:
    problems: list[str] = []
    missing = [a for a in REQUIRED_ATTRS if a not in fh.attrs]
    if missing:
        problems.append(f"missing global attributes: {', '.join(missing)}")
    else:
        if _attr(fh, "format") != FORMAT:
            problems.append(f"format is {_attr(fh, 'format')!r}, expected {FORMAT!r}")
        card = _attr(fh, "card")
        if hashlib.sha256(card.encode()).hexdigest() != _attr(fh, "card_sha256"):
            problems.append("card_sha256 does not match the stored card text")
        try:
            json.loads(card)
        except ValueError:
            problems.append("card attribute is not valid JSON")
    if "sample" not in fh:
        problems.append("no 'sample' coordinate")
        return problems
    n = fh["sample"].shape[0]
    if "sample_start" in fh.attrs and "sample_stop" in fh.attrs:
        start, stop = int(_attr(fh, "sample_start")), int(_attr(fh, "sample_stop"))
        if stop - start != n:
            problems.append(f"sample range [{start}, {stop}) does not match {n} samples")
        else:
            try:
                idx = fh["sample"][()]
                if not np.array_equal(idx, np.arange(start, stop)):
                    problems.append("sample coordinate is not the contiguous range it claims")
            except OSError as exc:
                problems.append(f"cannot read 'sample': {exc}")
    for name, ds in fh.items():
        if not isinstance(ds, h5py.Dataset):
            continue
        dims = _dims(ds)
        is_coord = dims == (name,)
        if is_coord:
            if name != "sample" and ds.shape[0] > 1:
                try:
                    values = ds[()]
                except OSError as exc:
                    problems.append(f"coordinate {name!r} unreadable: {exc}")
                    continue
                if not np.all(np.diff(values) > 0):
                    problems.append(f"coordinate {name!r} is not strictly increasing")
            continue
        if not dims or dims[0] != "sample":
            problems.append(f"variable {name!r} has dims {dims}; the first must be 'sample'")
        for d in dims[1:]:
            if d not in fh:
                problems.append(f"variable {name!r}: dim {d!r} has no coordinate variable")
        for a in VAR_ATTRS:
            if a not in ds.attrs:
                problems.append(f"variable {name!r} lacks attribute {a!r}")
        if "role" in ds.attrs and _attr(ds, "role") not in ROLES:
            problems.append(f"variable {name!r} has unknown role {_attr(ds, 'role')!r}")
        if len(dims) > 1 and ds.chunks is not None and ds.chunks[0] != 1:
            problems.append(f"variable {name!r} is chunked {ds.chunks}, expected one sample per chunk")
        try:
            values = ds[()]
        except OSError as exc:
            problems.append(f"variable {name!r} unreadable (corrupt data): {exc}")
            continue
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            problems.append(f"variable {name!r} contains NaN or inf")
        if visit is not None:
            visit(name, values)
    return problems


def _dims(ds: h5py.Dataset) -> tuple[str, ...]:
    """The netCDF dimension names of an h5netcdf-written dataset."""
    if ds.is_scale:  # a coordinate variable is its own dimension scale
        return (ds.name.rsplit("/", 1)[-1],)
    names = []
    for dim in ds.dims:
        if len(dim) == 0:
            return ()
        scale = dim[0]
        names.append(scale.name.rsplit("/", 1)[-1])
    if not names and ds.name:
        return ()
    return tuple(names)
