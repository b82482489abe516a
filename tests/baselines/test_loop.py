"""The epoch loop (pdeforge.baselines.loop) on in-memory data: determinism, masks, model selection.

Nothing here uses TorchDataset: the loop takes any loader of ``(x, y)`` or ``(x, y, mask)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeforge.baselines import build_model
from pdeforge.baselines.evaluation import evaluate_rel_l2, predict, rel_l2_per_sample
from pdeforge.baselines.loop import fit, make_optimizer, make_scheduler
from pdeforge.baselines.losses import make_loss
from pdeforge.datasets.loader import make_loader
from pdeforge.errors import InvalidValueError, UnknownNameError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")
TINY = {"width": 4, "modes": 2, "n_layers": 1, "projection_channels": 8}


class Toy(torch.utils.data.Dataset):
    """``n`` samples on an 8×8 grid: y = x0·x1 + x0 (a learnable map), a disc of solid cells
    per sample (mask 0) where y may be replaced by ``solid_value``; items are 3-tuples with
    ``with_mask`` else 2-tuples."""

    def __init__(self, n: int, seed: int, solid_value: float | None = None, with_mask: bool = True):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 2, 8, 8, generator=g)
        self.y = (self.x[:, :1] * self.x[:, 1:] + self.x[:, :1]).contiguous()
        i, j = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
        centre = torch.randint(2, 6, (n, 2), generator=g).float()
        r2 = (i - centre[:, 0, None, None]) ** 2 + (j - centre[:, 1, None, None]) ** 2
        self.mask = (r2 > 2.0).float()[:, None]  # (n, 1, 8, 8): 1 = fluid
        if solid_value is not None:
            self.y = torch.where(self.mask.bool(), self.y, torch.full_like(self.y, solid_value))
        self.with_mask = with_mask

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i):
        if self.with_mask:
            return self.x[i], self.y[i], self.mask[i]
        return self.x[i], self.y[i]


def denorm(t):
    return 1.5 * t + 0.25


def _run(train_ds, val_ds, seed=0, epochs=3, on_best=None, loss="rel_l2"):
    model = build_model("fno", 2, 1, seed=seed, **TINY)
    res = fit(model, make_loader(train_ds, 4, shuffle=True, seed=seed), make_loader(val_ds, 3, shuffle=False),
              epochs=epochs, lr=1e-2, weight_decay=1e-4, schedule="cosine", loss_fn=make_loss(loss, denorm),
              denormalize_y=denorm, device=CPU, amp=False, on_best=on_best)
    return model, res


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_two_cpu_runs_are_identical_and_the_seed_matters():
    tr, va = Toy(10, 0, with_mask=False), Toy(4, 1, with_mask=False)
    (m1, r1), (m2, r2), (m3, r3) = _run(tr, va), _run(tr, va), _run(tr, va, seed=1)
    assert _same_weights(m1, m2) and r1.history == r2.history
    assert (r1.best_epoch, r1.best_val_rel_l2, r1.steps) == (r2.best_epoch, r2.best_val_rel_l2, 9)
    assert not _same_weights(m1, m3) and r1.history != r3.history
    assert [h["epoch"] for h in r1.history] == [1, 2, 3]
    assert r1.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine to 0 over all steps
    assert r1.seconds > 0


def test_masked_run_ignores_garbage_in_solid_cells():
    val = Toy(4, 1)
    clean_model, clean = _run(Toy(10, 0), val)
    dirty_model, dirty = _run(Toy(10, 0, solid_value=1e6), Toy(4, 1, solid_value=1e6))
    # bit for bit: the garbage enters neither the loss, its gradient nor the val rel-L2
    assert _same_weights(clean_model, dirty_model)
    assert clean.history == dirty.history and clean.best_epoch == dirty.best_epoch
    assert all(np.isfinite(h["train_loss"]) and h["train_loss"] < 2 for h in dirty.history)
    # the control: the same garbage without a mask changes the run
    blind_model, blind = _run(Toy(10, 0, solid_value=1e6, with_mask=False),
                              Toy(4, 1, solid_value=1e6, with_mask=False))
    assert not _same_weights(clean_model, blind_model) and blind.history != clean.history
    # the masked loss (mse too) ignores the garbage as well
    m_mse, _ = _run(Toy(10, 0), val, epochs=1, loss="mse")
    d_mse, _ = _run(Toy(10, 0, solid_value=1e6), val, epochs=1, loss="mse")
    assert _same_weights(m_mse, d_mse)


def test_masked_val_rel_l2_is_the_fluid_only_definition():
    val = Toy(5, 3, solid_value=-4e5)
    model = build_model("fno", 2, 1, seed=0, **TINY)
    loader = make_loader(val, 2, shuffle=False)
    got = evaluate_rel_l2(model, loader, CPU, False, denorm)
    with torch.no_grad():
        p = denorm(model(val.x).double()).numpy()
    y, m = denorm(val.y.double()).numpy(), val.mask.double().numpy()
    want = np.mean([np.linalg.norm((m[i] * (p[i] - y[i])).ravel()) / np.linalg.norm((m[i] * y[i]).ravel())
                    for i in range(len(val))])
    assert got == pytest.approx(want, rel=1e-6)
    # predictions keep the full field: solid cells hold the model's output, not zeros
    res = predict(model, loader, CPU, False)
    assert res.mask is not None and res.mask.shape == (5, 1, 8, 8)
    with torch.no_grad():
        np.testing.assert_allclose(res.out, model(val.x).numpy(), rtol=1e-6, atol=1e-7)
    solid = res.mask[:, 0] == 0
    assert solid.any() and np.abs(res.out[:, 0][solid]).max() > 0
    # the same per-sample numbers from rel_l2_per_sample
    np.testing.assert_allclose(rel_l2_per_sample(p, y, m), [
        np.linalg.norm((m[i] * (p[i] - y[i])).ravel()) / np.linalg.norm((m[i] * y[i]).ravel())
        for i in range(5)], rtol=1e-12)


def test_on_best_follows_the_val_minimum(monkeypatch):
    import pdeforge.baselines.loop as loop_mod

    vals = iter([0.5, 0.7, 0.3, float("nan")])
    monkeypatch.setattr(loop_mod, "evaluate_rel_l2", lambda *a, **k: next(vals))
    seen = []
    _, res = _run(Toy(4, 0), Toy(2, 1), epochs=4, on_best=lambda e, v, m: seen.append((e, v)))
    assert seen == [(1, 0.5), (3, 0.3)]  # NaN never replaces a finite best
    assert (res.best_epoch, res.best_val_rel_l2) == (3, 0.3)


def test_non_finite_loss_stops_with_the_epoch():
    bad = Toy(4, 0, with_mask=False)
    bad.y[0, 0, 0, 0] = float("inf")
    with pytest.raises(InvalidValueError, match="non-finite training loss at epoch 1"):
        _run(bad, Toy(2, 1, with_mask=False), epochs=1)


def test_batches_of_other_lengths_and_mixed_masks_are_refused():
    model = build_model("fno", 2, 1, seed=0, **TINY)
    x, y = torch.zeros(2, 2, 8, 8), torch.zeros(2, 1, 8, 8)
    with pytest.raises(InvalidValueError, match="got 4 element"):
        predict(model, [(x, y, y, y)], CPU, False)
    with pytest.raises(InvalidValueError, match="some batches carry a mask"):
        predict(model, [(x, y), (x, y, torch.ones(2, 1, 8, 8))], CPU, False)


def test_optimiser_and_schedules():
    model = torch.nn.Linear(2, 1)
    opt = make_optimizer(model, 1e-3, 1e-4)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["weight_decay"] == 1e-4
    sched = make_scheduler(opt, "onecycle", 10, 1e-3)
    lrs = []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert max(lrs) == pytest.approx(1e-3, rel=0.05) and lrs[-1] < 0.1 * max(lrs)  # peak lr, then down
    with pytest.raises(UnknownNameError, match="cosine"):
        make_scheduler(opt, "step", 10, 1e-3)
