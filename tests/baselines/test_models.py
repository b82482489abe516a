"""Tests of the baseline models and their registry (pdeforge.baselines)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import pdeforge.baselines as baselines
from pdeforge.baselines import (
    MODELS,
    BaselineModel,
    SpectralConv2d,
    build_model,
    coordinate_grid,
    count_parameters,
    get_model_class,
    list_models,
    register_model,
)

# The models under test are tiny, so intra-op threading gains little; on a busy
# 2-core machine two OpenMP threads per process were measured 10-40x slower
# than one (spin-waiting under oversubscription), so this module runs with
# TEST_THREADS threads and restores the previous setting afterwards.
TEST_THREADS = 1


@pytest.fixture(autouse=True, scope="module")
def _limit_torch_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(TEST_THREADS)
    yield
    torch.set_num_threads(previous)


EXPECTED_MODELS = {"fno", "unet", "resnet", "dilresnet", "deeponet", "ffn"}
ALL_MODELS = list_models()


# --------------------------------------------------------------------------- helpers


def smooth_fields(n_samples: int, channels: int, n: int, kmax: int = 2, seed: int = 0) -> torch.Tensor:
    """Random smooth fields: a Fourier series with wavenumbers <= kmax and decaying amplitudes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.0, 1.0, n)
    X, Y = torch.meshgrid(x, x, indexing="ij")
    out = torch.zeros(n_samples, channels, n, n)
    for kx in range(kmax + 1):
        for ky in range(kmax + 1):
            amp = torch.randn(n_samples, channels, 2, generator=g) / (1 + kx * kx + ky * ky)
            phase = 2 * math.pi * (kx * X + ky * Y)
            out += amp[..., 0, None, None] * torch.cos(phase) + amp[..., 1, None, None] * torch.sin(phase)
    return out / out.std()


def periodic_bandlimited(n: int, kmax: int, seed: int = 0, batch: int = 2, channels: int = 2) -> torch.Tensor:
    """Periodic fields with |k_x|, |k_y| <= kmax sampled at x_i = i / n (exactly sub-sampleable)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    out = torch.zeros(batch, channels, n, n, dtype=torch.float64)
    for kx in range(-kmax, kmax + 1):
        for ky in range(0, kmax + 1):
            amp = torch.randn(batch, channels, 2, generator=g, dtype=torch.float64)
            phase = 2 * math.pi * (kx * X + ky * Y)
            out += amp[..., 0, None, None] * torch.cos(phase) + amp[..., 1, None, None] * torch.sin(phase)
    return out.float()


def gaussian_blur(u: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = 3
    t = torch.arange(-radius, radius + 1, dtype=u.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = u.shape[1]
    u = F.conv2d(F.pad(u, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    u = F.conv2d(F.pad(u, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return u


def relative_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    diff = (pred - target).flatten(1).norm(dim=1)
    return (diff / target.flatten(1).norm(dim=1)).mean()


# --------------------------------------------------------------------------- registry


def test_registry_contains_all_baselines():
    assert EXPECTED_MODELS <= set(ALL_MODELS)
    assert ALL_MODELS == sorted(ALL_MODELS)
    for name in ALL_MODELS:
        cls = get_model_class(name)
        assert MODELS.get(name) is cls and issubclass(cls, BaselineModel)
        assert cls.model_name == name
        assert set(cls.default_config) == set(cls.full_config), name


def test_model_modules_have_docstrings_with_reference():
    for mod in ("fno", "unet", "resnet", "deeponet", "ffn", "registry", "common"):
        doc = getattr(baselines, mod).__doc__
        assert doc and len(doc) > 200, mod
    for mod in ("fno", "unet", "resnet", "deeponet", "ffn"):
        assert any(ch.isdigit() for ch in getattr(baselines, mod).__doc__), f"{mod}: no reference year"


def test_unknown_model_name_lists_known_names():
    from pdeforge.errors import UnknownNameError
    from pdeforge.registry import Registry

    assert isinstance(MODELS, Registry) and MODELS.names() == ALL_MODELS
    with pytest.raises(ValueError) as err:
        build_model("transformer9000", 2, 1)
    assert isinstance(err.value, UnknownNameError) and err.value.kind == "model"
    assert err.value.name == "transformer9000" and err.value.known == ALL_MODELS
    msg = str(err.value)
    assert "transformer9000" in msg
    for name in ALL_MODELS:
        assert name in msg
    assert get_model_class("FNO") is MODELS.get("fno")  # case-insensitive
    with pytest.raises(UnknownNameError, match="'Transformer'"):
        get_model_class("Transformer")


@pytest.mark.parametrize("name", ALL_MODELS)
def test_unknown_config_key_is_a_clear_error(name):
    with pytest.raises(ValueError) as err:
        build_model(name, 2, 1, not_a_key=3)
    msg = str(err.value)
    assert "not_a_key" in msg and name in msg
    for key in get_model_class(name).default_config:
        assert key in msg  # the valid keys are listed
    with pytest.raises(ValueError, match="not_a_key"):
        get_model_class(name)(2, 1, not_a_key=3)


def test_bad_preset_and_channel_counts():
    with pytest.raises(ValueError, match="preset"):
        build_model("fno", 2, 1, preset="huge")
    with pytest.raises(ValueError, match="c_in"):
        build_model("unet", 0, 1)
    with pytest.raises(ValueError, match="c_out"):
        build_model("unet", 1, 2.5)


def test_register_model_rejects_duplicates_and_non_models(monkeypatch):
    import pdeforge.baselines.registry as registry_mod
    from pdeforge.registry import Registry

    scratch = Registry("model")  # a private copy: the test's registrations do not leak
    for name in ALL_MODELS:
        scratch.register(name)(MODELS.get(name))
    monkeypatch.setattr(registry_mod, "MODELS", scratch)

    class Tiny(BaselineModel):
        default_config = {"k": 1}
        full_config = {"k": 2}

        def forward(self, a):
            return a[:, : self.c_out] * self.config["k"]

    register_model("tiny_test_model")(Tiny)
    assert "tiny_test_model" in list_models() and "tiny_test_model" not in MODELS
    m = build_model("tiny_test_model", 2, 1, preset="full")
    assert m.config == {"k": 2} and Tiny.model_name == "tiny_test_model"
    assert register_model("tiny_test_model")(Tiny) is Tiny  # the same class twice: a no-op
    with pytest.raises(ValueError, match="already registered to Tiny"):
        register_model("tiny_test_model")(type("Other", (Tiny,), {}))
    with pytest.raises(TypeError):
        register_model("not_a_model")(torch.nn.Linear)
    bad = type("Bad", (BaselineModel,), {"default_config": {"a": 1}, "full_config": {"b": 1}})
    with pytest.raises(TypeError, match="same keys"):
        register_model("bad_test_model")(bad)
    with pytest.raises(ValueError, match="lower-case"):
        register_model("Upper")
    assert "not_a_model" not in scratch and "bad_test_model" not in scratch


@pytest.mark.parametrize("name", ALL_MODELS)
def test_config_roundtrip_and_overrides(name):
    m = build_model(name, 2, 1)
    assert m.config == get_model_class(name).default_config
    rebuilt = build_model(name, 2, 1, **m.config)
    assert rebuilt.config == m.config
    assert count_parameters(rebuilt) == count_parameters(m) == m.num_parameters()


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("size", [(32, 32), (33, 33), (20, 37)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", ALL_MODELS)
def test_output_shape(name, size):
    torch.manual_seed(0)
    model = build_model(name, 2, 1)
    x = torch.randn(3, 2, *size)
    y = model(x)
    assert y.shape == (3, 1, *size)
    assert y.dtype == x.dtype and torch.isfinite(y).all()
    # several output channels, one sample
    y3 = build_model(name, 2, 3)(x[:1])
    assert y3.shape == (1, 3, *size)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_wrong_channel_count_is_rejected(name):
    model = build_model(name, 2, 1)
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(2, 32, 32))


def test_fno_rejects_grids_smaller_than_twice_the_modes():
    model = build_model("fno", 2, 1, modes=8)
    model(torch.randn(1, 2, 16, 16))  # the smallest supported grid
    for size in [(8, 8), (15, 32), (32, 15)]:
        with pytest.raises(ValueError, match="at least 16x16"):
            model(torch.randn(1, 2, *size))
    # anisotropic modes and the optional zero padding for non-periodic problems
    model = build_model("fno", 2, 1, modes=(8, 4), padding=4)
    assert model(torch.randn(1, 2, 12, 9)).shape == (1, 1, 12, 9)
    with pytest.raises(ValueError, match="at least 12x4"):
        model(torch.randn(1, 2, 11, 9))


@pytest.mark.parametrize("size", [63, 65, 7])
def test_unet_pads_and_crops_sizes_not_divisible_by_2_pow_levels(size):
    torch.manual_seed(0)
    model = build_model("unet", 1, 1, levels=3)
    x = torch.randn(1, 1, size, size + 2)
    assert model(x).shape == (1, 1, size, size + 2)
    for pad_mode in ("zeros", "reflect", "circular"):
        assert build_model("unet", 1, 1, levels=3, pad_mode=pad_mode)(x).shape == x.shape


def test_ffn_without_sensors_is_pointwise():
    torch.manual_seed(0)
    model = build_model("ffn", 2, 1, sensors=0)
    x = torch.randn(1, 2, 16, 16)
    x2 = x.clone()
    x2[0, :, 5, 7] += 1.0
    with torch.no_grad():
        changed = (model(x2) - model(x)).abs()[0, 0] > 0
    assert changed[5, 7] and changed.sum() == 1


def test_ffn_sensors_give_a_global_receptive_field():
    torch.manual_seed(0)
    model = build_model("ffn", 2, 1)  # default: 8 x 8 sensors
    assert model.config["sensors"] == 8
    x = torch.randn(2, 2, 16, 16)
    x2 = x.clone()
    x2[0, :, 5, 7] += 1.0
    with torch.no_grad():
        diff = (model(x2) - model(x)).abs()
    assert (diff[0, 0] > 0).all()  # every output point of the perturbed sample changes
    assert torch.equal(diff[1], torch.zeros_like(diff[1]))  # the other sample does not


def test_fourier_features_layout_and_plain_coordinates():
    from pdeforge.baselines.deeponet import fourier_features

    coords = coordinate_grid(5, 4)  # (2, 5, 4)
    assert torch.equal(fourier_features(coords, 0, dim=0), coords)
    enc = fourier_features(coords, 3, dim=0)
    assert enc.shape == (2 + 4 * 3, 5, 4)
    x, y = coords
    assert torch.equal(enc[:2], coords)
    for k in range(1, 4):
        assert torch.allclose(enc[2 + (k - 1)], torch.sin(k * math.pi * x), atol=1e-6)
        assert torch.allclose(enc[2 + 3 + (k - 1)], torch.cos(k * math.pi * x), atol=1e-6)
        assert torch.allclose(enc[2 + 6 + (k - 1)], torch.sin(k * math.pi * y), atol=1e-6)
        assert torch.allclose(enc[2 + 9 + (k - 1)], torch.cos(k * math.pi * y), atol=1e-6)
    # channels-last layout gives the same numbers
    last = fourier_features(coords.permute(1, 2, 0), 3)
    assert torch.equal(last.permute(2, 0, 1), enc)
    with pytest.raises(ValueError):
        fourier_features(coords, -1, dim=0)


@pytest.mark.parametrize("name, config", [("deeponet", {"fourier_modes": 0}),
                                          ("ffn", {"sensors": 0, "fourier_modes": 0})])
def test_zero_fourier_modes_and_sensors_give_the_plain_models(name, config):
    # the plain-coordinate DeepONet trunk / pointwise FFN, with the parameter count of the
    # original definitions (2 -> 64 -> 64 -> 64 -> 32 trunk; 4 -> 64 -> 64 -> 64 -> 1 MLP)
    model = build_model(name, 2, 1, **config)
    expected = {"deeponet": 51465, "ffn": 8705}[name]
    assert count_parameters(model) == expected
    with torch.no_grad():
        assert model(torch.randn(2, 2, 20, 37)).shape == (2, 1, 20, 37)


def test_deeponet_trunk_sees_output_grid_coordinates():
    torch.manual_seed(0)
    model = build_model("deeponet", 2, 1)
    grid = coordinate_grid(4, 5)
    assert grid.shape == (2, 4, 5)
    assert torch.allclose(grid[0, :, 0], torch.linspace(0, 1, 4))
    assert torch.allclose(grid[1, 0, :], torch.linspace(0, 1, 5))
    # a constant input gives a spatially varying output (the trunk basis)
    with torch.no_grad():
        y = model(torch.ones(1, 2, 24, 24))
    assert y.std() > 0


@pytest.mark.parametrize("name", ALL_MODELS)
def test_full_config_builds_with_reasonable_size(name):
    torch.manual_seed(0)
    model = build_model(name, 2, 1, preset="full")
    n_full = count_parameters(model)
    n_default = count_parameters(build_model(name, 2, 1))
    assert 1e5 <= n_full <= 5e7, n_full
    assert n_default <= 3e5 and n_default < n_full
    with torch.no_grad():
        assert model(torch.randn(1, 2, 32, 32)).shape == (1, 1, 32, 32)


# --------------------------------------------------------------------------- determinism / gradients


@pytest.mark.parametrize("name", ALL_MODELS)
def test_same_seed_gives_identical_parameters(name):
    torch.manual_seed(123)
    a = build_model(name, 2, 1)
    torch.manual_seed(123)
    b = build_model(name, 2, 1)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # seed= gives the same parameters regardless of the global RNG and leaves it untouched
    torch.manual_seed(0)
    state = torch.get_rng_state()
    c = build_model(name, 2, 1, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    d = build_model(name, 2, 1, seed=7)
    e = build_model(name, 2, 1, seed=8)
    sc, sd, se = c.state_dict(), d.state_dict(), e.state_dict()
    assert all(torch.equal(sc[k], sd[k]) for k in sc)
    assert any(not torch.equal(sc[k], se[k]) for k in sc if sc[k].is_floating_point())


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_parameter_receives_a_gradient(name):
    torch.manual_seed(0)
    model = build_model(name, 2, 1)
    model(torch.randn(2, 2, 32, 32)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


# --------------------------------------------------------------------------- overfitting

# (learning rate, max Adam steps); training stops early once the loss is 20x below its start.
OVERFIT_SETTINGS = {
    "fno": (3e-3, 300),
    "unet": (3e-3, 400),
    "resnet": (3e-3, 300),
    "dilresnet": (3e-3, 300),
    "deeponet": (1e-2, 1000),
    "ffn": (1e-2, 400),
}


@pytest.mark.parametrize("name", ALL_MODELS)
def test_overfits_four_smooth_samples(name):
    lr, max_steps = OVERFIT_SETTINGS.get(name, (3e-3, 400))
    a = smooth_fields(4, 2, 32, kmax=2, seed=1)
    # fixed smooth nonlinear, mildly non-local function of the inputs
    y = gaussian_blur(torch.sin(a[:, :1]) * a[:, 1:] + 0.5 * a[:, :1], sigma=0.75)
    torch.manual_seed(0)
    model = build_model(name, 2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    with torch.no_grad():
        loss0 = relative_l2(model(a), y).item()
    for _ in range(max_steps):
        opt.zero_grad()
        loss = relative_l2(model(a), y)
        loss.backward()
        opt.step()
        if loss.item() < loss0 / 20:
            break
    with torch.no_grad():
        loss1 = relative_l2(model(a), y).item()
    assert loss1 <= loss0 / 10, f"{name}: relative L2 {loss0:.3f} -> {loss1:.4f}"


# --------------------------------------------------------------------------- FNO specifics


def _reference_spectral_conv(layer: SpectralConv2d, v: torch.Tensor) -> torch.Tensor:
    """Slow per-mode loop implementation, written independently of the einsum version."""
    b, c, nx, ny = v.shape
    m1, m2 = layer.modes
    w = torch.view_as_complex(layer.weight.detach())  # (in, out, 2*m1, m2)
    v_hat = torch.fft.rfft2(v)
    out_hat = torch.zeros(b, layer.out_channels, nx, ny // 2 + 1, dtype=v_hat.dtype)
    for kx in list(range(m1)) + list(range(-m1, 0)):
        row = kx % nx
        wrow = kx if kx >= 0 else 2 * m1 + kx
        for ky in range(m2):
            out_hat[:, :, row, ky] = v_hat[:, :, row, ky] @ w[:, :, wrow, ky]
    return torch.fft.irfft2(out_hat, s=(nx, ny))


@pytest.mark.parametrize("size", [(16, 16), (17, 24), (33, 20)])
def test_spectral_conv_matches_per_mode_reference(size):
    torch.manual_seed(0)
    layer = SpectralConv2d(3, 2, modes=(8, 5))
    v = torch.randn(2, 3, *size)
    with torch.no_grad():
        out = layer(v)
    assert out.shape == (2, 2, *size)
    assert torch.allclose(out, _reference_spectral_conv(layer, v), atol=1e-5)


def test_spectral_conv_commutes_with_subsampling():
    torch.manual_seed(0)
    layer = SpectralConv2d(2, 3, modes=8)
    fine = periodic_bandlimited(64, kmax=7)
    coarse = periodic_bandlimited(32, kmax=7)
    assert torch.allclose(fine[..., ::2, ::2], coarse, atol=1e-5)
    with torch.no_grad():
        out_fine, out_coarse = layer(fine), layer(coarse)
    err = (out_fine[..., ::2, ::2] - out_coarse).norm() / out_coarse.norm()
    assert err < 1e-5
    # and it really is a band-limited operator: high modes of the input are ignored
    x = torch.arange(64) / 64
    high = torch.cos(2 * math.pi * 20 * x)[None, None, :, None].expand(1, 2, 64, 64)
    with torch.no_grad():
        assert layer(high).abs().max() < 1e-4


def test_fno_same_weights_at_two_resolutions():
    torch.manual_seed(0)
    fine = periodic_bandlimited(64, kmax=2) / 3
    coarse = periodic_bandlimited(32, kmax=2) / 3
    for use_coords, tol in ((False, 2e-3), (True, 0.1)):
        torch.manual_seed(0)
        model = build_model("fno", 2, 1, use_coords=use_coords)
        with torch.no_grad():
            out_fine, out_coarse = model(fine), model(coarse)
        assert out_fine.shape == (2, 1, 64, 64) and out_coarse.shape == (2, 1, 32, 32)
        err = ((out_fine[..., ::2, ::2] - out_coarse).norm() / out_coarse.norm()).item()
        # without coordinates only the aliasing of the pointwise nonlinearity differs;
        # with them, the node grids linspace(0,1,64)[::2] and linspace(0,1,32) differ by O(1/n)
        assert err < tol, (use_coords, err)
