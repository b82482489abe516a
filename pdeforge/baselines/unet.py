"""2-D U-Net for field-to-field regression.

Reference: O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks
for Biomedical Image Segmentation", MICCAI 2015 (arXiv:1505.04597); used as a
PDE surrogate baseline e.g. in Gupta & Brandstetter, "Towards Multi-spatiotemporal-scale
Generalized PDE Modeling" (PDEArena, 2022) and PDEBench (Takamoto et al., 2022).

What it computes: an encoder of ``levels`` stages, each a 2x2 max-pool
followed by a double ``conv3x3 -> norm -> activation`` block that doubles the
channel count (``base_channels * 2**k`` at level ``k``), and a symmetric
decoder whose stages up-sample with a stride-2 transposed convolution,
concatenate the encoder features of the same resolution (skip connection) and
apply another double conv block.  A final 1x1 convolution maps to ``c_out``.

Grids whose sizes are not divisible by ``2**levels`` (e.g. 63 or 65) are
padded up to the next multiple (``pad_mode``, split as evenly as possible
between both sides) and the output is cropped back to ``nx x ny``.

``full_config`` is the classic 4-level U-Net with 32 base channels
(32-64-128-256 channels, 512 at the bottleneck), about 7.8 M parameters for
one input and one output field.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .common import BaselineModel, check_field_input, make_activation, make_norm
from .registry import register_model

__all__ = ["UNet2d", "ConvBlock"]

_PAD_MODES = ("replicate", "reflect", "circular", "zeros")


class ConvBlock(nn.Sequential):
    """``(conv3x3 -> norm -> activation) x 2``."""

    def __init__(
        self, c_in: int, c_out: int, norm: str, activation: str, padding_mode: str
    ) -> None:
        layers: list[nn.Module] = []
        for k in range(2):
            layers += [
                nn.Conv2d(
                    c_in if k == 0 else c_out,
                    c_out,
                    kernel_size=3,
                    padding=1,
                    padding_mode=padding_mode,
                    bias=(norm == "none"),  # a norm layer makes the bias redundant
                ),
                make_norm(norm, c_out),
                make_activation(activation),
            ]
        super().__init__(*layers)


@register_model("unet")
class UNet2d(BaselineModel):
    """2-D U-Net (Ronneberger et al., 2015).

    Config keys
    -----------
    base_channels : int
        channels after the first block; level ``k`` has ``base_channels * 2**k``.
    levels : int
        number of down-sampling steps (the bottleneck is ``2**levels`` times coarser).
    norm : str
        ``"group"`` (default), ``"batch"``, ``"instance"``, ``"layer"`` or ``"none"``.
    activation : str
        nonlinearity after every convolution.
    padding_mode : str
        padding of the 3x3 convolutions, ``"zeros"`` or ``"circular"`` (periodic data).
    pad_mode : str
        how the input is padded to a multiple of ``2**levels``:
        ``"replicate"``, ``"reflect"``, ``"circular"`` or ``"zeros"``.
    """

    default_config = {
        "base_channels": 8,
        "levels": 2,
        # no normalisation: with GroupNorm after every conv and no identity path, each sample's
        # feature amplitudes are normalised away while u is linear in f; on ConDiff poisson grid 64
        # (30 epochs) test rel-L2 was 0.59 with "group" (also with 3 or 4 levels, or average
        # pooling), 0.34 with "none", 0.32 with "batch" (but erratic val curves)
        "norm": "none",
        "activation": "gelu",
        "padding_mode": "zeros",
        "pad_mode": "replicate",
    }
    full_config = {
        "base_channels": 32,
        "levels": 4,
        "norm": "group",
        "activation": "gelu",
        "padding_mode": "zeros",
        "pad_mode": "replicate",
    }

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        cfg = self.config
        base = int(cfg["base_channels"])
        self.levels = int(cfg["levels"])
        if base < 1 or self.levels < 0:
            raise ValueError(f"unet: invalid config {cfg}")
        if cfg["pad_mode"] not in _PAD_MODES:
            raise ValueError(f"unet: pad_mode must be one of {list(_PAD_MODES)}, got {cfg['pad_mode']!r}")
        if cfg["padding_mode"] not in ("zeros", "circular", "replicate", "reflect"):
            raise ValueError(f"unet: invalid padding_mode {cfg['padding_mode']!r}")
        norm, act, pmode = cfg["norm"], cfg["activation"], cfg["padding_mode"]
        chans = [base * 2**k for k in range(self.levels + 1)]
        self.inc = ConvBlock(c_in, chans[0], norm, act, pmode)
        self.down = nn.ModuleList(
            ConvBlock(chans[k], chans[k + 1], norm, act, pmode) for k in range(self.levels)
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[k + 1], chans[k], kernel_size=2, stride=2)
            for k in reversed(range(self.levels))
        )
        self.up_blocks = nn.ModuleList(
            ConvBlock(2 * chans[k], chans[k], norm, act, pmode) for k in reversed(range(self.levels))
        )
        self.out = nn.Conv2d(chans[0], c_out, kernel_size=1)

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        mult = 2**self.levels
        nx, ny = x.shape[-2:]
        px, py = (-nx) % mult, (-ny) % mult
        pads = (py // 2, py - py // 2, px // 2, px - px // 2)  # (left, right, top, bottom)
        if px == 0 and py == 0:
            return x, pads
        mode = self.config["pad_mode"]
        if mode == "zeros":
            return F.pad(x, pads), pads
        if mode == "reflect" and (max(pads[:2]) >= ny or max(pads[2:]) >= nx):
            mode = "replicate"  # reflect needs pad < size; fall back on tiny grids
        if mode == "circular" and (max(pads[:2]) > ny or max(pads[2:]) > nx):
            mode = "replicate"
        return F.pad(x, pads, mode=mode), pads

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, "unet")
        nx, ny = a.shape[-2:]
        x, (left, _, top, _) = self._pad(a)
        h = self.inc(x)
        skips = [h]
        for block in self.down:
            h = block(F.max_pool2d(h, 2))
            skips.append(h)
        skips.pop()  # the bottleneck is not a skip
        for up, block in zip(self.up, self.up_blocks):
            h = up(h)
            h = block(torch.cat([skips.pop(), h], dim=1))
        out = self.out(h)
        return out[..., top : top + nx, left : left + ny]
