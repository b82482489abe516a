r"""Data-parallel training with ``torchrun``: DistributedDataParallel, sharded batches, rank 0 writes.

    torchrun --nproc-per-node 2 -m pdeforge train condiff config=cubic0.1_grid64 model=fno batch_size=32

:func:`context` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``); with ``WORLD_SIZE > 1`` it initialises the process group
(``gloo`` on the CPU, ``nccl`` on CUDA, each rank on ``cuda:LOCAL_RANK``) unless the caller
already did. Without torchrun nothing changes: a single process, no process group.

* **Global batch.** ``batch_size`` is the *global* batch. Offline, every rank draws the
  single-process shuffle (the same seeded generator, consumed in the same order, as
  :func:`pdeforge.datasets.loader.make_loader`), groups it into the same global batches and
  takes its contiguous slice of each (:class:`ShardedBatchSampler`): the union over ranks of
  step ``t``'s samples is the single-process batch ``t``. Slices may differ by one sample when
  the batch does not divide; a batch with fewer samples than ranks is refused at setup.
  Online, each rank draws ``batch_size / ranks`` from its own buffer, fed by its own chunks of
  the stream (:mod:`pdeforge.baselines.online`).
* **Loss and gradients.** Each rank's loss is its local per-sample mean times
  ``n_local · ranks / n_global`` (:func:`global_batch_loss`), so DDP's gradient average equals
  the gradient of the global-batch mean exactly in real arithmetic (weights 1.0 when the slices
  are equal). The logged loss is its all-reduced mean: the global batch's loss. Exact for
  ``rel_l2`` and unmasked ``mse`` (per-sample means); masked ``mse`` (a mean over fluid points)
  is weighted by samples, an approximation. Models with BatchNorm normalise over the local
  slice (no SyncBatchNorm): not equal to the single-process run.
* **Equality with one process** holds to float32 round-off, not bit for bit: the all-reduce
  sums the ranks' partial gradients in another order than one backward pass over the whole
  batch. The CI test (tests/baselines/test_ddp.py) compares the per-step loss curve of 2 gloo
  ranks with the single-process run at the same global batch.
* **Validation, selection, files.** Every rank evaluates the whole val split (weights are
  identical on all ranks, so all select the same epoch); only rank 0 writes the checkpoint,
  predicts the test split and writes predictions, run.json and the submission draft; the other
  ranks return after training (their :class:`~pdeforge.baselines.train.RunResult` has an empty
  ``run``).
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler

from pdeforge.errors import InvalidValueError

__all__ = ["DistContext", "context", "ShardedBatchSampler", "sharded_loader", "global_batch_loss",
           "unwrap", "wrap_model"]

#: how long a rank waits in a collective before giving up (a crashed peer never hangs a run forever)
TIMEOUT = datetime.timedelta(minutes=30)


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owned: bool = False  # this module initialised the process group (and destroys it)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def gather(self, obj):
        """Every rank's ``obj`` as a list (on every rank); ``[obj]`` without a process group."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of ``t`` over ranks (a copy; ``t`` itself without a process group)."""
        if not self.active:
            return t
        s = t.detach().clone()
        torch.distributed.all_reduce(s)
        return s / self.world_size

    def close(self) -> None:
        if self.owned and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
            self.owned = False

    def record(self) -> dict:
        return {"world_size": self.world_size, "backend": self.backend}


def context(device_type: str = "cpu") -> DistContext:
    """The run's process group from torchrun's environment (module docstring)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistContext()
    import torch.distributed as dist

    owned = False
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://", timeout=TIMEOUT)
        owned = True
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
                       backend=str(dist.get_backend()), owned=owned)


class ShardedBatchSampler(Sampler[list[int]]):
    """The single-process batches of ``sampler`` (``batch_size``, last one partial), this rank's
    contiguous slice ``[n·r/W, n·(r+1)/W)`` of each."""

    def __init__(self, sampler, batch_size: int, rank: int, world_size: int):
        self.sampler, self.batch_size = sampler, int(batch_size)
        self.rank, self.world_size = int(rank), int(world_size)

    def part(self, batch: list[int]) -> list[int]:
        n = len(batch)
        return batch[n * self.rank // self.world_size: n * (self.rank + 1) // self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield self.part(batch)
                batch = []
        if batch:
            yield self.part(batch)

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)


def check_batches(n: int, batch_size: int, world_size: int) -> None:
    """Refuse global batches with fewer samples than ranks (a rank would get none)."""
    sizes = {min(batch_size, n)} | ({n % batch_size} if n % batch_size else set())
    small = [s for s in sizes if s < world_size]
    if small:
        raise InvalidValueError(
            f"DDP with {world_size} ranks: a global batch of {min(small)} sample(s) "
            f"({n} training samples, batch_size={batch_size}) leaves a rank without samples; "
            "change batch_size or n_train")


def sharded_loader(dataset, batch_size: int, seed: int, rank: int, world_size: int,
                   num_workers: int = 0) -> DataLoader:
    """This rank's loader: the batches of ``make_loader(dataset, batch_size, shuffle=True, seed)``
    sliced by :class:`ShardedBatchSampler` (the generator is consumed exactly as there)."""
    from pdeforge.datasets.loader import _seed_worker, collate

    check_batches(len(dataset), batch_size, world_size)
    g = torch.Generator()
    g.manual_seed(int(seed))
    sampler = ShardedBatchSampler(RandomSampler(dataset, generator=g), batch_size, rank, world_size)
    return DataLoader(dataset, batch_sampler=sampler, generator=g, num_workers=num_workers,
                      collate_fn=collate, worker_init_fn=_seed_worker)


def global_batch_loss(loss_fn: Callable[..., torch.Tensor], ctx: DistContext) -> Callable[..., torch.Tensor]:
    """``loss_fn`` scaled by ``n_local · ranks / n_global`` (one all-reduce of the sample count)."""
    def loss(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n = torch.tensor([float(out.shape[0])], device=out.device)
        torch.distributed.all_reduce(n)
        value = loss_fn(out, y) if mask is None else loss_fn(out, y, mask)
        weight = out.shape[0] * ctx.world_size / float(n.item())
        return value if weight == 1.0 else value * weight

    return loss


def wrap_model(model: torch.nn.Module, ctx: DistContext, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` (rank 0's parameters broadcast to all ranks)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    import inspect

    ids = [device.index] if device.type == "cuda" else None
    # parameters and buffers are synced from rank 0 at construction; no buffer sync in forward
    # (the baselines train no buffers, and eval passes stay free of collectives)
    sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
            else {"broadcast_buffers": False})
    return DDP(model, device_ids=ids, output_device=ids[0] if ids else None, **sync)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (the model itself otherwise)."""
    return getattr(model, "module", model)
