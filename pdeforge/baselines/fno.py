"""Fourier Neural Operator (FNO) in two space dimensions.

Reference: Z. Li, N. Kovachki, K. Azizzadenesheli, B. Liu, K. Bhattacharya,
A. Stuart, A. Anandkumar, "Fourier Neural Operator for Parametric Partial
Differential Equations", ICLR 2021 (arXiv:2010.08895).

What it computes, for an input ``a`` of shape ``(batch, c_in, nx, ny)``::

    v_0     = P(a, x, y)                                  # pointwise lifting to `width` channels
    v_{l+1} = act( K_l v_l + W_l v_l )   l = 0 .. L-1     # no activation after the last layer
    u       = Q(v_L)                                      # pointwise 2-layer projection to c_out

``W_l`` is a pointwise (1x1) linear map and ``K_l`` the spectral convolution

    K_l v = irfft2( R_l . rfft2(v) )

where ``R_l`` is a learned complex tensor of shape ``(width, width, 2*m1, m2)``
acting on the retained low Fourier modes only: the rows ``k_x = 0..m1-1`` *and*
the negative-frequency rows ``k_x = -m1..-1`` of ``rfft2`` (both signs are
needed because only the ``y`` axis is one-sided in a real FFT), and the
columns ``k_y = 0..m2-1``.  All other modes are set to zero.  The per-mode
channel mixing of both row blocks is done by a single complex ``einsum``.

Because the FFT is un-normalised forward and ``1/N``-normalised backward, the
spectral layer acts on the *function* the grid samples, not on the grid: the
same weights can be applied at any resolution ``nx, ny >= 2*m`` and, for an
input band-limited to the retained modes, the layer commutes with
sub-sampling (resolution invariance / zero-shot super-resolution).
Coordinates ``(x, y)`` on ``[0, 1]^2`` are appended to the input channels as
in the original paper (``use_coords=True``).

``full_config`` is the common 2-D setting (width 64, 16 modes per direction,
4 Fourier layers, projection through 128 channels) used e.g. for the
ConDiff and PDEBench-style 2-D FNO baselines; the original paper's Darcy
model used width 32 and 12 modes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .common import BaselineModel, check_field_input, coordinate_grid, make_activation
from .registry import register_model

__all__ = ["SpectralConv2d", "FNO2d"]


def _pair(modes: Any) -> tuple[int, int]:
    if isinstance(modes, int) and not isinstance(modes, bool):
        pair = (modes, modes)
    else:
        pair = tuple(int(m) for m in modes)  # type: ignore[assignment]
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"modes must be a positive int or a pair of positive ints, got {modes!r}")
    return pair  # type: ignore[return-value]


class SpectralConv2d(nn.Module):
    """Spectral convolution ``v -> irfft2(R . rfft2(v))`` on the low ``modes``.

    ``modes = (m1, m2)`` keeps rows ``k_x in {-m1..m1-1}`` and columns
    ``k_y in {0..m2-1}`` of the real 2-D FFT.  The input grid must satisfy
    ``nx >= 2*m1`` and ``ny >= 2*m2`` (so the positive and negative row blocks
    do not overlap and every kept column exists).

    The complex weights are stored as a real parameter with a trailing
    dimension of size 2 (real, imaginary) so optimisers, gradient clipping and
    weight decay see ordinary real tensors; it is viewed as complex on use.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: Any) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.modes = _pair(modes)
        m1, m2 = self.modes
        # Complex Gaussian entries with E|R|^2 = 1 / in_channels, so a mode's
        # channel mix roughly preserves the variance of its coefficients.
        std = 1.0 / math.sqrt(2.0 * self.in_channels)
        self.weight = nn.Parameter(std * torch.randn(self.in_channels, self.out_channels, 2 * m1, m2, 2))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        b, c, nx, ny = v.shape
        m1, m2 = self.modes
        if nx < 2 * m1 or ny < 2 * m2:
            raise ValueError(
                f"SpectralConv2d with modes={self.modes} needs a grid of at least "
                f"{2 * m1}x{2 * m2} points, got {nx}x{ny}"
            )
        in_dtype = v.dtype
        if in_dtype in (torch.float16, torch.bfloat16):  # half-precision FFTs are restricted
            v = v.float()
        v_hat = torch.fft.rfft2(v)  # (b, c, nx, ny//2+1), complex
        low = torch.cat([v_hat[:, :, :m1, :m2], v_hat[:, :, nx - m1 :, :m2]], dim=2)
        weight = torch.view_as_complex(self.weight.to(v.dtype))
        mixed = torch.einsum("bixy,ioxy->boxy", low, weight)  # (b, out, 2*m1, m2)
        # Re-insert the two row blocks with zeros in between; irfft2's `s`
        # zero-pads the missing high k_y columns.
        gap = mixed.new_zeros(b, self.out_channels, nx - 2 * m1, m2)
        out_hat = torch.cat([mixed[:, :, :m1], gap, mixed[:, :, m1:]], dim=2)
        out = torch.fft.irfft2(out_hat, s=(nx, ny))
        return out.to(in_dtype)


@register_model("fno")
class FNO2d(BaselineModel):
    """2-D Fourier Neural Operator (Li et al., ICLR 2021).

    Config keys
    -----------
    width : int
        channels of the hidden representation ``v_l``.
    modes : int or (int, int)
        Fourier modes kept per direction (``m1`` rows of each sign, ``m2`` columns).
    n_layers : int
        number of Fourier layers ``L``.
    projection_channels : int
        hidden channels of the 2-layer pointwise projection ``Q``.
    activation : str
        nonlinearity (``"gelu"`` as in the paper).
    use_coords : bool
        append ``(x, y)`` on ``[0, 1]^2`` to the input channels before lifting.
    padding : int
        zero-pad this many cells at the high end of each axis before the
        Fourier layers and crop afterwards (the paper's trick for
        non-periodic problems; 0 disables it).  The minimum grid size then
        applies to the padded grid.
    """

    default_config = {
        "width": 16,
        "modes": 8,
        "n_layers": 4,
        "projection_channels": 32,
        "activation": "gelu",
        "use_coords": True,
        "padding": 0,
    }
    full_config = {
        "width": 64,
        "modes": 16,
        "n_layers": 4,
        "projection_channels": 128,
        "activation": "gelu",
        "use_coords": True,
        "padding": 0,
    }

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        cfg = self.config
        width = int(cfg["width"])
        self.modes = _pair(cfg["modes"])
        self.use_coords = bool(cfg["use_coords"])
        self.padding = int(cfg["padding"])
        if width < 1 or int(cfg["n_layers"]) < 1 or self.padding < 0:
            raise ValueError(f"fno: invalid config {cfg}")
        lift_in = c_in + (2 if self.use_coords else 0)
        self.lift = nn.Conv2d(lift_in, width, kernel_size=1)
        self.spectral = nn.ModuleList(
            SpectralConv2d(width, width, self.modes) for _ in range(int(cfg["n_layers"]))
        )
        self.pointwise = nn.ModuleList(
            nn.Conv2d(width, width, kernel_size=1) for _ in range(int(cfg["n_layers"]))
        )
        self.act = make_activation(cfg["activation"])
        self.project = nn.Sequential(
            nn.Conv2d(width, int(cfg["projection_channels"]), kernel_size=1),
            make_activation(cfg["activation"]),
            nn.Conv2d(int(cfg["projection_channels"]), c_out, kernel_size=1),
        )

    def min_grid_size(self) -> tuple[int, int]:
        """Smallest supported ``(nx, ny)`` (before the optional padding)."""
        m1, m2 = self.modes
        return max(1, 2 * m1 - self.padding), max(1, 2 * m2 - self.padding)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, "fno")
        b, _, nx, ny = a.shape
        min_x, min_y = self.min_grid_size()
        if nx < min_x or ny < min_y:
            raise ValueError(
                f"fno with modes={self.modes} (padding={self.padding}) needs a grid of at "
                f"least {min_x}x{min_y} points, got {nx}x{ny}"
            )
        if self.use_coords:
            grid = coordinate_grid(nx, ny, device=a.device, dtype=a.dtype)
            a = torch.cat([a, grid.unsqueeze(0).expand(b, -1, -1, -1)], dim=1)
        v = self.lift(a)
        if self.padding:
            v = F.pad(v, (0, self.padding, 0, self.padding))
        n_layers = len(self.spectral)
        for i, (spec, pw) in enumerate(zip(self.spectral, self.pointwise)):
            v = spec(v) + pw(v)
            if i < n_layers - 1:
                v = self.act(v)
        if self.padding:
            v = v[..., :nx, :ny]
        return self.project(v)
