r"""Training losses, with or without a fluid mask.

For a batch of predictions ``p`` and targets ``y`` shaped ``(B, C, *grid)`` and, optionally, a
mask ``m`` shaped ``(B, 1, *grid)`` (1 = fluid, 0 = solid; it multiplies every channel):

* ``"rel_l2"`` (default): per sample ``b``

  .. math:: r_b = \frac{\lVert m_b \cdot (p_b - y_b) \rVert_2}{\lVert m_b \cdot y_b \rVert_2}

  over all target channels and grid points, then the mean over the batch; without a mask
  ``m = 1``. It is computed on the **de-normalised** prediction and target, so it is the
  leaderboard's rel-L2 (for one target field exactly; for several, the leaderboard averages
  per-field values while the loss pools the channels). The denominator is clamped at ``1e-30``
  only to keep an identically zero target (or an all-solid sample) finite.
* ``"mse"``: the mean squared error of the **normalised** outputs,
  ``mean((o - y)^2)``; with a mask, the mean over fluid points only,
  ``sum(m (o - y)^2) / (C · sum(m))``.

Whatever a target holds in solid cells (``m = 0``) does not enter either loss, nor its
gradient. Without a mask the code path is the unmasked one, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pdeforge.baselines.batches import check_mask
from pdeforge.baselines.config import LOSSES
from pdeforge.errors import UnknownNameError

__all__ = ["rel_l2_loss", "mse_loss", "make_loss"]

Loss = Callable[..., torch.Tensor]


def rel_l2_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                eps: float = 1e-30) -> torch.Tensor:
    """Mean over the batch of ``||m·(p - y)||_2 / ||m·y||_2`` per sample (module docstring)."""
    diff = pred - target
    if mask is not None:
        m = check_mask(mask, pred).to(diff.dtype)
        diff, target = diff * m, target * m
    num = torch.linalg.vector_norm(diff.flatten(1), dim=1)
    den = torch.linalg.vector_norm(target.flatten(1), dim=1).clamp_min(eps)
    return (num / den).mean()


def mse_loss(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``mean((o - y)^2)``; with a mask ``sum(m (o - y)^2) / (C · sum(m))`` (fluid points only)."""
    if mask is None:
        return torch.mean((out - y) ** 2)
    m = check_mask(mask, out).to(out.dtype)
    return torch.sum(m * (out - y) ** 2) / (out.shape[1] * torch.sum(m)).clamp_min(1.0)


def make_loss(name: str, denormalize: Callable[[torch.Tensor], torch.Tensor]) -> Loss:
    """``loss(out, y, mask=None)`` on the model's normalised output ``out`` and normalised target.

    ``"rel_l2"`` de-normalises both with ``denormalize`` and applies :func:`rel_l2_loss`;
    ``"mse"`` is :func:`mse_loss` of the normalised fields. Both compute in float32.
    """
    if name == "rel_l2":
        def loss(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
            return rel_l2_loss(denormalize(out.float()), denormalize(y.float()), mask)
    elif name == "mse":
        def loss(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
            return mse_loss(out.float(), y.float(), mask)
    else:
        raise UnknownNameError("loss", str(name), LOSSES)
    return loss
