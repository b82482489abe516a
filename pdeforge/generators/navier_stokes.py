r"""2-D incompressible Navier–Stokes in vorticity form on the periodic unit torus (FNO setup).

    ∂t w + u·∇w = ν Δw + f,   ∇·u = 0,   w = ∇×u = ∂x u₂ − ∂y u₁,   (x, y) ∈ [0, 1)² periodic

Li et al. (2021), "Fourier Neural Operator for Parametric PDEs", section 5.3:

* **Forcing** f(x, y) = 0.1 (sin 2π(x + y) + cos 2π(x + y)) (card ``forcing.amplitude``). It
  lives on the wave vectors ±(1, 1) only. Not stored as a variable (every data variable must
  carry the ``sample`` dim); the formula is the shard attr ``forcing``.
* **Initial vorticity** w₀ ~ N(0, C), C = σ² (−Δ + τ² I)^(−α), α = 2.5, τ = 7,
  σ = τ^(α − 1) = 7^(3/2) (card ``field``), mean mode removed. This is what FNO's published
  ``GaussianRF(2, s, alpha=2.5, tau=7)`` draws (its σ = 7^(3/2) multiplies the *square root* of
  the eigenvalues, so the covariance carries 7³; the paper writes the factor 7^(3/2)). On the
  orthonormal Fourier modes e_k = exp(2πi k·x) the coefficients are independent with
  E|ŵ_k|² = μ_k = σ² (4π²|k|² + τ²)^(−α), μ₀ = 0. Synthesised exactly on the solve grid from
  real white noise ξ (numpy, per-sample seed): w₀ = N · irfft2(√μ · rfft2(ξ)) (Nyquist
  coefficients are real with variance μ_k).
* **Velocity** from the stream function: −Δψ = w (ψ̂ = ŵ / (4π²|k|²), ψ̂₀ = 0), u = (∂y ψ, −∂x ψ);
  divergence-free and curl u = w to round-off (spectral derivatives).
* **Space**: pseudo-spectral on the N × N grid x_i = i/N (card ``grid.solve``); the advection term
  u·∇w is formed in physical space from spectral derivatives and its transform is truncated
  by the 2/3 rule (modes with 3|k₁| ≥ N or 3|k₂| ≥ N set to 0; FNO's square mask). Only the
  nonlinear term is truncated: w₀ is stored and evolved untruncated (high modes then just
  diffuse), as FNO does.
* **Time**: Crank–Nicolson for ν Δw, the advection term explicit (card ``solver.scheme``):

  - ``"heun"`` (default, 2nd order): predictor w* = CN step with N(wⁿ); corrector
    wⁿ⁺¹ = [(1 − a) wⁿ + Δt (N(wⁿ) + N(w*))/2 + Δt f̂] / (1 + a), a = ½ Δt ν 4π²|k|², where
    N = −(u·∇w)^ dealiased. Two nonlinear evaluations per step.
  - ``"euler"`` (FNO's published solver, 1st order in time): wⁿ⁺¹ = [(1 − a) wⁿ + Δt N(wⁿ) + Δt f̂] / (1 + a).

  Frames every ``time.frame_dt`` = 1 from t = 0 to T (T + 1 frames, frame 0 = w₀).
* **Stored grid** (``grid.store``): every r-th point of the solve grid, r = solve/store, so the
  stored coordinates are x_i = i/store (periodic, no end point).
* **Protocols.** FNO: solve 256², Δt = 1e-4, scheme ``euler`` (override ``protocol=fno``; meant
  for a GPU). Default (CPU): solve 128², Δt = 2.5e-3, scheme ``heun``. Justification (one w₀,
  128², all frames, max |difference| / max|w|): halving Δt from 2.5e-3 to 1.25e-3 changes the
  frames by 9.7e-7 (ν = 1e-3, T = 50), 2.9e-4 (ν = 1e-4, T = 30), 5.6e-4 (ν = 1e-5, T = 20);
  the step 5e-3 → 2.5e-3 changes them 4.0× as much in all three (observed order 2.00). Stated
  tolerance: < 1e-3 (``tests/test_ns2d.py`` checks < 5e-4 and order 2 ± 0.2 on a 64² case).
  For comparison Euler + CN is 1st order; its Δt-halving differences are 1.2e-3 at Δt = 2.5e-4
  (32², 10 w₀, 1 time unit), so FNO's Δt = 1e-4 carries a time error of the same size as the
  default's at 1/25 of the steps. Max CFL (Δt·N·(max|u₁|+max|u₂|)) at the default: 0.12–0.22.

Seeds: sample i of (split, solve grid) draws w₀ from
``sample_seedseq(master_seed, f"ns2d_solve{N}", split, i)``: every viscosity and every stored
resolution of one solve grid share their initial fields.

Torch, float64 by default (card ``solver.dtype``), on ``solver.device`` (``"cpu"``, ``"cuda"``,
…), ``solver.batch`` trajectories at a time along a leading batch dim (GPU only: MKL's CPU FFTs
round differently for different batch sizes and thread counts, so on CPU trajectories run one
at a time on one torch thread, which keeps every sample bit-identical to its regeneration;
batching measured no faster on CPU, and parallelism comes from the runner's worker processes). On a
GPU, samples of a batch need not be bit-identical to a one-sample regeneration (cuFFT), so
``verify(regenerate=…)`` of GPU-made data may report last-bit differences.

Stored variables (``w[s, n, i, j] = w(t[n], x[i], y[j])``, x = array axis 0):

=========  ============  ===================================================================
``w``      (t, x, y)     vorticity at the frame times, frame 0 = w₀ (target; rollout input)
``cfl``    ()            max over the frames of Δt·N·(max|u₁| + max|u₂|) (diagnostic)
=========  ============  ===================================================================

The card's task is rollout: ``inputs = targets = ["w"]``; ``TorchDataset(..., mode="rollout",
history=H, horizon=F)`` serves x = frames t−H+1..t, y = frames t+1..t+F, (T + 1) − H − F + 1
windows per trajectory (the first window starts at w₀).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pdeforge.errors import UnknownNameError


#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
SCHEMES = ("heun", "euler")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
MAX_SOLVE = 4096
FNO_PROTOCOL = {"grid.solve": 256, "solver.dt": 1e-4, "solver.scheme": "euler"}


# --- spectral operators ---------------------------------------------------------------------


def wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer wave numbers (k1, k2) of the ``rfft2`` layout of an n × n grid, shape (n, n//2+1)."""
    k1 = np.fft.fftfreq(n, 1.0 / n)
    k2 = np.fft.rfftfreq(n, 1.0 / n)
    return np.meshgrid(k1, k2, indexing="ij")


def grf_std(n: int, alpha: float = 2.5, tau: float = 7.0, sigma: float | None = None) -> np.ndarray:
    """√μ_k = σ (4π²|k|² + τ²)^(−α/2) on the rfft2 layout, μ₀ = 0; σ = τ^(α−1) by default."""
    sigma = tau ** (alpha - 1.0) if sigma is None else float(sigma)
    k1, k2 = wavenumbers(n)
    s = sigma * (4.0 * math.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    s[0, 0] = 0.0
    return s


def sample_w0(n: int, rng: np.random.Generator, std: np.ndarray) -> np.ndarray:
    """One initial vorticity on the n × n grid: n · irfft2(√μ · rfft2(ξ)), ξ real white noise."""
    xi = rng.standard_normal((n, n))
    return n * np.fft.irfft2(std * np.fft.rfft2(xi), s=(n, n))


def forcing(n: int, amplitude: float = 0.1) -> np.ndarray:
    """f(x_i, y_j) = A (sin 2π(x+y) + cos 2π(x+y)) at x_i = i/n."""
    x = np.arange(n) / n
    s = 2.0 * math.pi * (x[:, None] + x[None, :])
    return amplitude * (np.sin(s) + np.cos(s))


class NS2D:
    """Pseudo-spectral CN/explicit stepper for batches of vorticity fields (see module doc).

    ``step_frames(w0, n_frames)`` returns real-space frames (B, n_frames + 1, n, n), frame 0 = w0.
    """

    def __init__(self, n: int, nu: float, dt: float, forcing: np.ndarray | None = None,
                 scheme: str = "heun", device: str = "cpu", dtype: torch.dtype = torch.float64):
        if scheme not in SCHEMES:
            raise UnknownNameError("time scheme", scheme, SCHEMES)
        if n < 4 or n % 2:
            raise ValueError(f"grid must be even and >= 4, got {n}")
        self.n, self.nu, self.dt, self.scheme = int(n), float(nu), float(dt), scheme
        self.device, self.dtype = torch.device(device), dtype
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        k1, k2 = wavenumbers(n)
        lam = 4.0 * math.pi**2 * (k1**2 + k2**2)  # eigenvalues of −Δ
        inv = np.zeros_like(lam)
        inv[lam > 0] = 1.0 / lam[lam > 0]
        tp = 2.0 * math.pi
        # ŵ ↦ (û₁, û₂, ∂x ŵ, ∂y ŵ): u₁ = ∂y ψ, u₂ = −∂x ψ, ψ̂ = ŵ/λ
        # derivatives are zeroed on the Nyquist row/column (no real-valued derivative there)
        no_nyq = (np.abs(k1) < n // 2) & (k2 < n // 2)
        ops = np.stack([1j * tp * k2 * inv, -1j * tp * k1 * inv, 1j * tp * k1, 1j * tp * k2]) * no_nyq
        mask = (3 * np.abs(k1) < n) & (3 * np.abs(k2) < n)
        a = 0.5 * dt * nu * lam
        t = lambda arr, dt_=dtype: torch.as_tensor(arr, dtype=dt_, device=self.device)
        self.ops = t(ops, cdtype)
        self.ops_vel = t(ops[:2], cdtype)
        self.mask = t(mask.astype(float))
        self.am = t(1.0 - a)
        self.ap_inv = t(1.0 / (1.0 + a))
        f = np.zeros((n, n)) if forcing is None else np.asarray(forcing, dtype=float)
        self.f_hat = torch.fft.rfft2(t(f))

    # --- pieces -----------------------------------------------------------------------------
    def advection_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """Dealiased transform of u·∇w for a batch ŵ of shape (B, n, n//2+1)."""
        q = torch.fft.irfft2(w_hat.unsqueeze(1) * self.ops, s=(self.n, self.n))
        prod = q[:, 0] * q[:, 2] + q[:, 1] * q[:, 3]
        return torch.fft.rfft2(prod) * self.mask

    def velocity(self, w: torch.Tensor) -> torch.Tensor:
        """(B, 2, n, n) velocity (u₁, u₂) of real-space vorticities (B, n, n)."""
        w_hat = torch.fft.rfft2(w)
        return torch.fft.irfft2(w_hat.unsqueeze(1) * self.ops_vel, s=(self.n, self.n))

    def step(self, w_hat: torch.Tensor) -> torch.Tensor:
        dt = self.dt
        rhs0 = self.f_hat - self.advection_hat(w_hat)
        base = self.am * w_hat
        pred = (base + dt * rhs0) * self.ap_inv
        if self.scheme == "euler":
            return pred
        rhs1 = self.f_hat - self.advection_hat(pred)
        return (base + (0.5 * dt) * (rhs0 + rhs1)) * self.ap_inv

    def run(self, w0: torch.Tensor | np.ndarray, n_frames: int, steps_per_frame: int,
            with_cfl: bool = False):
        """Frames (B, n_frames+1, n, n) at t = k·steps_per_frame·dt; optional max CFL per sample."""
        w0 = torch.as_tensor(np.asarray(w0) if isinstance(w0, np.ndarray) else w0,
                             dtype=self.dtype, device=self.device)
        if w0.ndim == 2:
            w0 = w0[None]
        B = w0.shape[0]
        out = torch.empty((B, n_frames + 1, self.n, self.n), dtype=self.dtype, device=self.device)
        out[:, 0] = w0
        cfl = torch.zeros(B, dtype=self.dtype, device=self.device)
        w_hat = torch.fft.rfft2(w0)

        def frame_cfl(w):
            u = self.velocity(w)
            return self.dt * self.n * u.abs().amax(dim=(-2, -1)).sum(dim=1)

        if with_cfl:
            cfl = torch.maximum(cfl, frame_cfl(w0))
        for k in range(n_frames):
            for _ in range(steps_per_frame):
                w_hat = self.step(w_hat)
            out[:, k + 1] = torch.fft.irfft2(w_hat, s=(self.n, self.n))
            if with_cfl:
                cfl = torch.maximum(cfl, frame_cfl(out[:, k + 1]))
        return (out, cfl) if with_cfl else out
