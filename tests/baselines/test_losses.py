"""Training losses (pdeforge.baselines.losses), with and without a fluid mask: hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeforge.baselines.losses import make_loss, mse_loss, rel_l2_loss
from pdeforge.errors import InvalidValueError, UnknownNameError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _t(rows):
    """(B, 1, 1, n) from a list of per-sample rows."""
    return torch.tensor(rows, dtype=torch.float64)[:, None, None, :]


def test_rel_l2_unmasked_definition():
    y = _t([[3.0, 4.0], [1.0, 0.0]])
    p = _t([[3.0, 0.0], [1.0, 1.0]])
    # sample 0: |(0,4)| / |(3,4)| = 0.8; sample 1: |(0,1)| / |(1,0)| = 1
    assert float(rel_l2_loss(p, y)) == pytest.approx(0.9, rel=1e-15)
    # pooled over channels: one value per sample
    y2, p2 = torch.cat([y, y], 1), torch.cat([p, y], 1)
    assert float(rel_l2_loss(p2, y2)) == pytest.approx(np.mean([4 / np.sqrt(50), 1 / np.sqrt(2)]), rel=1e-15)


def test_rel_l2_masked_counts_fluid_points_only():
    y = _t([[3.0, 4.0, 1e6], [1.0, 2.0, -7.0]])
    p = _t([[3.0, 0.0, 5.0], [2.0, 2.0, 0.0]])
    m = _t([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    # sample 0: fluid (3,4) vs (3,0): |(0,4)| / |(3,4)| = 0.8
    # sample 1: fluid points 0 and 2: |(1, 7)| / |(1, -7)| = 1
    assert float(rel_l2_loss(p, y, m)) == pytest.approx(0.9, rel=1e-15)
    # the mask multiplies every channel (the 1e6 in sample 0's solid cell is ignored in both)
    y2, p2 = torch.cat([y, y], 1), torch.cat([p, y], 1)
    want = np.mean([4 / np.sqrt(50), np.sqrt(50) / np.sqrt(100)])
    assert float(rel_l2_loss(p2, y2, m)) == pytest.approx(want, rel=1e-15)
    # an all-fluid mask is the unmasked loss, bit for bit
    ones = torch.ones_like(m)
    assert torch.equal(rel_l2_loss(p, y, ones), rel_l2_loss(p, y))
    # an all-solid sample contributes 0, not NaN
    solid = m.clone()
    solid[1] = 0
    assert float(rel_l2_loss(p, y, solid)) == pytest.approx(0.4, rel=1e-15)


def test_solid_cells_change_neither_loss_nor_gradient():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(3, 2, 5, 4, generator=g)
    m = (torch.rand(3, 1, 5, 4, generator=g) > 0.3).float()
    garbage = torch.where(m.bool().expand_as(y), y, torch.full_like(y, 1e6))
    for fn in (rel_l2_loss, mse_loss):
        grads = []
        for target in (y, garbage):
            p = torch.randn(3, 2, 5, 4, generator=torch.Generator().manual_seed(1)).requires_grad_()
            loss = fn(p, target, m)
            loss.backward()
            grads.append((loss.detach(), p.grad))
        assert torch.equal(grads[0][0], grads[1][0]), fn.__name__
        assert torch.equal(grads[0][1], grads[1][1]), fn.__name__
        assert float(grads[0][1][~m.bool().expand_as(y)].abs().max()) == 0.0  # no gradient from solid cells
        # without the mask the garbage does matter (the test can tell the two apart)
        assert not torch.equal(fn(p.detach(), y), fn(p.detach(), garbage))


def test_mse_masked_definition():
    y = _t([[1.0, 2.0], [0.0, 5.0]])
    o = _t([[2.0, 4.0], [0.0, 0.0]])
    m = _t([[1.0, 0.0], [1.0, 1.0]])
    assert float(mse_loss(o, y)) == pytest.approx((1 + 4 + 0 + 25) / 4, rel=1e-15)
    # fluid points: (1 - 2)^2, (0 - 0)^2, (5 - 0)^2 -> 26 / 3
    assert float(mse_loss(o, y, m)) == pytest.approx(26 / 3, rel=1e-15)


def test_make_loss_denormalises_and_passes_the_mask():
    y = _t([[3.0, 4.0, 9.0]])
    p = _t([[3.0, 0.0, 0.0]])
    m = _t([[1.0, 1.0, 0.0]])
    scale = lambda t: 2.0 * t + 1.0  # noqa: E731 - a de-normalisation y = 2 z + 1
    z_y, z_p = (y - 1) / 2, (p - 1) / 2
    loss = make_loss("rel_l2", scale)
    assert float(loss(z_p, z_y)) == pytest.approx(float(rel_l2_loss(p.float(), y.float())), rel=1e-6)
    assert float(loss(z_p, z_y, m)) == pytest.approx(0.8, rel=1e-6)
    mse = make_loss("mse", scale)
    assert float(mse(z_p, z_y, m)) == pytest.approx(float(mse_loss(z_p, z_y, m)), rel=1e-6)
    assert loss(z_p, z_y).dtype == torch.float32
    with pytest.raises(UnknownNameError, match="rel_l2"):
        make_loss("l1", scale)


def test_mask_of_the_wrong_shape_is_refused():
    y = torch.zeros(2, 3, 4, 4)
    with pytest.raises(InvalidValueError, match=r"\(B, 1, \*grid\)"):
        rel_l2_loss(y, y, torch.ones(2, 3, 4, 4))
    with pytest.raises(InvalidValueError, match="does not fit"):
        mse_loss(y, y, torch.ones(2, 1, 4, 5))
