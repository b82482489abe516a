"""The one atomic writer: nothing half-written ever sits under a final name.

Every file pdeforge writes (shards, manifests, stats, predictions, scores, checkpoints, board
entries) goes through :func:`atomic_path`: the content is written to a temporary name in the
*same directory* (``.<name>.<pid>.tmp``, so the rename never crosses a file system), flushed
and ``fsync``-ed, then renamed over the final name with :func:`os.replace` (atomic on POSIX);
the directory is fsynced too so the rename survives a crash. On any error, or an interrupt,
the temporary file is removed and the final name keeps its old content (or stays absent).
Stale temporaries of a killed process match :data:`TMP_GLOB` and are removed by the next run
that holds the directory's lock (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pdeforge.errors import StoreError

#: temporaries left by a killed writer
TMP_GLOB = ".*.tmp"


def tmp_name(path: Path) -> Path:
    """The temporary name :func:`atomic_path` writes ``path`` under."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some file systems do not open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, mkdir: bool = True) -> Iterator[Path]:
    """Context yielding a temporary path to write; on success it replaces ``path`` atomically.

    ``with atomic_path(p) as tmp: ds.to_netcdf(tmp)``. Permission and space errors become a
    :class:`~pdeforge.errors.StoreError` naming ``path``."""
    path = Path(path)
    try:
        if mkdir:
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    tmp = tmp_name(path)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (PermissionError, IsADirectoryError)) or exc.errno in (28, 30):  # ENOSPC, EROFS
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any, **dumps) -> Path:
    """JSON (``indent=1, sort_keys=True`` unless given), newline-terminated, atomically."""
    dumps.setdefault("indent", 1)
    dumps.setdefault("sort_keys", True)
    return write_text(path, json.dumps(obj, **dumps) + "\n")


def copy_file(src: str | Path, dst: str | Path) -> Path:
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def replace_directory(tmp: str | Path, final: str | Path) -> Path:
    """Put the fully written directory ``tmp`` under the name ``final`` (a sibling).

    An existing ``final`` is first renamed aside (``.<name>.<pid>.old``), ``tmp`` renamed into
    place, then the old one removed: at every instant ``final`` is either the complete old or the
    complete new directory (two renames; POSIX has no atomic directory exchange). Permission
    errors become :class:`~pdeforge.errors.StoreError`."""
    import shutil

    tmp, final = Path(tmp), Path(final)
    old = None
    try:
        if final.exists():
            old = final.with_name(f".{final.name}.{os.getpid()}.old")
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except OSError as exc:
        if old is not None and not final.exists():
            os.replace(old, final)  # put the old one back
        raise StoreError(f"cannot write to {final.parent}: {exc.strerror or exc}") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale(directory: str | Path) -> int:
    """Remove temporaries left by killed writers in ``directory``; returns how many.

    Only call it while holding the directory's lock (:mod:`pdeforge.datasets.lock`): another
    live writer's temporary looks the same."""
    directory = Path(directory)
    n = 0
    if directory.is_dir():
        for p in directory.glob(TMP_GLOB):
            if p.is_file():
                p.unlink(missing_ok=True)
                n += 1
    return n
