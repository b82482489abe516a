"""Where sample chunks run: in-process, a local process pool, or a Dask cluster.

Every executor maps a picklable function over tasks and yields ``(task, result)`` as results
arrive, keeping at most ``window`` tasks in flight (bounded memory). Output never depends on
the executor: each task is a pure function of its arguments (per-sample seeds), and the
writer assembles shards by sample index.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from pdeforge.errors import PdeforgeError
from pdeforge.registry import Registry

EXECUTORS: Registry[Callable[..., Iterator[tuple[Any, Any]]]] = Registry("executor")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: seconds to wait for a Dask scheduler before giving up with a one-line error
CONNECT_TIMEOUT = 10
_PR_SET_PDEATHSIG = 1


class ClusterError(PdeforgeError):
    """The Dask scheduler cannot be reached."""


def _die_with_parent(parent: int) -> None:
    """Pool worker initializer: end this worker when the parent process dies.

    On Linux the kernel sends SIGKILL to the worker when its parent exits however it exits
    (``prctl(PR_SET_PDEATHSIG)``); a daemon thread that polls ``os.getppid()`` covers other
    systems and the race where the parent died before the prctl call. Without this, workers of
    a ``generate`` killed with SIGKILL stayed blocked on their task queue forever."""
    import signal
    import threading
    import time

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="pdeforge-parent-watch", daemon=True).start()


@contextlib.contextmanager
def single_threaded_children():
    """Child processes inherit one BLAS/OpenMP thread each (workers already saturate cores)."""
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update({v: "1" for v in THREAD_VARS})
    try:
        yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


@EXECUTORS.register("serial")
def run_serial(fn, tasks: Iterable, workers: int = 1, window: int = 0, **_) -> Iterator[tuple[Any, Any]]:
    for task in tasks:
        yield task, fn(*task)


@EXECUTORS.register("processes")
def run_processes(fn, tasks: Iterable, workers: int = 2, window: int = 0, **_) -> Iterator[tuple[Any, Any]]:
    window = window or 4 * workers
    with single_threaded_children():
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        pending: dict = {}
        it = iter(tasks)
        for task in it:
            pending[pool.submit(fn, *task)] = task
            if len(pending) >= window:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                task = pending.pop(fut)
                yield task, fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending[pool.submit(fn, *nxt)] = nxt
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _probe(scheduler: str) -> None:
    """Fail at once when nothing listens at a ``tcp://HOST:PORT`` scheduler address (Dask itself
    would retry until its timeout)."""
    import socket

    proto, _, rest = scheduler.partition("://")
    if proto != "tcp":
        return
    host, _, port = rest.rpartition(":")
    try:
        port_n = int(port)
    except ValueError:
        raise ClusterError(f"--scheduler {scheduler!r}: expected tcp://HOST:PORT") from None
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", port_n), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc.strerror or exc}; "
                           "start one (`dask scheduler` and `dask worker ADDRESS`) or omit --scheduler "
                           "to use local processes") from None


@EXECUTORS.register("dask")
def run_dask(fn, tasks: Iterable, workers: int = 0, window: int = 0, scheduler: str = "", **_) -> Iterator[tuple[Any, Any]]:
    """Tasks on a ``dask.distributed`` cluster at ``scheduler`` (e.g. tcp://127.0.0.1:8786)."""
    from distributed import Client, as_completed

    if "://" not in scheduler or not scheduler.split("://", 1)[1]:
        raise ClusterError(f"--scheduler {scheduler!r}: expected an address like tcp://HOST:PORT")
    _probe(scheduler)
    try:
        client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT} s "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}); "
                           "start one (`dask scheduler` and `dask worker ADDRESS`) or omit --scheduler "
                           "to use local processes") from None
    with client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        window = window or 4 * n_workers
        it = iter(tasks)
        queue = deque()
        futures = {}
        for task in it:
            fut = client.submit(fn, *task, pure=False)
            futures[fut.key] = task
            queue.append(fut)
            if len(queue) >= window:
                break
        ac = as_completed(list(queue))
        for fut in ac:
            task = futures.pop(fut.key)
            result = fut.result()
            fut.release()
            yield task, result
            nxt = next(it, None)
            if nxt is not None:
                f2 = client.submit(fn, *nxt, pure=False)
                futures[f2.key] = nxt
                ac.add(f2)
