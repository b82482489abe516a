"""Checksums recorded in manifests: sha256 of files, and a platform-independent content hash
of arrays (dtype, shape and little-endian C-order bytes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


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
