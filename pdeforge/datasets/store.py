"""Shards and manifests on disk: atomic writes, checksums, resume bookkeeping, verify.

Layout (see :mod:`pdeforge.datasets.schema` for the shard format)::

    <root>/<dataset>/<config>/manifest.json
    <root>/<dataset>/<config>/<split>/shard-00000.nc

``root`` defaults to ``./data``, overridable by the ``PDEFORGE_DATA`` environment variable or
an explicit ``root``. Every file is written to a temporary name in the same directory,
flushed and fsynced, then renamed over the final name, so nothing half-written is ever left
under a final name; an interrupted run leaves at most a ``.tmp`` file that the next run
removes.

The manifest (one per config) records the effective card and its sha256, the content key
(everything that fixes sample content), and per shard: file name, sample range, file sha256,
size in bytes, and a content hash of every variable (sha256 of dtype, shape and the
little-endian C-order bytes), plus package versions, generation time and hardware.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import socket
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pdeforge.errors import CorruptFileError, StoreError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "pdeforge-manifest/1"
PACKAGES = ("pdeforge", "numpy", "scipy", "parafields", "pyamg", "qdldl", "h5py", "h5netcdf", "xarray")


def default_root() -> Path:
    return Path(os.environ.get("PDEFORGE_DATA", "data"))


def resolve_root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else default_root()


def config_dir(root: Path, dataset: str, config: str) -> Path:
    return Path(root) / dataset / config


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.nc"


def shard_ranges(n: int, per_shard: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in shards of ``per_shard`` samples."""
    return [(s, min(s + per_shard, n)) for s in range(0, n, per_shard)]


def ensure_writable(path: Path) -> None:
    """Create ``path`` and prove a file can be written there, or raise a clear error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"cannot write to data root {path}: {exc.strerror or exc}") from None


# --- hashing -----------------------------------------------------------------------------


def array_hash(arr: np.ndarray) -> str:
    """sha256 over dtype, shape and little-endian C-order bytes (platform independent)."""
    arr = np.asarray(arr)
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    h = hashlib.sha256(f"{le.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(le).tobytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- atomic writes -----------------------------------------------------------------------


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _fsync_replace(tmp: Path, path: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = _tmp_name(path)
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    _fsync_replace(tmp, path)


def remove_stale_tmp(directory: Path) -> None:
    if directory.is_dir():
        for p in directory.glob(".*.tmp"):
            p.unlink(missing_ok=True)


def write_shard(path: Path, dataset) -> dict[str, Any]:
    """Write an xarray Dataset as a shard atomically; returns its manifest record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    encoding = {}
    for name, var in dataset.data_vars.items():
        if var.ndim > 1:
            encoding[name] = {"chunksizes": (1, *var.shape[1:])}
    try:
        dataset.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        record = {
            "file": f"{path.parent.name}/{path.name}",
            "bytes": tmp.stat().st_size,
            "sha256": file_sha256(tmp),
            "variables": {n: array_hash(v.values) for n, v in dataset.data_vars.items()},
        }
        _fsync_replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return record


# --- manifest ------------------------------------------------------------------------------


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    out["python"] = platform.python_version()
    return out


def hardware() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "system": platform.platform(),
    }


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def read_manifest(cdir: Path) -> dict[str, Any] | None:
    path = cdir / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptFileError(path, f"unreadable manifest: {exc}") from None
    if data.get("format") != MANIFEST_FORMAT:
        raise CorruptFileError(path, f"not a {MANIFEST_FORMAT} file")
    return data


@dataclass
class ManifestWriter:
    """Keeps one config's manifest and rewrites it atomically after every shard."""

    cdir: Path
    data: dict[str, Any]

    @classmethod
    def open(cls, cdir: Path, *, dataset: str, config: str, card, content_key: str,
             splits: dict[str, int], per_shard: int, force: bool = False) -> "ManifestWriter":
        old = None if force else read_manifest(cdir)
        if old is not None and old.get("content_key") != content_key:
            raise StoreError(
                f"{cdir} holds {config!r} generated with different settings "
                f"(content key {old.get('content_key', '?')[:12]} vs {content_key[:12]}); "
                "pass --force to regenerate it, or choose another --root"
            )
        data = {
            "format": MANIFEST_FORMAT,
            "dataset": dataset,
            "config": config,
            "card": json.loads(card.canonical_json()),
            "card_sha256": card.sha256,
            "overrides": card.overrides,
            "content_key": content_key,
            "samples_per_shard": per_shard,
            "packages": package_versions(),
            "hardware": hardware(),
            "created_at": old.get("created_at", now()) if old else now(),
            "splits": {},
        }
        old_splits = (old or {}).get("splits", {})
        for split, n in splits.items():
            keep = []
            if old and old.get("samples_per_shard") == per_shard:
                wanted = set(shard_ranges(n, per_shard))
                keep = [s for s in old_splits.get(split, {}).get("shards", [])
                        if (s["start"], s["stop"]) in wanted]
            data["splits"][split] = {"n_samples": n, "shards": keep}
        return cls(cdir, data)

    def done(self, split: str, start: int, stop: int) -> bool:
        """True when shard [start, stop) is recorded and its file has the recorded size."""
        for rec in self.data["splits"][split]["shards"]:
            if (rec["start"], rec["stop"]) == (start, stop):
                path = self.cdir / rec["file"]
                return path.is_file() and path.stat().st_size == rec["bytes"]
        return False

    def add(self, split: str, record: dict[str, Any]) -> None:
        shards = [s for s in self.data["splits"][split]["shards"]
                  if (s["start"], s["stop"]) != (record["start"], record["stop"])]
        shards.append(record)
        shards.sort(key=lambda s: s["start"])
        self.data["splits"][split]["shards"] = shards
        self.save()

    def save(self) -> None:
        self.data["updated_at"] = now()
        self.data["complete"] = all(
            sum(s["stop"] - s["start"] for s in sp["shards"]) == sp["n_samples"]
            for sp in self.data["splits"].values()
        )
        self.cdir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.cdir / MANIFEST, self.data)


# --- reading -------------------------------------------------------------------------------


def find_config_dirs(root: Path, dataset: str) -> list[Path]:
    base = Path(root) / dataset
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / MANIFEST).is_file())


def resolve_config_dir(name_or_path, config=None, root=None) -> Path:
    """The config directory meant by a dataset name (+ config) or a path to a config dir.

    Raises :class:`StoreError` when nothing is generated or the choice is ambiguous, and
    :class:`~pdeforge.errors.UnknownNameError` (listing what exists) for an unknown config.
    """
    from pdeforge.errors import UnknownNameError

    path = Path(str(name_or_path))
    if path.is_dir() and (path / MANIFEST).is_file():
        return path
    base = resolve_root(root)
    dirs = find_config_dirs(base, str(name_or_path))
    names = [d.name for d in dirs]
    if not dirs:
        raise StoreError(f"no generated configs of {name_or_path!r} under {base}")
    if config is None:
        if len(dirs) > 1:
            raise StoreError(f"{name_or_path!r} has several configs; pass config= one of {', '.join(names)}")
        return dirs[0]
    if str(config) not in names:
        raise UnknownNameError("config", str(config), names)
    return dirs[names.index(str(config))]


def write_netcdf_atomic(dataset, path: Path, encoding: dict | None = None) -> Path:
    """``dataset.to_netcdf`` (h5netcdf) via a temporary file in the same directory, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        dataset.to_netcdf(tmp, engine="h5netcdf", encoding=encoding or {})
        _fsync_replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def split_files(cdir: Path, split: str) -> list[Path]:
    manifest = read_manifest(cdir)
    if manifest is None:
        raise StoreError(f"{cdir}: no {MANIFEST}; generate it first")
    if split not in manifest["splits"]:
        from pdeforge.errors import UnknownNameError

        raise UnknownNameError("split", split, manifest["splits"])
    return [cdir / s["file"] for s in manifest["splits"][split]["shards"]]


def open_split(name_or_path, config=None, split="train", root=None):
    """Lazy xarray view of one split: all its shards concatenated along ``sample``."""
    import xarray as xr

    path = Path(str(name_or_path))
    if path.suffix == ".nc":
        files = [path]
    else:
        files = split_files(resolve_config_dir(name_or_path, config, root), split)
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
