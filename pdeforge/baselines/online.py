r"""Online training: solvers stream fresh samples into a bounded in-memory buffer; nothing is stored.

``pdeforge train condiff config=cubic1.0_grid64 model=fno online=1 buffer=512 workers=2`` (or
``TrainConfig(online={...})``) trains on samples that generator workers solve while the model
trains -- the setting of Melissa (Meyer et al., "Training Deep Surrogate Models with Large Scale
Online Learning", ICML 2023; the training buffer of its SC'23 follow-up). Validation and test
are the **stored** val and test splits, selected on and scored exactly as in an offline run.

Seeds: a disjoint, reserved stream
------------------------------------
Streamed sample ``i`` draws every random number from
``sample_seedseq(master_seed, config, "online", i)`` -- the reserved split id 3 of
:mod:`pdeforge.datasets.seeding` -- and is produced by the family's own
``Family.generate(card, config, "online", i, i + 1)`` under
:func:`~pdeforge.datasets.family.single_threaded_numerics`, the code path that writes stored
shards. So (a) no streamed sample shares a seed with a train, val or test sample (their split ids
are 0, 2, 1), and (b) a streamed sample is bit for bit the sample that ``make dataset`` would
store at that (split, index) (tested by streaming the *train* split and comparing with the
shards). The card is the config's manifest card, so the stream belongs to the stored dataset
version (same content key). A run's stream is ``[start, start + samples_generated)``: samples
enter the buffer in index order, so the recorded range is exactly what was trained on.

With DDP (``torchrun``), rank ``r`` of ``W`` solves chunks ``r, r + W, r + 2W, ...`` of the
stream (chunk ``c`` = indices ``start + c·chunk … start + (c+1)·chunk − 1``): the ranks' feeds are
disjoint and together cover a contiguous range.

Workers
-------
``workers=N`` (default 1): a local process pool (spawn context, one BLAS thread per worker,
workers die with the trainer as in :mod:`pdeforge.datasets.executors`); ``workers=0``: samples
are solved in the training process itself (one chunk per step, or exactly what a fixed schedule
asks; for tests and debugging); ``scheduler=tcp://HOST:PORT`` (``--scheduler``): tasks go to a
Dask cluster (an address that does not answer is a one-line error within
:data:`~pdeforge.datasets.executors.CONNECT_TIMEOUT` s). At most ``window`` chunks (default
``max(4 × workers, 2 × ceil(batch / chunk))``, so that up to two batches of fresh samples can
arrive between steps) are in flight or finished-but-not-yet-inserted, so memory stays bounded however
far generation runs ahead. A pool worker that dies (killed, out of memory) breaks the pool: the
feed starts a fresh pool and resubmits the lost chunks (their samples are fixed by their seeds,
so the stream is unchanged), at most ``max_restarts`` times (default 2); after that -- or on any
error inside the generator -- the run stops with :class:`OnlineFeedError` naming the cause. A
Dask worker that dies is replaced by Dask itself (the task is rescheduled).

The training buffer
-------------------
:class:`ReservoirBuffer`: ``buffer`` samples at most (default 512; preallocated float32 tensors,
``buffer × (c_in + c_out (+1 mask)) × grid × 4`` bytes). **Eviction:** FIFO -- a fresh sample
overwrites the oldest one once the buffer is full. **Sampling:** every batch draws ``batch``
slots uniformly *with replacement* from what the buffer holds (a ``torch.Generator`` seeded from
the run seed and the rank). **Seen-counts:** each slot counts how often its sample was drawn;
when a sample is evicted its count goes into a histogram, which run.json records together with
the counts of the samples still held at the end (``seen_counts``: ``{count: samples}``).
**Schedule:** before the first step the buffer is filled to ``buffer_min`` samples (default
``min(buffer, batch_size)``), blocking. Then either

* ``fresh_per_step=k`` (the *fixed schedule*): exactly ``k`` fresh samples are inserted before
  every optimiser step, waiting for them if generation is behind; or
* the default, asynchronous schedule: before every step every sample that has finished is
  inserted (in index order), and training never waits for the solver.

``reuse`` (shown in the progress bar, recorded as ``draws_per_sample``) is samples drawn /
samples inserted: above 1 the trainer reuses samples faster than solvers make them.

Normalisation
-------------
``warmup=0`` (default): the statistics of the **stored train split** (its
``normalization.json``), the same numbers an offline run uses. ``warmup=N``: the statistics of
the first ``N`` streamed samples (indices ``start … start+N−1``), computed by the same function
as the stored statistics (:func:`pdeforge.datasets.normalize.compute_stats`) on an in-memory
HDF5 image of those samples; they then enter the buffer as its first samples. Either way
run.json records the source, the sample range and the statistics.

Steps
-----
An online "epoch" is ``ceil(n / batch_size)`` optimiser steps with ``n`` = ``n_train`` or the
stored train split's size, so ``epochs=E`` gives an online run the same number of steps as the
offline run with the same settings; validation and model selection happen after every epoch.

Determinism
-----------
With the fixed schedule the buffer's contents before step ``t`` are fixed (``buffer_min + k·t``
samples inserted in index order, FIFO eviction) and so are the draws, whatever the number of
workers or their speed -- samples arrive out of order but are inserted in order -- so two runs
with the same settings give identical weights on the CPU (tested with one worker; with several
workers and with Dask the inserted samples are the same too, as each is a pure function of its
seed). **Not deterministic:** the asynchronous schedule (how many samples have arrived before a
step depends on timing), for any number of workers; timings, waits and throughput in run.json.
"""

from __future__ import annotations

import io
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pdeforge.baselines.data import RunDataAccess
from pdeforge.errors import InvalidValueError, PdeforgeError

__all__ = ["ONLINE_DEFAULTS", "OnlineFeedError", "validate_online", "SampleFeed", "ReservoirBuffer",
           "SampleConverter", "OnlineBatches", "warmup_stats", "open_online", "OnlineData"]

#: the online settings and their defaults (``TrainConfig.online``; CLI keys in parentheses where
#: they differ): buffer capacity, samples before the first step (None: min(buffer, batch)),
#: normalisation source (0: stored train split; N: the first N streamed samples), generator
#: processes (0: in the training process), Dask scheduler address, fixed schedule (fresh samples
#: per step; None: asynchronous), samples per generator task, first index of the stream
#: (``online_start``), pool restarts after a worker died, chunks in flight (None: 4 × workers)
ONLINE_DEFAULTS: dict[str, Any] = {
    "buffer": 512, "buffer_min": None, "warmup": 0, "workers": 1, "scheduler": None,
    "fresh_per_step": None, "chunk": 1, "start": 0, "max_restarts": 2, "window": None,
}


class OnlineFeedError(PdeforgeError):
    """The generator feed cannot go on (its workers died too often, or a solve failed)."""


def _int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def validate_online(online: dict[str, Any], batch_size: int) -> dict[str, Any]:
    """The complete online settings (defaults filled in), or a one-line error."""
    if not isinstance(online, dict):
        raise InvalidValueError(f"online must be a dict of online settings, got {type(online).__name__}")
    unknown = sorted(set(online) - set(ONLINE_DEFAULTS))
    if unknown:
        from pdeforge.errors import UnknownNameError

        raise UnknownNameError("online setting", unknown[0], list(ONLINE_DEFAULTS))
    out = {**ONLINE_DEFAULTS, **online}
    for key, lo in (("buffer", 1), ("warmup", 0), ("workers", 0), ("chunk", 1), ("start", 0),
                    ("max_restarts", 0)):
        if not _int(out[key]) or out[key] < lo:
            raise InvalidValueError(f"online {key} must be an integer >= {lo}, got {out[key]!r}")
    for key in ("buffer_min", "fresh_per_step", "window"):
        v = out[key]
        if v is not None and (not _int(v) or v < 1):
            raise InvalidValueError(f"online {key} must be an integer >= 1 or None, got {v!r}")
    if out["buffer_min"] is not None and out["buffer_min"] > out["buffer"]:
        raise InvalidValueError(f"online buffer_min={out['buffer_min']} exceeds buffer={out['buffer']}")
    if out["warmup"] > out["buffer"]:
        raise InvalidValueError(f"online warmup={out['warmup']} exceeds buffer={out['buffer']} "
                                "(the warm-up samples are the buffer's first samples)")
    sched = out["scheduler"]
    if sched is not None and (not isinstance(sched, str) or "://" not in sched or not sched.split("://", 1)[1]):
        raise InvalidValueError(f"online scheduler={sched!r}: expected an address like tcp://HOST:PORT")
    return {k: (int(v) if _int(v) else v) for k, v in out.items()}


# --- the generator feed ----------------------------------------------------------------------


class _InlineBackend:
    """Chunks solved in this process, one per non-blocking poll (or as many as a wait needs)."""

    kind = "inline"

    def __init__(self):
        self.tasks: dict[int, tuple] = {}

    def submit(self, cid: int, task: tuple) -> None:
        self.tasks[cid] = task

    def collect(self, block: bool, timeout: float) -> list[tuple[int, Any]]:
        from pdeforge.datasets.runner import _chunk

        if not self.tasks:
            return []
        cid = min(self.tasks)
        return [(cid, _chunk(*self.tasks.pop(cid)))]

    def pids(self) -> list[int]:
        return []

    def close(self) -> None:
        self.tasks.clear()


class _ProcessBackend:
    """A spawn-context process pool; a broken pool (dead worker) is replaced and its chunks resubmitted."""

    kind = "processes"

    def __init__(self, workers: int, max_restarts: int):
        self.workers, self.max_restarts = workers, max_restarts
        self.restarts = 0
        self.futures: dict[Any, int] = {}
        self.tasks: dict[int, tuple] = {}
        self.pool = self._new_pool()

    def _new_pool(self):
        import multiprocessing as mp
        import os
        from concurrent.futures import ProcessPoolExecutor

        from pdeforge.datasets.executors import _die_with_parent, single_threaded_children

        with single_threaded_children():
            return ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                       initializer=_die_with_parent, initargs=(os.getpid(),))

    def submit(self, cid: int, task: tuple) -> None:
        from concurrent.futures.process import BrokenProcessPool

        from pdeforge.datasets.runner import _chunk

        self.tasks[cid] = task
        try:
            self.futures[self.pool.submit(_chunk, *task)] = cid
        except BrokenProcessPool as exc:
            self._restart(exc)

    def _restart(self, exc: BaseException) -> None:
        from pdeforge.datasets.runner import _chunk

        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise OnlineFeedError(
                f"a generator worker process died ({type(exc).__name__}: {exc}); the pool was "
                f"restarted {self.max_restarts} time(s) already (max_restarts={self.max_restarts}), "
                "so training stops here; check memory and the solver, or raise max_restarts") from None
        import warnings

        warnings.warn(f"online feed: a generator worker died ({type(exc).__name__}); restarting the "
                      f"pool ({self.restarts}/{self.max_restarts}) and resubmitting "
                      f"{len(self.tasks)} chunk(s) (same seeds, same samples)", stacklevel=3)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        self.futures = {self.pool.submit(_chunk, *task): cid for cid, task in sorted(self.tasks.items())}

    def collect(self, block: bool, timeout: float) -> list[tuple[int, Any]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        if not self.futures:
            return []
        done, _ = wait(list(self.futures), timeout=timeout if block else 0, return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            cid = self.futures.pop(fut)
            try:
                res = fut.result()
            except BrokenProcessPool as exc:
                self.futures[fut] = cid  # resubmitted with the others
                self._restart(exc)
                return out
            except Exception as exc:  # noqa: BLE001 - a failing solve ends the run, named
                raise OnlineFeedError(f"generating online chunk {cid} failed: {type(exc).__name__}: {exc}") from exc
            self.tasks.pop(cid, None)
            out.append((cid, res))
        return out

    def pids(self) -> list[int]:
        procs = getattr(self.pool, "_processes", None) or {}
        return sorted(procs)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.futures.clear()
        self.tasks.clear()


class _DaskBackend:
    """Chunks on a Dask cluster (``tcp://HOST:PORT``); Dask reschedules the tasks of a dead worker."""

    kind = "dask"

    def __init__(self, scheduler: str):
        from distributed import Client

        from pdeforge.datasets.executors import CONNECT_TIMEOUT, ClusterError, _probe

        _probe(scheduler)  # nothing listening: a one-line error at once
        try:
            self.client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT} s "
                               f"({type(exc).__name__}); start one or omit scheduler= to use local "
                               "processes") from None
        self.futures: dict[str, tuple[Any, int]] = {}
        self.restarts = 0

    def submit(self, cid: int, task: tuple) -> None:
        from pdeforge.datasets.runner import _chunk

        fut = self.client.submit(_chunk, *task, pure=False)
        self.futures[fut.key] = (fut, cid)

    def collect(self, block: bool, timeout: float) -> list[tuple[int, Any]]:
        from distributed import wait

        if not self.futures:
            return []
        futs = [f for f, _ in self.futures.values()]
        if block:
            try:
                wait(futs, timeout=timeout, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
        out = []
        for fut in futs:
            if fut.done():
                _, cid = self.futures.pop(fut.key)
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001
                    raise OnlineFeedError(f"generating online chunk {cid} on Dask failed: "
                                          f"{type(exc).__name__}: {exc}") from exc
                fut.release()
                out.append((cid, res))
        return out

    def pids(self) -> list[int]:
        return []

    def close(self) -> None:
        for fut, _ in self.futures.values():
            fut.cancel()
        self.futures.clear()
        self.client.close()


@dataclass
class FeedStats:
    """What a feed did: samples delivered, their stored-format bytes, worker CPU, waits."""

    samples: int = 0
    chunks: int = 0
    bytes: int = 0
    cpu_seconds: float = 0.0
    wait_seconds: float = 0.0
    first_index: int | None = None
    last_index: int | None = None
    indices: list[int] = field(default_factory=list)  # first index of every delivered chunk


class SampleFeed:
    """Samples of ``(config, split)`` solved by workers and delivered in index order.

    ``split`` is ``"online"`` for training (the reserved stream); tests stream stored splits to
    compare with the shards. This rank's chunks are ``rank, rank + world, …`` (module docstring).
    Delivered samples are ``(index, arrays)`` with every variable the family writes, cast to the
    stored dtype (what a shard would hold, bit for bit).
    """

    def __init__(self, card, family, config: str, *, split: str = "online", start: int = 0,
                 chunk: int = 1, workers: int = 1, scheduler: str | None = None, rank: int = 0,
                 world: int = 1, window: int | None = None, max_restarts: int = 2,
                 keep_indices: bool = False):
        self.card, self.family, self.config, self.split = card, family, config, split
        self.start, self.chunk, self.rank, self.world = int(start), int(chunk), int(rank), int(world)
        spec = family.config(card, config)
        self.specs = family.variables(card, spec)
        if scheduler:
            self.backend = _DaskBackend(scheduler)
            n = max(1, len(self.backend.client.scheduler_info().get("workers", {})))
        elif workers == 0:
            self.backend, n = _InlineBackend(), 1
        else:
            self.backend, n = _ProcessBackend(workers, max_restarts), workers
        self.window = int(window or (1 if workers == 0 and not scheduler else max(2, 4 * n)))
        self.stats = FeedStats()
        self.keep_indices = keep_indices
        self._next_submit = 0   # this rank's next chunk ordinal to submit
        self._next_deliver = 0  # … and to deliver
        self._ready: dict[int, dict[str, np.ndarray]] = {}
        self._rows: list[tuple[int, dict[str, np.ndarray]]] = []  # delivered chunk, not yet taken
        self._fill_window()

    # chunk ordinal j of this rank -> global chunk id -> sample range
    def _range(self, j: int) -> tuple[int, int]:
        c = self.rank + self.world * j
        a = self.start + c * self.chunk
        return a, a + self.chunk

    def _fill_window(self) -> None:
        while (self._next_submit - self._next_deliver) < self.window:
            a, b = self._range(self._next_submit)
            self.backend.submit(self._next_submit, (self.card.name, self.card.data, self.card.overrides,
                                                    self.config, self.split, a, b))
            self._next_submit += 1

    def _cast(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: np.asarray(arrays[name], dtype=spec.dtype) for name, spec in self.specs.items()}

    def _collect(self, block: bool, timeout: float = 1.0) -> None:
        for j, (arrays, cpu) in self.backend.collect(block, timeout):
            self._ready[j] = (self._cast(arrays), cpu)
        while self._next_deliver in self._ready:  # in index order
            arrays, cpu = self._ready.pop(self._next_deliver)
            a, b = self._range(self._next_deliver)
            st = self.stats
            st.chunks += 1
            st.cpu_seconds += float(cpu)
            if self.keep_indices:
                st.indices.append(a)
            for row, index in enumerate(range(a, b)):
                sample = {k: v[row] for k, v in arrays.items()}
                self._rows.append((index, sample))
            self._next_deliver += 1
        self._fill_window()

    def poll(self) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Every sample delivered so far (index order), without waiting (``workers=0``: solves one chunk)."""
        self._collect(block=False)
        return self._take_rows(len(self._rows))

    def take(self, n: int) -> list[tuple[int, dict[str, np.ndarray]]]:
        """The next ``n`` samples in index order, waiting for them."""
        t0 = time.perf_counter()
        while len(self._rows) < n:
            self._collect(block=True)
        self.stats.wait_seconds += time.perf_counter() - t0
        return self._take_rows(n)

    def _take_rows(self, n: int):
        rows, self._rows = self._rows[:n], self._rows[n:]
        if rows:
            st = self.stats
            st.first_index = rows[0][0] if st.first_index is None else st.first_index
            st.last_index = rows[-1][0]
        self.stats.samples += len(rows)
        self.stats.bytes += sum(int(v.nbytes) for _, s in rows for v in s.values())
        return rows

    @property
    def restarts(self) -> int:
        return getattr(self.backend, "restarts", 0)

    def worker_pids(self) -> list[int]:
        return self.backend.pids()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- samples -> model tensors ------------------------------------------------------------------


class SampleConverter:
    """Raw samples (stored dtypes) -> the ``(x, y[, mask])`` float32 tensors a
    :class:`~pdeforge.datasets.loader.TorchDataset` of the same config serves.

    ``template`` is a TorchDataset of the config (operator mode; any split: the plan depends on
    the variables and grids only, the normalisation on its statistics). The channel plan, the grid
    maps (k onto the solution grid, ``resolution=``) and the in-place float32 normalisation are
    the template's own, so a streamed train sample converts to exactly the template's item."""

    def __init__(self, template):
        if template.mode != "operator":
            raise InvalidValueError("online training serves operator-mode samples only")
        self.ds = template
        self.x_shape = (len(template.x_channels), *template.grid_shape)
        self.y_shape = (len(template.y_channels), *template.grid_shape)
        self.m_shape = (1, *template.grid_shape) if template.mask_var else None
        self.vars = list(template._vars)

    def __call__(self, samples: list[dict[str, np.ndarray]]):
        n = len(samples)
        X = np.empty((n, *self.x_shape), dtype=np.float32)
        Y = np.empty((n, *self.y_shape), dtype=np.float32)
        M = np.empty((n, *self.m_shape), dtype=np.float32) if self.m_shape else None
        out = (X, Y, M)
        for b, s in enumerate(samples):
            for vi, gm, side, ch in self.ds._fplan:
                src = s[self.vars[vi]]
                if gm is None:
                    out[side][b, ch] = src
                else:
                    gm(src, out=out[side][b, ch])
        if self.ds.normalized:
            self.ds._xnorm.apply_(X)
            self.ds._ynorm.apply_(Y)
        t = (torch.from_numpy(X), torch.from_numpy(Y))
        return t if M is None else (*t, torch.from_numpy(M))


def warmup_stats(card, family, config: str, samples: list[tuple[int, dict[str, np.ndarray]]]) -> dict[str, Any]:
    """Normalisation statistics of streamed samples by the stored-statistics rule.

    The samples are laid out as one shard (:func:`pdeforge.datasets.runner.build_shard`) in an
    in-memory netCDF4/HDF5 image that :func:`~pdeforge.datasets.normalize.compute_stats` reads
    like a file: same variables, roles, attributes and rules (log space, constants, masks)."""
    from pdeforge.datasets.normalize import LOG_DECADES, STATS_FORMAT, compute_stats
    from pdeforge.datasets.runner import build_shard

    if not samples:
        raise InvalidValueError("warm-up statistics need at least one sample")
    spec = family.config(card, config)
    arrays = {k: np.stack([s[k] for _, s in samples]) for k in samples[0][1]}
    ds = build_shard(family, card, spec, "online", samples[0][0], arrays)
    image = io.BytesIO(bytes(ds.to_netcdf(engine="h5netcdf")))
    ids = [i for i, _ in samples]
    contiguous = ids == list(range(ids[0], ids[0] + len(ids)))
    return {"format": STATS_FORMAT, "content_key": family.content_key(card, spec), "split": "online",
            "n_samples": len(samples),
            # [start, stop) when contiguous (one process), else every index (a DDP rank's chunks)
            "indices": [ids[0], ids[-1] + 1] if contiguous else ids,
            "log_decades": LOG_DECADES, "variables": compute_stats([image])}


# --- the training buffer -----------------------------------------------------------------------


class ReservoirBuffer:
    """Bounded FIFO training buffer, sampled with replacement (module docstring)."""

    def __init__(self, capacity: int, x_shape, y_shape, m_shape=None, seed: int = 0):
        self.capacity = int(capacity)
        self.x = torch.empty((self.capacity, *x_shape), dtype=torch.float32)
        self.y = torch.empty((self.capacity, *y_shape), dtype=torch.float32)
        self.m = torch.empty((self.capacity, *m_shape), dtype=torch.float32) if m_shape else None
        self.ids = np.full(self.capacity, -1, dtype=np.int64)
        self.seen = np.zeros(self.capacity, dtype=np.int64)
        self.size = self.head = 0
        self.inserted = self.drawn = self.evicted = 0
        self.evicted_seen: Counter = Counter()
        self.gen = torch.Generator()
        self.gen.manual_seed(int(seed))

    def put(self, index: int, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor | None = None) -> None:
        """Insert one sample; when full, the oldest one is evicted (its seen-count recorded)."""
        slot = self.head
        if self.size == self.capacity:
            self.evicted_seen[int(self.seen[slot])] += 1
            self.evicted += 1
        else:
            self.size += 1
        self.x[slot], self.y[slot] = x, y
        if self.m is not None:
            self.m[slot] = m
        self.ids[slot], self.seen[slot] = int(index), 0
        self.head = (slot + 1) % self.capacity
        self.inserted += 1

    def draw(self, n: int):
        """``n`` samples drawn uniformly with replacement: ``(x, y)`` or ``(x, y, mask)`` batches."""
        if self.size == 0:
            raise InvalidValueError("the training buffer is empty")
        idx = torch.randint(self.size, (int(n),), generator=self.gen)
        np.add.at(self.seen, idx.numpy(), 1)
        self.drawn += int(n)
        batch = (self.x.index_select(0, idx), self.y.index_select(0, idx))
        return batch if self.m is None else (*batch, self.m.index_select(0, idx))

    def seen_counts(self) -> dict[int, int]:
        """``{times drawn: samples}`` over every sample inserted (evicted and still held)."""
        c = Counter(self.evicted_seen)
        c.update(int(s) for s in self.seen[: self.size])
        return dict(sorted(c.items()))

    @property
    def reuse(self) -> float:
        """Samples drawn per sample inserted."""
        return self.drawn / self.inserted if self.inserted else math.nan

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.x, self.y, self.m) if t is not None)


class OnlineBatches:
    """What the epoch loop iterates over: ``steps_per_epoch`` batches per pass, each drawn from
    the buffer after the schedule's refill (module docstring)."""

    def __init__(self, feed: SampleFeed, buffer: ReservoirBuffer, convert: SampleConverter, *,
                 steps_per_epoch: int, batch_size: int, buffer_min: int,
                 fresh_per_step: int | None, pending: list | None = None):
        self.feed, self.buffer, self.convert = feed, buffer, convert
        self.steps_per_epoch, self.batch_size = int(steps_per_epoch), int(batch_size)
        self.buffer_min, self.fresh_per_step = int(buffer_min), fresh_per_step
        self._pending = list(pending or [])  # warm-up samples: inserted first
        self.started = False
        self.steps = 0
        self.t_start: float | None = None
        self.t_end: float | None = None

    def __len__(self) -> int:
        return self.steps_per_epoch

    def _insert(self, rows) -> None:
        if not rows:
            return
        tensors = self.convert([s for _, s in rows])
        for b, (index, _) in enumerate(rows):
            self.buffer.put(index, *(t[b] for t in tensors))

    def _refill(self) -> None:
        if not self.started:
            self.t_start = time.perf_counter()
            self._insert(self._pending)
            self._pending = []
            need = self.buffer_min - self.buffer.inserted
            if need > 0:
                self._insert(self.feed.take(need))
            self.started = True
        if self.fresh_per_step:
            self._insert(self.feed.take(self.fresh_per_step))
        else:
            self._insert(self.feed.poll())

    def __iter__(self) -> Iterator:
        for _ in range(self.steps_per_epoch):
            self._refill()
            self.steps += 1
            yield self.buffer.draw(self.batch_size)
        self.t_end = time.perf_counter()

    def postfix(self) -> dict[str, str]:
        """Progress-bar fields: buffer fill and reuse (draws per fresh sample)."""
        return {"buf": f"{self.buffer.size}/{self.buffer.capacity}", "reuse": f"{self.buffer.reuse:.2f}"}

    def record(self) -> dict[str, Any]:
        """This rank's counters (plain JSON types)."""
        st, buf = self.feed.stats, self.buffer
        wall = (self.t_end or time.perf_counter()) - (self.t_start or time.perf_counter())
        return {
            "rank": self.feed.rank, "samples_generated": buf.inserted, "samples_consumed": buf.drawn,
            "first_index": st.first_index, "last_index": st.last_index, "chunks": st.chunks,
            "bytes_not_on_disk": st.bytes, "generator_cpu_seconds": st.cpu_seconds,
            "trainer_wait_seconds": st.wait_seconds, "wall_seconds": wall,
            "evicted": buf.evicted, "seen_counts": buf.seen_counts(), "pool_restarts": self.feed.restarts,
            "unique_samples_drawn": int(buf.inserted - buf.seen_counts().get(0, 0)),
        }


# --- opening an online run ----------------------------------------------------------------------


@dataclass
class OnlineData(RunDataAccess):
    """The online counterpart of :class:`pdeforge.baselines.data.TrainData` (same attributes
    the trainer reads) plus the feed, the buffer and the normalisation record."""

    train_ds: Any            # the normalisation template (the val split with the run's statistics)
    fit_ds: Any              # a sized placeholder: len() = samples inserted so far
    val_ds: Any
    train_loader: OnlineBatches
    val_loader: Any
    manifest: Any
    settings: dict[str, Any]
    normalization: dict[str, Any]
    feed: SampleFeed

    def close(self) -> None:
        self.feed.close()


class _Inserted:
    def __init__(self, buffer: ReservoirBuffer):
        self.buffer = buffer

    def __len__(self) -> int:
        return self.buffer.inserted


def open_online(cfg, eval_batch_size: int, rank: int = 0, world: int = 1) -> OnlineData:
    """Open val (the stored split), start the generator feed, build the buffer (module docstring).

    ``cfg.online`` holds the validated settings; ``cfg.batch_size`` is the global batch, of
    which this rank draws ``batch_size / world``."""
    from pdeforge.datasets import store
    from pdeforge.datasets.cards import Card
    from pdeforge.datasets.family import get_family
    from pdeforge.datasets.loader import TorchDataset, make_loader
    from pdeforge.datasets.seeding import ONLINE_SPLIT, SPLIT_IDS

    s = cfg.online
    if cfg.batch_size % world:
        raise InvalidValueError(f"online DDP: batch_size={cfg.batch_size} must be divisible by the "
                                f"{world} ranks (each draws batch_size / ranks from its own buffer)")
    local_batch = cfg.batch_size // world
    use_train_stats = s["warmup"] == 0
    val_ds = TorchDataset(cfg.dataset, cfg.config, "val", root=cfg.root, normalize=use_train_stats,
                          resolution=cfg.resolution)
    cdir = val_ds.config_dir
    manifest = store.read_manifest(cdir) if cdir is not None else None
    if manifest is None:
        raise InvalidValueError(f"{cfg.dataset}: online training needs a generated config with a manifest "
                                "(its card fixes the stream; val and test are read from disk)")
    if "test" not in manifest.splits or "val" not in manifest.splits:
        raise InvalidValueError(f"{cdir}: online training needs stored 'val' and 'test' splits; "
                                f"the manifest has {', '.join(manifest.splits)}")
    n_epoch = cfg.n_train
    if n_epoch is None:
        if "train" not in manifest.splits:
            raise InvalidValueError(f"{cdir}: no stored train split to size an epoch; give n_train= "
                                    "(samples per online epoch)")
        n_epoch = manifest.splits["train"].n_samples
    if use_train_stats and "train" not in manifest.splits:
        raise InvalidValueError(f"{cdir}: warmup=0 takes normalisation statistics from the stored "
                                "train split, which this config lacks; give warmup=N")
    card = Card(manifest.dataset, manifest.card, manifest.overrides)
    family = get_family(card.generator)
    window = s["window"]
    if window is None and (s["workers"] > 0 or s["scheduler"]):
        window = max(4 * max(1, s["workers"]), 2 * math.ceil(local_batch / s["chunk"]))
    feed = SampleFeed(card, family, manifest.config, split=ONLINE_SPLIT, start=s["start"],
                      chunk=s["chunk"], workers=s["workers"], scheduler=s["scheduler"], rank=rank,
                      world=world, window=window, max_restarts=s["max_restarts"])
    try:
        pending: list = []
        if use_train_stats:
            norm = {"source": "stored train split", "file": "normalization.json",
                    "n_samples": val_ds.stats.get("n_samples"),
                    "train_fingerprint": val_ds.stats.get("train_fingerprint"),
                    "variables": val_ds.stats["variables"]}
        else:
            pending = feed.take(s["warmup"])
            stats = warmup_stats(card, family, manifest.config, pending)
            if world > 1:  # every rank normalises with rank 0's warm-up set
                import torch.distributed as dist

                box = [stats]
                dist.broadcast_object_list(box, src=0)
                stats = box[0]
            val_ds.stats = stats
            val_ds.normalized = True
            val_ds._load_norm()
            norm = {"source": "warm-up samples of the online stream", "split": ONLINE_SPLIT,
                    "indices": stats["indices"], "n_samples": stats["n_samples"],
                    "rank": 0, "variables": stats["variables"]}
        convert = SampleConverter(val_ds)
        buffer = ReservoirBuffer(s["buffer"], convert.x_shape, convert.y_shape, convert.m_shape,
                                 seed=cfg.seed * 1000003 + rank)
        buffer_min = s["buffer_min"] or min(s["buffer"], local_batch)
        batches = OnlineBatches(feed, buffer, convert, steps_per_epoch=math.ceil(n_epoch / cfg.batch_size),
                                batch_size=local_batch, buffer_min=max(buffer_min, len(pending)),
                                fresh_per_step=s["fresh_per_step"], pending=pending)
        val_loader = make_loader(val_ds, eval_batch_size, shuffle=False, seed=cfg.seed,
                                 num_workers=cfg.num_workers)
    except BaseException:
        feed.close()
        raise
    settings = {**s, "split": ONLINE_SPLIT, "split_id": SPLIT_IDS[ONLINE_SPLIT],
                "master_seed": int(card.get("seeding.master_seed")), "samples_per_epoch": n_epoch,
                "steps_per_epoch": len(batches), "local_batch_size": local_batch,
                "buffer_min": batches.buffer_min, "eviction": "fifo (oldest first)",
                "sampling": "uniform with replacement",
                "schedule": (f"fixed: {s['fresh_per_step']} fresh samples per step (blocking)"
                             if s["fresh_per_step"] else "asynchronous (insert what has arrived)"),
                "backend": feed.backend.kind, "window": feed.window,
                "buffer_bytes": buffer.nbytes()}
    return OnlineData(val_ds, _Inserted(buffer), val_ds, batches, val_loader, manifest, settings,
                      norm, feed)


def online_record(data: OnlineData, per_rank: list[dict[str, Any]], steps: int,
                  train_seconds: float) -> dict[str, Any]:
    """The ``online`` section of run.json from every rank's counters."""
    gen = sum(r["samples_generated"] for r in per_rank)
    used = sum(r["samples_consumed"] for r in per_rank)
    seen: Counter = Counter()
    for r in per_rank:
        seen.update({int(k): int(v) for k, v in r["seen_counts"].items()})
    s = data.settings
    return {
        "settings": s,
        "seed_stream": {"split": s["split"], "split_id": s["split_id"], "master_seed": s["master_seed"],
                        "config": data.config, "content_key": data.manifest["content_key"],
                        "start": s["start"], "chunk": s["chunk"], "ranks": len(per_rank),
                        "note": "rank r solves chunks r, r+ranks, ...; samples enter each buffer in "
                                "index order, so [first_index, last_index] per rank is what it trained on"},
        "normalization": data.normalization,
        "samples_generated": gen,
        "samples_consumed": used,
        "draws_per_sample": used / gen if gen else None,
        "unique_samples_drawn": sum(r["unique_samples_drawn"] for r in per_rank),
        "never_drawn": int(seen.get(0, 0)),
        "seen_counts": dict(sorted(seen.items())),
        "bytes_not_on_disk": sum(r["bytes_not_on_disk"] for r in per_rank),
        "generator_cpu_seconds": sum(r["generator_cpu_seconds"] for r in per_rank),
        "trainer_wait_seconds": max(r["trainer_wait_seconds"] for r in per_rank),
        "generated_per_second": gen / train_seconds if train_seconds else None,
        "consumed_per_second": used / train_seconds if train_seconds else None,
        "steps": steps,
        "per_rank": per_rank,
    }
