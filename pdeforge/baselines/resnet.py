"""Residual CNNs without down-sampling: ``resnet`` and dilated ``dilresnet``.

References:
  K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
  Recognition", CVPR 2016 (residual blocks);
  K. Stachenfeld, D. B. Fielding, D. Kochkov, M. Cranmer, T. Pfaff, J. Godwin,
  C. Cui, S. Ho, P. Battaglia, A. Sanchez-Gonzalez, "Learned Coarse Models
  for Efficient Turbulence Simulation", ICLR 2022 (arXiv:2112.15275)
  (the dilated ResNet, "Dil-ResNet");
  J. K. Gupta, J. Brandstetter, "Towards Multi-spatiotemporal-scale
  Generalized PDE Modeling" (PDEArena), 2022 (ResNet / DilResNet baselines at
  128 channels).

What it computes: an encoder ``conv3x3: c_in -> hidden_channels``, then
``len(dilations)`` residual blocks operating at full resolution, then a
decoder ``conv3x3: hidden_channels -> c_out``.  Block ``b`` with dilation
list ``(d_1, ..., d_k)`` computes

    h <- h + f_b(h),   f_b = conv_{d_k} o norm ... o act o norm o conv_{d_1}

i.e. ``k`` 3x3 convolutions with dilations ``d_i`` (padding ``d_i`` keeps the
grid size), each followed by the norm and, except for the last one, the
activation.  Any grid size works.

* ``resnet``: blocks of two undilated convolutions (``(1, 1)``); the full
  config is PDEArena's ResNet with 128 channels and 8 blocks (~2.4 M
  parameters).
* ``dilresnet``: blocks of seven convolutions with dilations
  ``(1, 2, 4, 8, 4, 2, 1)``, which grow the receptive field to ~ 2*(1+2+4+8+4+2+1)
  = 44 cells per block; the full config is 4 such blocks, as in Stachenfeld
  et al. (who used 48 channels) and PDEArena (128 channels, used here,
  ~4.1 M parameters).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .common import BaselineModel, check_field_input, make_activation, make_norm
from .registry import register_model

__all__ = ["ResNet2d", "DilatedResNet2d", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """``h + f(h)`` with ``f`` a stack of dilated 3x3 conv -> norm (-> act) layers."""

    def __init__(
        self,
        channels: int,
        dilations: Sequence[int],
        norm: str,
        activation: str,
        padding_mode: str,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, d in enumerate(dilations):
            d = int(d)
            if d < 1:
                raise ValueError(f"dilations must be positive ints, got {list(dilations)}")
            layers.append(
                nn.Conv2d(
                    channels,
                    channels,
                    kernel_size=3,
                    padding=d,
                    dilation=d,
                    padding_mode=padding_mode,
                    bias=(norm == "none"),
                )
            )
            layers.append(make_norm(norm, channels))
            if i < len(dilations) - 1:
                layers.append(make_activation(activation))
        self.body = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class ResNet2d(BaselineModel):
    """Full-resolution residual CNN with configurable per-block dilations.

    Config keys
    -----------
    hidden_channels : int
        channels inside the network.
    dilations : sequence of sequences of int
        one inner sequence per residual block, listing the dilation of each
        of its 3x3 convolutions.
    norm : str
        ``"group"`` (default), ``"batch"``, ``"instance"``, ``"layer"`` or ``"none"``.
    activation : str
        nonlinearity inside the blocks and after the encoder.
    padding_mode : str
        ``"zeros"`` or ``"circular"`` (periodic data), also ``"replicate"``/``"reflect"``.
    """

    default_config = {
        "hidden_channels": 16,
        "dilations": ((1, 1), (1, 1), (1, 1)),
        "norm": "group",
        "activation": "gelu",
        "padding_mode": "zeros",
    }
    full_config = {
        "hidden_channels": 128,
        "dilations": ((1, 1),) * 8,
        "norm": "group",
        "activation": "gelu",
        "padding_mode": "zeros",
    }

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        cfg = self.config
        hidden = int(cfg["hidden_channels"])
        dilations = [tuple(int(d) for d in block) for block in cfg["dilations"]]
        if hidden < 1 or any(len(block) == 0 for block in dilations):
            raise ValueError(f"{self.model_name}: invalid config {cfg}")
        pmode = cfg["padding_mode"]
        if pmode not in ("zeros", "circular", "replicate", "reflect"):
            raise ValueError(f"{self.model_name}: invalid padding_mode {pmode!r}")
        self.encoder = nn.Sequential(
            nn.Conv2d(c_in, hidden, kernel_size=3, padding=1, padding_mode=pmode),
            make_activation(cfg["activation"]),
        )
        self.blocks = nn.Sequential(
            *(ResidualBlock(hidden, block, cfg["norm"], cfg["activation"], pmode) for block in dilations)
        )
        self.decoder = nn.Sequential(
            make_activation(cfg["activation"]),
            nn.Conv2d(hidden, c_out, kernel_size=3, padding=1, padding_mode=pmode),
        )

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, self.model_name or "resnet")
        return self.decoder(self.blocks(self.encoder(a)))


register_model("resnet")(ResNet2d)


@register_model("dilresnet")
class DilatedResNet2d(ResNet2d):
    """Dilated ResNet (Stachenfeld et al., ICLR 2022): blocks of dilations 1,2,4,8,4,2,1."""

    default_config = {
        "hidden_channels": 16,
        "dilations": ((1, 2, 4, 8, 4, 2, 1),) * 2,
        "norm": "group",
        "activation": "gelu",
        "padding_mode": "zeros",
    }
    full_config = {
        "hidden_channels": 128,
        "dilations": ((1, 2, 4, 8, 4, 2, 1),) * 4,
        "norm": "group",
        "activation": "gelu",
        "padding_mode": "zeros",
    }
