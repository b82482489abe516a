r"""Reading rows of verified shards: one row (= one HDF5 chunk) per variable and sample.

Shards are found through the manifest (the records :func:`pdeforge.datasets.store.split_files`
reads, with their sample ranges and sizes) and read one row (= one HDF5 chunk, by the format)
per variable and sample. Rows whose bytes HDF5 stores as they are (the pdeforge format: no
compression, one-row chunks) are read as zero-copy views of a read-only memory map of the shard
at the chunk offsets HDF5 reports (:func:`direct_rows`); anything else goes through h5py.
``direct=False`` forces h5py everywhere (the same values, tested). At grid 64 an h5py call costs
~5 µs per row, the mapped read plus the float32 cast ~1 µs. xarray is not on this path (a sample
through ``open_split`` costs hundreds of times more: ``benchmarks/test_loader_speed.py``). A
mapped shard that shrinks in place while open is refused before any read (a read past the end of
a map would crash the process); the store itself never rewrites a file in place. Each process opens
its own handles lazily on first use, keyed by ``os.getpid()``, so DataLoader workers (fork or
spawn) never share or pickle an open HDF5 handle; ``__getstate__`` drops them. A global index
maps to ``(shard, row)`` through the manifest's sample ranges. Only ``in_memory=True`` reads a
whole split (once, at construction). At construction every shard is opened once to check that
it exists, has the size the manifest records, opens as HDF5, holds the requested variables with
consistent dims/shapes/coordinates, and has as many rows as its sample range; anything else raises
:class:`~pdeforge.errors.CorruptFileError` or :class:`~pdeforge.errors.InvalidValueError` naming
the file.

"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pdeforge.errors import CorruptFileError

#: what h5py raises for damaged files: OSError (truncation), RuntimeError and KeyError
#: (metadata checksum mismatches)
H5_ERRORS = (OSError, RuntimeError, KeyError)


class _Rows(list):
    """Per-row arrays of one variable, indexed like the h5py dataset they stand in for:
    ``rows[r]`` and ``rows[r, sl, …]``."""

    __slots__ = ()

    def __getitem__(self, key):
        if type(key) is tuple:
            return list.__getitem__(self, key[0])[key[1:]]
        return list.__getitem__(self, key)


def direct_rows(ds, buffer, file_size: int) -> _Rows | None:
    """Zero-copy row views of the HDF5 dataset ``ds`` in ``buffer`` (a memory map of its file),
    or ``None`` when its rows are not stored as plain bytes.

    Possible when no filter touches the data (no compression, no checksum), the dtype is numeric
    and native-endian, and the layout is contiguous or chunked with chunks of exactly one row,
    all allocated. Row ``r`` is then the ``ds.shape[1:]`` array at its chunk's byte offset
    (``get_chunk_info``), or at ``offset + r · row bytes`` for contiguous layout: the bytes
    ``ds[r]`` would return, without a library call per row. Every extent is checked against
    ``file_size``, so a truncated file raises ``OSError`` instead of being read past its end.
    """
    import h5py

    n, row_shape, dtype = ds.shape[0], ds.shape[1:], ds.dtype
    if not n or not dtype.isnative or dtype.kind not in "biuf":
        return None
    plist = ds.id.get_create_plist()
    if plist.get_nfilters():
        return None
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    layout = plist.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        base = ds.id.get_offset()
        if base is None:  # never written
            return None
        offsets = [base + r * row_bytes for r in range(n)]
    elif layout == h5py.h5d.CHUNKED and ds.chunks == (1, *row_shape) and ds.id.get_num_chunks() == n:
        offsets = [0] * n
        for c in range(n):
            info = ds.id.get_chunk_info(c)
            if info.filter_mask or info.size != row_bytes or info.byte_offset is None:
                return None
            offsets[info.chunk_offset[0]] = info.byte_offset
    else:
        return None
    if max(offsets) + row_bytes > file_size:
        raise OSError(f"variable {ds.name!r} extends past the end of the file ({file_size} bytes)")
    return _Rows(np.ndarray(row_shape, dtype=dtype, buffer=buffer, offset=int(o)) for o in offsets)


class ShardReader:
    """Per-process handles on the shards of one split, row sources per variable.

    ``reader.rows(k)`` returns, for shard ``k``, one row source per variable in ``variables``
    (a :class:`_Rows` of memory-mapped views when :func:`direct_rows` applies and ``direct`` is
    on, else the h5py dataset); ``reader.check(k)`` refuses a mapped shard that shrank in place.
    Handles are opened lazily per process (keyed by ``os.getpid()``), so DataLoader workers never
    share or pickle an open HDF5 handle; pickling drops them.
    """

    def __init__(self, files: list[Path], variables: list[str], direct: bool = True):
        self.files, self.variables, self.direct = list(files), list(variables), bool(direct)
        self._pid = None
        self._handles: dict[int, tuple] = {}
        self._dsets: dict[int, list] = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_pid"], state["_handles"], state["_dsets"] = None, {}, {}
        return state

    def _own(self) -> dict[int, list]:
        """This process's per-shard row sources (a forked worker starts afresh)."""
        pid = os.getpid()
        if self._pid != pid:  # new process: never touch the parent's handles
            self._pid, self._handles, self._dsets = pid, {}, {}
        return self._dsets

    def rows(self, k: int) -> list:
        return self._own().get(k) or self._open(k)

    def _open(self, k: int) -> list:
        import h5py

        path = self.files[k]
        try:
            fh = h5py.File(path, "r")
            d = [fh[v] for v in self.variables]
            fd = size = None
            if self.direct:
                # the store replaces files by rename, never in place, so a mapped inode keeps its
                # bytes even if the shard is regenerated meanwhile; an in-place truncation is
                # caught by check() (reading past the end of a map would crash)
                fd = os.open(path, os.O_RDONLY)
                size = os.fstat(fd).st_size
                mm = np.memmap(path, dtype=np.uint8, mode="r")
                d = [direct_rows(ds, mm, size) or ds for ds in d]
                if all(not isinstance(x, _Rows) for x in d):
                    os.close(fd)
                    fd = None
        except H5_ERRORS as exc:
            raise CorruptFileError(path, f"cannot be opened (truncated or corrupt?): {exc}") from None
        self._handles[k], self._dsets[k] = (fh, fd, size), d
        return d

    def check(self, k: int) -> None:
        """Refuse to read a memory-mapped shard that shrank since it was mapped."""
        fh, fd, size = self._handles[k]
        if fd is not None and os.fstat(fd).st_size < size:
            raise CorruptFileError(self.files[k], f"shrank to {os.fstat(fd).st_size} bytes while open "
                                                  f"(was {size}; truncated in place?)")

    def read_all(self) -> list[list[np.ndarray]]:
        """Every variable of every shard in memory (``in_memory=True``)."""
        import h5py

        mem = []
        for path in self.files:
            try:
                with h5py.File(path, "r") as fh:
                    mem.append([fh[v][()] for v in self.variables])
            except H5_ERRORS as exc:
                raise CorruptFileError(path, f"unreadable (truncated or corrupt?): {exc}") from None
        return mem

    def close(self) -> None:
        """Close this process's open shard handles (reopened on the next read)."""
        if self._pid == os.getpid():
            for fh, fd, _ in self._handles.values():
                try:
                    fh.close()
                    if fd is not None:
                        os.close(fd)
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        self._handles, self._dsets = {}, {}
