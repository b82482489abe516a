"""DeepCFD's multi-decoder U-Net (``deepcfd``): registry, shapes on DeepCFD's 172 x 79 grid, one decoder per
output channel, the published configuration, and that it can fit a small batch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from pdeforge.baselines import build_model, count_parameters, list_models  # noqa: E402


def test_registered_and_shapes():
    assert "deepcfd" in list_models()
    m = build_model("deepcfd", 3, 3, seed=0)
    x = torch.randn(2, 3, 172, 79)
    assert m(x).shape == (2, 3, 172, 79)
    for size in [(17, 9), (8, 8), (33, 20)]:
        assert m(torch.randn(1, 3, *size)).shape == (1, 3, *size)


def test_full_config_is_deepcfds():
    m = build_model("deepcfd", 3, 3, preset="full", seed=0)
    assert m.config == {"kernel_size": 5, "filters": [8, 16, 32, 32], "layers": 3}
    assert len(m.decoders) == 3
    assert m(torch.randn(1, 3, 172, 79)).shape == (1, 3, 172, 79)
    assert count_parameters(m) > count_parameters(build_model("deepcfd", 3, 3))


def test_decoders_are_independent():
    """Output channel c depends on decoder c only (plus the shared encoder)."""
    m = build_model("deepcfd", 3, 2, seed=0)
    x = torch.randn(1, 3, 20, 12)
    y0 = m(x)
    with torch.no_grad():
        for p in m.decoders[1].parameters():
            p.add_(0.5)
    y1 = m(x)
    assert torch.equal(y0[:, 0], y1[:, 0]) and not torch.allclose(y0[:, 1], y1[:, 1])


def test_fits_a_batch():
    torch.manual_seed(0)
    m = build_model("deepcfd", 3, 3, seed=0)
    x = torch.randn(4, 3, 24, 16)
    y = torch.tanh(x.roll(1, dims=1))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    assert float(loss) < 0.3 * first
