"""Shards on disk: the layout, the data root, checksums, and the atomic shard writer.

Layout (see :mod:`pdeforge.datasets.schema` for the shard format)::

    <root>/<dataset>/<config>/manifest.json
    <root>/<dataset>/<config>/<split>/shard-00000.nc

``root`` defaults to ``./data``, overridable by the ``PDEFORGE_DATA`` environment variable or
an explicit ``root``. Every file is written to a temporary name in the same directory,
flushed and fsynced, then renamed over the final name, so nothing half-written is ever left
under a final name; an interrupted run leaves at most a ``.tmp`` file that the next run
removes.

The manifest (one per config) is :mod:`pdeforge.datasets.manifest`; reading a split goes
through the verified-open path :mod:`pdeforge.datasets.reading` (:func:`open_split` here is its
xarray view); atomic writing is :mod:`pdeforge.atomic`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pdeforge import atomic
from pdeforge.datasets.hashing import array_hash, file_sha256  # noqa: F401
from pdeforge.datasets.layout import config_dir, default_root, ensure_writable, resolve_root  # noqa: F401
from pdeforge.datasets.manifest import (  # noqa: F401 - the layout's names, used by the readers
    MANIFEST, ManifestWriter, now, read_manifest, shard_name, shard_ranges,
)
from pdeforge.datasets.reading import find_config_dirs, open_split_files, resolve_config_dir  # noqa: F401
from pdeforge.errors import CorruptFileError


# --- atomic writes -----------------------------------------------------------------------


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic.write_json(path, obj)


def write_shard(path: Path, dataset) -> dict[str, Any]:
    """Write an xarray Dataset as a shard atomically; returns its manifest record."""
    encoding = {}
    for name, var in dataset.data_vars.items():
        if var.ndim > 1:
            encoding[name] = {"chunksizes": (1, *var.shape[1:])}
    with atomic.atomic_path(path) as tmp:
        dataset.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        record = {
            "file": f"{path.parent.name}/{path.name}",
            "bytes": tmp.stat().st_size,
            "sha256": file_sha256(tmp),
            "variables": {n: array_hash(v.values) for n, v in dataset.data_vars.items()},
        }
    return record


# --- reading -------------------------------------------------------------------------------


def write_netcdf_atomic(dataset, path: Path, encoding: dict | None = None) -> Path:
    """``dataset.to_netcdf`` (h5netcdf) via a temporary file in the same directory, fsync, rename."""
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        dataset.to_netcdf(tmp, engine="h5netcdf", encoding=encoding or {})
    return path


def split_files(cdir: Path, split: str, verify: bool = True) -> list[Path]:
    """The verified shard files of one split (:func:`pdeforge.datasets.reading.open_split_files`)."""
    return open_split_files(cdir, split=split, verify=verify).files


def open_split(name_or_path, config=None, split="train", root=None, verify: bool = True):
    """Lazy xarray view of one split: all its shards concatenated along ``sample``.

    The shards come through the verified-open path (:mod:`pdeforge.datasets.reading`: size,
    sha256 and identity attributes against the manifest; ``verify=False`` skips the sha256)."""
    import xarray as xr

    files = open_split_files(name_or_path, config, split, root, verify=verify).files
    opened = []
    for f in files:
        try:
            opened.append(xr.open_dataset(f, engine="h5netcdf", chunks={}))
        except (OSError, ValueError, RuntimeError, KeyError) as exc:  # h5py: damaged metadata
            raise CorruptFileError(f, f"cannot be opened (truncated or corrupt?): {exc}") from None
    if len(opened) == 1:
        return opened[0]
    return xr.concat(opened, dim="sample", data_vars="minimal", coords="minimal",
                     compat="override", combine_attrs="drop_conflicts")
