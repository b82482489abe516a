"""DeepCFD's U-Net (Ribeiro et al. 2020, arXiv:2004.08826; their ``UNetEx``), registered as ``deepcfd``.

Architecture (as in the authors' code, re-implemented): one shared encoder of ``len(filters)``
blocks, each ``layers`` convolutions (kernel ``kernel_size``, 'same' padding, ReLU) followed by
2 × 2 max pooling *with indices*; **one decoder per output channel** (DeepCFD: Ux, Uy, p each have
their own), each mirroring the encoder: max-unpooling with the encoder's indices to the encoder's
size (so any nx, ny works, odd sizes like 172 × 79 included), concatenation with the encoder block's
output (skip), ``layers`` transposed convolutions ('same' padding, ReLU); the last layer of the
last block maps to one channel without activation. The decoders' outputs are stacked.
DeepCFD's published setting: kernel 5, filters [8, 16, 32, 32], 3 layers per block, no batch or
weight normalisation (their training script turns both off) — that is ``full_config``;
``default_config`` is a smaller one for tests (kernel 3, filters [8, 16], 2 layers).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .common import BaselineModel, check_field_input
from .registry import register_model


class _Encoder(nn.Module):
    def __init__(self, c_in: int, filters: list[int], k: int, layers: int):
        super().__init__()
        blocks = []
        prev = c_in
        for f in filters:
            mods: list[nn.Module] = []
            for i in range(layers):
                mods += [nn.Conv2d(prev if i == 0 else f, f, k, padding=k // 2), nn.ReLU()]
            blocks.append(nn.Sequential(*mods))
            prev = f
        self.blocks = nn.ModuleList(blocks)


class _Decoder(nn.Module):
    """Mirror of the encoder for one output channel (DeepCFD's create_decoder)."""

    def __init__(self, filters: list[int], k: int, layers: int):
        super().__init__()
        blocks = []
        for j in reversed(range(len(filters))):
            f = filters[j]
            out = 1 if j == 0 else filters[j - 1]
            mods: list[nn.Module] = []
            for i in range(layers):
                c_in = 2 * f if i == 0 else f
                c_out = out if i == layers - 1 else f
                mods.append(nn.ConvTranspose2d(c_in, c_out, k, padding=k // 2))
                if not (j == 0 and i == layers - 1):
                    mods.append(nn.ReLU())
            blocks.append(nn.Sequential(*mods))
        self.blocks = nn.ModuleList(blocks)


@register_model("deepcfd")
class DeepCFDUNet(BaselineModel):
    """DeepCFD's multi-decoder U-Net (module docstring). Config: ``kernel_size``, ``filters``, ``layers``."""

    default_config = {"kernel_size": 3, "filters": [8, 16], "layers": 2}
    full_config = {"kernel_size": 5, "filters": [8, 16, 32, 32], "layers": 3}

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        k, filters, layers = int(self.config["kernel_size"]), [int(f) for f in self.config["filters"]], int(self.config["layers"])
        if k < 1 or k % 2 == 0 or not filters or min(filters) < 1 or layers < 1:
            raise ValueError(f"deepcfd: invalid config {self.config} (odd kernel_size, filters >= 1, layers >= 1)")
        self.encoder = _Encoder(c_in, filters, k, layers)
        self.decoders = nn.ModuleList(_Decoder(filters, k, layers) for _ in range(c_out))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, "deepcfd")
        x = a
        skips, indices, sizes = [], [], []
        for block in self.encoder.blocks:
            x = block(x)
            skips.append(x)
            sizes.append(x.shape[-2:])
            x, ind = F.max_pool2d(x, 2, 2, return_indices=True)
            indices.append(ind)
        outs = []
        for dec in self.decoders:
            h = x
            for j, block in enumerate(dec.blocks):
                level = len(skips) - 1 - j
                h = F.max_unpool2d(h, indices[level], 2, 2, output_size=sizes[level])
                h = block(torch.cat([skips[level], h], dim=1))
            outs.append(h)
        return torch.cat(outs, dim=1)
