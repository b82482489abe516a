r"""Gaussian random fields on the unit square with a zero-Neumann cosine (DCT) expansion.

The field of the FNO Darcy-flow benchmark (Li et al. 2021, "Fourier Neural Operator for
Parametric PDEs"): ``g ~ N(0, C)`` with

    C = τ^(2α−2) (−Δ + τ² I)^(−α),        Δ = Laplacian on (0,1)² with zero Neumann data,

α = 2, τ = 3 (so C = 9 (−Δ + 9I)^(−2)), with the constant mode removed.

Spectral formula (the convention of the published generator ``data_generation/darcy/GRF.m``)
---------------------------------------------------------------------------------------------
The Neumann eigenfunctions, orthonormal in L²(0,1)², are

    φ_k(x, y) = c_{k1}(x) c_{k2}(y),   c_0(t) = 1,   c_k(t) = √2 cos(π k t)  (k ≥ 1),

with −Δ φ_k = π² |k|² φ_k, |k|² = k1² + k2². The Karhunen–Loève expansion, truncated to the
modes representable on an s-point grid, is

    g(x, y) = Σ_{k1, k2 = 0}^{s−1}  σ_k ξ_k φ_k(x, y),    ξ_k i.i.d. N(0, 1),

    σ_k = τ^(α−1) (π² |k|² + τ²)^(−α/2)   for k ≠ (0, 0),     σ_(0,0) = 0,

i.e. σ_k² is the eigenvalue of C on φ_k (for α = 2, τ = 3: σ_k = 3 / (π²|k|² + 9)). Setting
σ_(0,0) = 0 drops the mean mode, exactly as ``GRF.m`` does with ``L(1,1) = 0``; the
threshold ψ(g) = 12·[g ≥ 0] + 3·[g < 0] then splits the square into two phases of equal
expected area. Pointwise variance: Var g(x, y) = Σ_k σ_k² φ_k(x, y)²; for α = 2, τ = 3, s = 421
it is 0.026 at the centre, 0.22 at the corners (where all cosines peak) and 0.086 on average over
the nodes (:meth:`NeumannGRF.pointwise_variance`).

Evaluation points (``points``)
------------------------------
* ``"nodes"`` (default): the expansion evaluated exactly at the s nodes ``t_n = n / (s−1)``
  (both ends included), via a type-I DCT:
  ``g[n, m] = Σ_k A_k cos(π k1 n/(s−1)) cos(π k2 m/(s−1))`` with ``A_k = σ_k ξ_k w_{k1} w_{k2}``,
  ``w_0 = 1``, ``w_k = √2``. This is the field on the node grid the FD solver and the stored
  arrays use.
* ``"fno"``: ``GRF.m`` literally: ``U = idct2(s · σ ∘ ξ)`` (MATLAB's orthonormal inverse DCT-II,
  = ``scipy.fft.idctn(·, type=2, norm="ortho")``). Since ``s · w(k1) w(k2)`` with the orthonormal
  weights ``w(0) = 1/√s``, ``w(k) = √(2/s)`` equals the φ-normalisation, this is the same
  expansion evaluated at the cell centres ``t_n = (n + ½)/s`` (the points ``solve_gwf.m``
  assigns the coefficient to), not at the nodes.

Both modes use the same (s, s) array of ξ, indexed ``xi[k1, k2]`` (k1 along x = array axis 0).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

POINTS = ("nodes", "fno")


def kl_std(s: int, alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """σ_k = τ^(α−1) (π²|k|² + τ²)^(−α/2) for k1, k2 = 0..s−1, with σ_(0,0) = 0; shape (s, s)."""
    k = np.arange(s, dtype=float)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    sigma = tau ** (alpha - 1.0) * (np.pi**2 * k2 + tau**2) ** (-alpha / 2.0)
    sigma[0, 0] = 0.0
    return sigma


def eval_points(s: int, points: str = "nodes") -> np.ndarray:
    """Coordinates (along one axis) at which :class:`NeumannGRF` evaluates the field."""
    if points == "nodes":
        return np.arange(s, dtype=float) / (s - 1)
    if points == "fno":
        return (np.arange(s, dtype=float) + 0.5) / s
    raise ValueError(f"points must be one of {POINTS}, got {points!r}")


class NeumannGRF:
    """Sampler of the cosine-expansion GRF above on an s × s grid (see module docstring).

    ``sample(rng)`` draws ``xi = rng.standard_normal((s, s))`` and returns ``(s, s)`` values,
    axis 0 = x. ``synthesize(xi)`` is the deterministic map ξ → g.
    """

    def __init__(self, s: int, alpha: float = 2.0, tau: float = 3.0, points: str = "nodes"):
        if s < 2:
            raise ValueError(f"need at least 2 points per axis, got s = {s}")
        if points not in POINTS:
            raise ValueError(f"points must be one of {POINTS}, got {points!r}")
        self.s, self.alpha, self.tau, self.points = int(s), float(alpha), float(tau), points
        self.sigma = kl_std(self.s, self.alpha, self.tau)
        if points == "nodes":
            # dctn(type=1, norm="backward") computes y[n] = x[0] + (−1)^n x[s−1]
            #   + 2 Σ_{k=1}^{s−2} x[k] cos(π k n/(s−1)); to get Σ_k A_k cos(π k n/(s−1)) the
            # interior modes are halved. Combined with w_k = √2 (k ≥ 1): factor 1 for k = 0,
            # √2 for k = s−1, √2/2 = 1/√2 for 1 ≤ k ≤ s−2.
            w = np.full(self.s, 1.0 / np.sqrt(2.0))
            w[0] = 1.0
            w[-1] = np.sqrt(2.0)
            self._scale = self.sigma * w[:, None] * w[None, :]
        else:
            self._scale = self.s * self.sigma

    @property
    def coords(self) -> np.ndarray:
        return eval_points(self.s, self.points)

    def synthesize(self, xi: np.ndarray) -> np.ndarray:
        xi = np.asarray(xi, dtype=float)
        if xi.shape != (self.s, self.s):
            raise ValueError(f"xi must have shape ({self.s}, {self.s}), got {xi.shape}")
        if self.points == "nodes":
            return scipy.fft.dctn(self._scale * xi, type=1, norm="backward")
        return scipy.fft.idctn(self._scale * xi, type=2, norm="ortho")

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.synthesize(rng.standard_normal((self.s, self.s)))

    def pointwise_variance(self) -> np.ndarray:
        """Var g at the evaluation points: Σ_k σ_k² φ_k(x)² φ_k(y)², shape (s, s)."""
        t = self.coords
        k = np.arange(self.s)
        phi2 = 2.0 * np.cos(np.pi * k[:, None] * t[None, :]) ** 2  # (k, point)
        phi2[0] = 1.0
        return phi2.T @ (self.sigma**2) @ phi2
