"""One writer per config: an exclusive lock file in the config directory.

``generate`` (including ``--force`` and the removal of stale temporaries and orphan shards)
holds :func:`config_lock` on every config it writes, for the whole run. A second writer of the
same config — another ``pdeforge generate``, with the same or different settings — fails at
once with a message naming the holder (pid, command, start time) instead of interleaving its
shards with the first run's. The lock is ``flock(2)`` on ``<config>/.lock``: the kernel drops
it when the holding process exits, however it exits (SIGKILL included), so a stale lock never
blocks a later run; the file's text (who holds it) is informational only.

Readers (loader, ``open_dataset``, verify, the scorer) take no lock: the store replaces files by
atomic rename, so a reader sees either the old or the new shard, and the verified-open path
(:mod:`pdeforge.datasets.reading`) refuses a shard that does not match the manifest it read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from pdeforge.datasets.manifest import now
from pdeforge.errors import StoreError

LOCK = ".lock"


class LockedError(StoreError):
    """Another process is writing this config."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "another process"
    return text or "another process"


@contextlib.contextmanager
def config_lock(cdir: str | Path) -> Iterator[Path]:
    """Hold the exclusive write lock of config directory ``cdir`` (created if missing)."""
    cdir = Path(cdir)
    path = cdir / LOCK
    try:
        cdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot write to {cdir}: {exc.strerror or exc} "
                         "(generating needs a writable config directory; choose another --root)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{cdir} is being written by {_holder(path)}; wait for that run to "
                              "finish (or stop it) and run again — two writers of one config "
                              "would mix their shards") from None
        os.ftruncate(fd, 0)
        cmd = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)) or "python"
        os.write(fd, f"pid {os.getpid()} ({cmd}) since {now()}\n".encode())
        yield path
    finally:
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def config_locks(cdirs) -> Iterator[list[Path]]:
    """Hold the locks of several config directories (taken in sorted order: no deadlock between
    two runs over overlapping configs; the second fails at its first held lock)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(config_lock(c)) for c in sorted({Path(c) for c in cdirs})]
