"""Where generated data lives: ``<root>/<dataset>/<config>/<split>/shard-NNNNN.nc``.

``root`` is, in order: an explicit ``root`` / ``--root``, the ``PDEFORGE_DATA`` environment
variable, ``./data``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pdeforge.errors import StoreError


def default_root() -> Path:
    return Path(os.environ.get("PDEFORGE_DATA", "data"))


def resolve_root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else default_root()


def config_dir(root: Path, dataset: str, config: str) -> Path:
    return Path(root) / dataset / config


def ensure_writable(path: Path) -> None:
    """Create ``path`` and prove a file can be written there, or raise a clear error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"cannot write to data root {path}: {exc.strerror or exc}") from None
