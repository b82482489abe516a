"""ns2d (FNO Navier–Stokes): exact solutions, incompressibility, time order, initial-field
spectrum, and the dataset spine end to end. Everything runs on small grids (< 30 s total)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import effective_card, generate_dataset
from pdeforge.errors import InvalidValueError
from pdeforge.generators.navier_stokes import NS2D, forcing, grf_std, sample_w0, wavenumbers

QUIET = dict(progress=False, log=lambda *a: None)
TINY = {"solve": "32", "store": "32,16", "viscosities": "1e-3", "final_times": "2", "dt": "0.01",
        "n_train": "2", "n_test": "1", "n_val": "0", "samples_per_shard": "1"}
PI = math.pi


def grid(n):
    x = np.arange(n) / n
    return np.meshgrid(x, x, indexing="ij")


def spectral_div_curl(u, n):
    """∂x u₁ + ∂y u₂ and ∂x u₂ − ∂y u₁ of real (2, n, n) fields, spectrally."""
    k1, k2 = (torch.as_tensor(2 * PI * k) for k in wavenumbers(n))
    h1, h2 = torch.fft.rfft2(u[0]), torch.fft.rfft2(u[1])
    div = torch.fft.irfft2(1j * k1 * h1 + 1j * k2 * h2, s=(n, n))
    curl = torch.fft.irfft2(1j * k1 * h2 - 1j * k2 * h1, s=(n, n))
    return div.numpy(), curl.numpy()


# --- exact solutions ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["heun", "euler"])
def test_taylor_green_decays_at_the_exact_rate(scheme):
    """w = 2k cos(kx) cos(ky), k = 2πm: u·∇w = 0, so w(t) = w(0) exp(−2νk²t) (−Δw = 2k² w)."""
    n, nu, dt, m = 32, 0.01, 1e-3, 2
    k = 2 * PI * m
    X, Y = grid(n)
    w0 = 2 * k * np.cos(k * X) * np.cos(k * Y)
    s = NS2D(n, nu, dt, None, scheme=scheme)
    frames = s.run(w0, 3, 1000)[0].numpy()
    a = 0.5 * dt * nu * 2 * k**2
    for t in range(4):
        # the discrete CN factor to round-off, the continuous rate to O(dt²) (~1e-6 here)
        np.testing.assert_allclose(frames[t], w0 * ((1 - a) / (1 + a)) ** (1000 * t), atol=1e-12 * abs(w0).max())
        np.testing.assert_allclose(frames[t], w0 * np.exp(-2 * nu * k**2 * t), atol=1e-5 * abs(w0).max())
    assert np.exp(-2 * nu * k**2 * 3) < 0.01  # the decay is substantial
    u = s.velocity(torch.as_tensor(w0)[None])[0].numpy()
    np.testing.assert_allclose(u[0], -np.cos(k * X) * np.sin(k * Y), atol=1e-13)
    np.testing.assert_allclose(u[1], np.sin(k * X) * np.cos(k * Y), atol=1e-13)


def test_advection_vanishes_on_one_wavenumber_shell():
    """Any field with a single |k| has ψ ∝ w, so u·∇w = J(ψ, w) = 0: the nonlinear term is round-off."""
    n = 32
    X, Y = grid(n)
    rng = np.random.default_rng(0)
    w = sum(rng.standard_normal() * np.cos(2 * PI * (a * X + b * Y) + rng.uniform(0, 2 * PI))
            for a, b in ((3, 4), (5, 0), (4, -3), (0, 5)))  # |k|² = 25
    s = NS2D(n, 1e-3, 1e-3)
    adv = torch.fft.irfft2(s.advection_hat(torch.fft.rfft2(torch.as_tensor(w))[None]), s=(n, n))
    assert adv.abs().max() < 1e-11 * np.abs(w).max() ** 2 * 2 * PI * 5


def test_forced_steady_state_is_f_over_nu_lambda():
    """f lives on k = ±(1, 1), |k|² = 2: w_s = f/(8π²ν) solves νΔw_s + f = 0 with u·∇w_s = 0.

    From w_s the scheme stays put to round-off; from rest, w = w_s (1 − exp(−8π²ν t)) exactly
    (the solution never leaves the shell)."""
    n, nu, dt = 32, 0.02, 0.01
    f = forcing(n, 0.1)
    ws = f / (8 * PI**2 * nu)
    s = NS2D(n, nu, dt, f)
    still = s.run(ws, 2, 100)[0].numpy()
    np.testing.assert_allclose(still, np.broadcast_to(ws, still.shape), atol=1e-13 * abs(ws).max())
    rise = s.run(np.zeros((n, n)), 4, 100)[0].numpy()
    lam = 8 * PI**2 * nu
    r = (1 - 0.5 * dt * lam) / (1 + 0.5 * dt * lam)
    for t in range(5):
        np.testing.assert_allclose(rise[t], ws * (1 - r ** (100 * t)), atol=1e-12 * abs(ws).max())
        np.testing.assert_allclose(rise[t], ws * (1 - np.exp(-lam * t)), atol=1e-5 * abs(ws).max())
    assert 1 - np.exp(-lam * 4) > 0.99


def test_velocity_is_divergence_free_and_its_curl_is_w():
    n = 32
    w = sample_w0(n, np.random.default_rng(1), grf_std(n))
    s = NS2D(n, 1e-3, 1e-3)
    u = s.velocity(torch.as_tensor(w)[None])[0]
    div, curl = spectral_div_curl(u, n)
    scale = np.abs(u.numpy()).max() * 2 * PI * n / 2
    assert np.abs(div).max() < 1e-13 * scale
    # curl u = w up to the mean (removed) and the Nyquist modes (derivatives zeroed there)
    k1, k2 = wavenumbers(n)
    keep = (np.abs(k1) < n // 2) & (np.abs(k2) < n // 2)
    w_ref = np.fft.irfft2(np.fft.rfft2(w) * keep, s=(n, n))
    np.testing.assert_allclose(curl, w_ref - w_ref.mean(), atol=1e-13 * scale)
    assert abs(w.mean()) < 1e-15


# --- time discretisation ------------------------------------------------------------------------


def _frames(n, nu, T, dt, scheme, w0):
    return NS2D(n, nu, dt, forcing(n), scheme=scheme).run(w0, T, round(1 / dt))[0].numpy()


def test_time_convergence_second_order():
    """Heun + CN is 2nd order: on the ν = 1e-4 problem with an O(1) vorticity (10 w0; std 1.7,
    like the late frames), 64², 1 time unit, halving dt from 5e-3 to 2.5e-3 to 1.25e-3 shrinks the
    frame differences by ≈ 4, and the stated tolerance holds: halving the default dt = 2.5e-3
    changes the frames by < 5e-4 relative to max|w| (measured 3.1e-4 here; 2.9e-4 over all 31
    frames of a T = 30 run at the default 128² grid).

    Euler + CN (FNO's scheme) is 1st order; it needs much smaller steps (explicit Euler
    amplifies advected modes: 10 w0 at dt = 5e-3 blows up), so it is checked on 32²."""
    n, nu, T = 64, 1e-4, 1
    w0 = 10 * sample_w0(n, np.random.default_rng(3), grf_std(n))
    heun = [_frames(n, nu, T, dt, "heun", w0) for dt in (5e-3, 2.5e-3, 1.25e-3)]
    scale = np.abs(heun[-1]).max()
    d = [np.abs(a - b).max() / scale for a, b in zip(heun, heun[1:])]
    order = np.log2(d[0] / d[1])
    assert 1.8 < order < 2.2, (d, order)
    assert d[1] < 5e-4, d

    n = 32
    w0 = 10 * sample_w0(n, np.random.default_rng(3), grf_std(n))
    euler = [_frames(n, nu, T, dt, "euler", w0) for dt in (1e-3, 5e-4, 2.5e-4)]
    e = [np.abs(a - b).max() for a, b in zip(euler, euler[1:])]
    assert 0.8 < np.log2(e[0] / e[1]) < 1.2, e
    ref = _frames(n, nu, T, 1.25e-3, "heun", w0)
    assert np.abs(euler[-1] - ref).max() < 3 * e[-1]  # same limit (Euler's error ≈ e[-1])


# --- initial field --------------------------------------------------------------------------------


def test_grf_std_is_the_fno_formula():
    s = grf_std(8)
    assert s[0, 0] == 0
    # σ (4π²|k|² + τ²)^(−α/2), σ = τ^(α−1) = 7^1.5, k = (1, 2) and k = (−3, 0)
    np.testing.assert_allclose(s[1, 2], 7**1.5 * (4 * PI**2 * 5 + 49) ** -1.25, rtol=1e-14)
    np.testing.assert_allclose(s[-3, 0], 7**1.5 * (4 * PI**2 * 9 + 49) ** -1.25, rtol=1e-14)
    np.testing.assert_allclose(grf_std(8, 2.0, 3.0, sigma=1.0)[2, 1], (4 * PI**2 * 5 + 9) ** -1.0, rtol=1e-14)


def test_initial_field_spectrum_matches_the_covariance():
    """Fourier coefficients ŵ_k (on exp(2πik·x)) have variance μ_k = σ²(4π²|k|²+τ²)^(−α)."""
    n, m = 16, 2000
    std = grf_std(n)
    rng = np.random.default_rng(11)
    w = np.stack([sample_w0(n, rng, std) for _ in range(m)])
    c = np.fft.rfft2(w) / n**2
    assert np.abs(c[:, 0, 0]).max() < 1e-15
    ratio = (np.abs(c) ** 2).mean(axis=0)[std > 0] / std[std > 0] ** 2
    # each ratio averages m χ²(1 or 2 dof) variables: std ≤ sqrt(2/m) = 0.032; 5 sigma
    assert np.abs(ratio - 1).max() < 5 * np.sqrt(2 / m), ratio
    assert abs(ratio.mean() - 1) < 5 * np.sqrt(2 / m / ratio.size)
    # pointwise variance = Σ over all (full-grid) modes of μ_k
    k1, k2 = np.meshgrid(np.fft.fftfreq(n, 1 / n), np.fft.fftfreq(n, 1 / n), indexing="ij")
    mu = 7**3 * (4 * PI**2 * (k1**2 + k2**2) + 49) ** -2.5
    mu[0, 0] = 0
    assert abs(w.var(axis=0).mean() / mu.sum() - 1) < 0.03


# --- the family on the dataset spine ------------------------------------------------------------


def test_card_defaults_and_fno_protocol():
    card, family = effective_card("ns2d")
    names = [c.name for c in family.configs(card)]
    assert names == ["nu1e-3_T50_s64_solve128", "nu1e-4_T30_s64_solve128", "nu1e-5_T20_s64_solve128"]
    assert card.get("task.inputs") == card.get("task.targets") == ["w"]
    c = family.configs(card)[0]
    coords = family.coords(card, c)
    np.testing.assert_array_equal(coords["t"].values, np.arange(51.0))
    np.testing.assert_array_equal(coords["x"].values, np.arange(64) / 64)
    fno, _ = effective_card("ns2d", {"protocol": "fno"})
    assert fno.get("grid.solve") == 256 and fno.get("solver.dt") == 1e-4 and fno.get("solver.scheme") == "euler"
    with pytest.raises(InvalidValueError, match="does not divide"):
        effective_card("ns2d", {"store": "48"})
    with pytest.raises(InvalidValueError, match="dt"):
        effective_card("ns2d", {"dt": "0.3"})
    # device and batch do not change the content
    other, _ = effective_card("ns2d", {"batch": "8", "device": "cuda"})
    assert family.content_key(other, family.configs(other)[0]) == family.content_key(card, c)


def test_batched_generation_is_bit_identical_to_one_at_a_time():
    """On CPU the card's batch and the torch thread count are ignored (MKL FFTs round differently
    for other batch sizes and thread counts): a generated range equals one-sample regenerations
    bit for bit."""
    card, family = effective_card("ns2d", {**TINY, "batch": "3"})
    config = family.configs(card)[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the generator runs single-threaded on CPU regardless
    try:
        batched = family.generate(card, config, "train", 0, 3)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    for i in range(3):
        one = family.regenerate(card, config, "train", i, {})
        for v in ("w", "cfl"):
            assert np.array_equal(one[v], batched[v][i]), v


@pytest.fixture(scope="module")
def tiny_ns(tmp_path_factory):
    root = tmp_path_factory.mktemp("ns2d")
    generate_dataset("ns2d", TINY, root=root, workers=1, **QUIET)
    return root


def test_stored_frames_and_rollout_loader(tiny_ns):
    """(check, verify, rerun and worker identity: tests/test_family_contract.py)"""
    from pdeforge import open_dataset

    assert len(sorted(Path(tiny_ns).rglob("shard-*.nc"))) == 2 * (2 + 1)

    fine = open_dataset("ns2d", config="nu1e-3_T2_s32", split="train", root=tiny_ns)
    coarse = open_dataset("ns2d", config="nu1e-3_T2_s16_solve32", split="train", root=tiny_ns)
    assert fine["w"].dims == ("sample", "t", "x", "y") and fine["w"].shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(fine["t"].values, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(fine["w"].values[:, :, ::2, ::2], coarse["w"].values)
    assert fine.attrs["viscosity"] == 1e-3 and "sin(2 pi (x + y))" in fine.attrs["forcing"]
    assert np.all(fine["cfl"].values < 1)

    ds = TorchDataset("ns2d", config="nu1e-3_T2_s32", root=tiny_ns, mode="rollout", history=1,
                      horizon=1, normalize=False)
    assert ds.n_windows == 2 and len(ds) == 4
    x, y = ds[1]  # sample 0, window 1: frame 1 -> frame 2
    assert tuple(x.shape) == (1, 32, 32) and tuple(y.shape) == (1, 32, 32)
    np.testing.assert_array_equal(x.numpy()[0], fine["w"].values[0, 1].astype(x.numpy().dtype))
    np.testing.assert_array_equal(y.numpy()[0], fine["w"].values[0, 2].astype(y.numpy().dtype))
    normed = TorchDataset("ns2d", config="nu1e-3_T2_s32", root=tiny_ns, mode="rollout", history=1, horizon=1)
    assert tuple(normed[0][0].shape) == (1, 32, 32)
