"""The one verified-open path: every reader of generated data gets its shards from here.

The loader (:class:`~pdeforge.datasets.loader.TorchDataset`), ``pdeforge.open_dataset``,
``pdeforge check``, ``pdeforge plot``, normalisation statistics and the scorer's reference
truth all call :func:`open_split_files`, which returns the shards of one split only after
checking them against the config's manifest:

1. the manifest exists (a config directory holding shards but no ``manifest.json`` is refused:
   its data can no longer be verified) and its card text still hashes to its ``card_sha256``;
2. every shard the manifest lists exists, has the recorded size and (``verify=True``, the
   default; about 1 s per GiB) the recorded sha256 — so a flipped bit anywhere in a value is
   refused;
3. every shard's own attributes say what its place says: ``dataset``, ``config`` and
   ``content_key`` equal the manifest's (and ``config`` the directory's name), ``split`` the
   split directory's name, ``sample_start`` / ``sample_stop`` the range the manifest records
   for that file — so another config's shard copied over one of ours, or two shards swapped,
   are refused even with ``verify=False`` (size and attributes only).

Failures raise :class:`~pdeforge.errors.CorruptFileError` naming the file and what differs, with
the fix (``pdeforge verify``, regenerate with ``--force``). An incomplete split (an interrupted
run) is served with a warning, or refused with ``complete=True``.

A lone shard file given by path is verified against its record when it sits inside a config
directory (``<config>/<split>/shard-N.nc`` with ``<config>/manifest.json``); one outside any
dataset is served with a warning that its content could not be verified.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdeforge.datasets.hashing import file_sha256
from pdeforge.datasets.layout import resolve_root
from pdeforge.datasets.manifest import MANIFEST, Manifest, ShardRecord, read_manifest
from pdeforge.errors import CorruptFileError, StoreError, UnknownNameError

#: what h5py raises for damaged files
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError)
REGENERATE_HINT = "run `pdeforge verify`, then regenerate the config with --force"


class UnverifiedShardWarning(UserWarning):
    """A shard read from outside any generated config: nothing to verify it against."""


@dataclass(frozen=True)
class ShardRef:
    """One shard of a split: its path, its global sample range, and its manifest record."""

    path: Path
    start: int
    stop: int
    record: ShardRecord | None

    @property
    def n(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class SplitFiles:
    """The verified shards of one split (``cdir``/``manifest`` are None for a lone foreign file)."""

    cdir: Path | None
    manifest: Manifest | None
    split: str
    shards: tuple[ShardRef, ...]

    @property
    def files(self) -> list[Path]:
        return [s.path for s in self.shards]

    @property
    def verified(self) -> bool:
        return self.manifest is not None


# --- locating ----------------------------------------------------------------------------------


def _has_shards(d: Path) -> bool:
    return d.is_dir() and any(d.glob("*/shard-*.nc"))


def find_config_dirs(root: Path, dataset: str) -> list[Path]:
    """Config directories of ``dataset`` under ``root`` that have a manifest."""
    base = Path(root) / dataset
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / MANIFEST).is_file())


def orphan_config_dirs(root: Path, dataset: str) -> list[Path]:
    """Config directories that hold shards but no manifest (deleted or never written)."""
    base = Path(root) / dataset
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if not (p / MANIFEST).is_file() and _has_shards(p))


def missing_manifest_error(cdir: Path) -> StoreError:
    return StoreError(f"{cdir} holds shard files but no {MANIFEST} (deleted?): its data cannot be "
                      f"verified, so it is not served; regenerate it with `pdeforge generate "
                      f"{cdir.parent.name} configs={cdir.name} --force`")


def resolve_config_dir(name_or_path, config=None, root=None) -> Path:
    """The config directory meant by a dataset name (+ config) or a path to a config dir.

    Raises :class:`StoreError` when nothing is generated, the choice is ambiguous, or the
    directory lost its manifest, and :class:`UnknownNameError` (listing what exists) for an
    unknown config."""
    path = Path(str(name_or_path))
    if path.is_dir() and (path / MANIFEST).is_file():
        return path
    if path.is_dir() and _has_shards(path):
        raise missing_manifest_error(path)
    base = resolve_root(root)
    dirs = find_config_dirs(base, str(name_or_path))
    orphans = orphan_config_dirs(base, str(name_or_path))
    names = [d.name for d in dirs]
    if config is not None and str(config) not in names:
        lost = [d for d in orphans if d.name == str(config)]
        if lost:
            raise missing_manifest_error(lost[0])
        if not dirs:
            raise StoreError(f"no generated configs of {name_or_path!r} under {base}")
        raise UnknownNameError("config", str(config), names)
    if not dirs:
        if orphans:
            raise missing_manifest_error(orphans[0])
        raise StoreError(f"no generated configs of {name_or_path!r} under {base}")
    if config is None:
        if len(dirs) > 1:
            raise StoreError(f"{name_or_path!r} has several configs; pass config= one of {', '.join(names)}")
        return dirs[0]
    return dirs[names.index(str(config))]


# --- checking one shard ------------------------------------------------------------------------


def _attr(attrs, name):
    if name not in attrs:
        return None
    v = attrs[name]
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size else None
    return v.item() if isinstance(v, np.generic) else v


def shard_identity_problems(path: Path, manifest: Manifest, split: str, rec: ShardRecord) -> list[str]:
    """What in a shard's own attributes contradicts its place (directory names, manifest record)."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            attrs = {k: _attr(fh.attrs, k) for k in
                     ("dataset", "config", "split", "sample_start", "sample_stop", "content_key")}
    except H5_ERRORS as exc:
        return [f"cannot be opened (truncated or corrupt?): {exc}"]
    want = {"dataset": manifest.dataset, "config": manifest.config, "split": split,
            "sample_start": rec.start, "sample_stop": rec.stop, "content_key": manifest.content_key}
    problems = []
    for key, expected in want.items():
        got = attrs[key]
        if got is None or (str(got) != str(expected)):
            what = "content key" if key == "content_key" else key
            problems.append(f"its {what} attribute is {got!r}, the manifest says {expected!r} "
                            "(a shard of another config/split or out of place?)")
    if path.parent.name != split:
        problems.append(f"sits in {path.parent.name!r}, not in the {split!r} split directory")
    if manifest.cdir.name != manifest.config:
        problems.append(f"config directory {manifest.cdir.name!r} holds config {manifest.config!r}")
    return problems


def shard_problems(path: Path, manifest: Manifest, split: str, rec: ShardRecord, *,
                   verify: bool = True) -> list[str]:
    """Problems of one listed shard: existence, size, sha256 (``verify``), identity attributes."""
    if not path.is_file():
        return ["listed in the manifest but missing (re-run generate to resume)"]
    size = path.stat().st_size
    if size != rec.bytes:
        return [f"size {size} bytes, the manifest records {rec.bytes} (truncated or altered?)"]
    if verify and file_sha256(path) != rec.sha256:
        return ["sha256 differs from the manifest (file altered or corrupt)"]
    return shard_identity_problems(path, manifest, split, rec)


def _raise(path: Path, problems: list[str]):
    raise CorruptFileError(path, "; ".join(problems) + f"; {REGENERATE_HINT}")


def manifest_problems(manifest: Manifest) -> list[str]:
    problems = []
    if not manifest.card_text_matches():
        problems.append(f"{manifest.path}: the stored card no longer hashes to card_sha256 "
                        "(manifest edited by hand?)")
    if manifest.cdir.name != manifest.config:
        problems.append(f"{manifest.path}: describes config {manifest.config!r} but sits in "
                        f"{manifest.cdir.name!r}")
    return problems


def record_of(path: Path) -> tuple[Manifest, str, ShardRecord] | None:
    """``(manifest, split, record)`` of a shard file inside a config directory, else None."""
    path = Path(path)
    cdir = path.parent.parent
    manifest = read_manifest(cdir)
    if manifest is None:
        return None
    rel = f"{path.parent.name}/{path.name}"
    for split, info in manifest.splits.items():
        for rec in info.shards:
            if rec.file == rel:
                return manifest, split, rec
    return manifest, path.parent.name, None


# --- the path every reader takes ---------------------------------------------------------------


def open_split_files(name_or_path, config=None, split: str = "train", root=None, *,
                     verify: bool = True, complete: bool = False) -> SplitFiles:
    """The shards of one split, checked as the module docstring says (raises on any mismatch)."""
    path = Path(str(name_or_path))
    if path.suffix == ".nc":
        return _lone_file(path, verify)
    cdir = resolve_config_dir(name_or_path, config, root)
    manifest = read_manifest(cdir)
    if manifest is None:
        raise missing_manifest_error(cdir)
    bad = manifest_problems(manifest)
    if bad:
        raise CorruptFileError(manifest.path, "; ".join(p.split(": ", 1)[1] for p in bad))
    info = manifest.split(split)
    if not info.complete:
        msg = (f"{cdir}: split {split!r} has {info.have} of {info.n_samples} samples "
               "(incomplete; re-run generate to resume)")
        if complete:
            raise StoreError(msg)
        warnings.warn(msg + "; loading what is there", stacklevel=3)
    refs = []
    for rec in info.shards:
        p = cdir / rec.file
        problems = shard_problems(p, manifest, split, rec, verify=verify)
        if problems:
            _raise(p, problems)
        refs.append(ShardRef(p, rec.start, rec.stop, rec))
    return SplitFiles(cdir, manifest, split, tuple(refs))


def _lone_file(path: Path, verify: bool) -> SplitFiles:
    if not path.is_file():
        raise StoreError(f"{path}: no such shard file")
    found = record_of(path)
    if found is None:
        warnings.warn(f"{path} is not inside a generated config (no manifest beside it): its "
                      "content cannot be verified", UnverifiedShardWarning, stacklevel=3)
        import h5py

        try:
            with h5py.File(path, "r") as fh:
                start = int(_attr(fh.attrs, "sample_start") or 0)
                n = int(fh["sample"].shape[0]) if "sample" in fh else 0
        except H5_ERRORS as exc:
            raise CorruptFileError(path, f"cannot be opened (truncated or corrupt?): {exc}") from None
        return SplitFiles(None, None, path.parent.name, (ShardRef(path, start, start + n, None),))
    manifest, split, rec = found
    if rec is None:
        raise CorruptFileError(path, f"not listed in {manifest.path} (an orphan left by an older run, "
                                     "or copied in); it is not part of the dataset")
    problems = shard_problems(path, manifest, split, rec, verify=verify)
    if problems:
        _raise(path, problems)
    return SplitFiles(manifest.cdir, manifest, split, (ShardRef(path, rec.start, rec.stop, rec),))
