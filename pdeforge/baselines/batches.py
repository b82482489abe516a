"""The batch contract between a data loader and the trainer: ``(x, y)`` or ``(x, y, mask)``.

``x`` ``(B, c_in, *grid)`` and ``y`` ``(B, c_out, *grid)`` are the model's input and target;
a split whose shards hold a variable with role ``mask`` (1 = fluid, 0 = solid, on the target
grid) also yields ``mask`` shaped ``(B, 1, *grid)``, float32 (the loader's ``mask_var`` names
that variable). The mask is never normalised; losses and the val/test rel-L2 use it to count
fluid points only, while predictions keep the full field (the scorer applies the mask).

Any :class:`torch.utils.data.Dataset` whose items are 2- or 3-tuples of tensors works: nothing
in the training loop depends on :class:`~pdeforge.datasets.loader.TorchDataset`.
"""

from __future__ import annotations

from typing import Any

import torch

from pdeforge.errors import InvalidValueError

__all__ = ["unpack", "check_mask"]


def unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(x, y)`` → ``(x, y, None)``; ``(x, y, mask)`` → itself; anything else is refused."""
    if isinstance(batch, (list, tuple)):
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch[0], batch[1], batch[2]
    n = len(batch) if isinstance(batch, (list, tuple)) else type(batch).__name__
    raise InvalidValueError(f"a batch must be (x, y) or (x, y, mask); got {n} element(s)")


def check_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``mask`` ``(B, 1, *grid)`` for a field ``like`` ``(B, C, *grid)``; returns it unchanged."""
    if mask.ndim != like.ndim or mask.shape[0] != like.shape[0] or mask.shape[1] != 1 \
            or tuple(mask.shape[2:]) != tuple(like.shape[2:]):
        raise InvalidValueError(f"mask shape {tuple(mask.shape)} does not fit fields shaped "
                                f"{tuple(like.shape)}; expected (B, 1, *grid)")
    return mask
