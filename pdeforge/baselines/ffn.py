"""Pointwise feed-forward network (FFN / MLP) on grid points.

Reference: the plain fully-connected baseline of operator-learning
benchmarks, e.g. the "FNN"/"MLP" rows in Lu et al., "A comprehensive and
fair comparison of two neural operators ... based on FAIR data", CMAME 393
(2022), and in the ConDiff benchmark; the network itself is the classic
multilayer perceptron (Rumelhart, Hinton & Williams, Nature 1986).

What it computes: at every grid point ``(x_i, y_j)`` independently,

    u(x_i, y_j) = MLP( a_1(x_i, y_j), ..., a_{c_in}(x_i, y_j), x_i, y_j ) in R^{c_out}

with ``(x, y)`` the node coordinates on ``[0, 1]^2`` (``use_coords=True``).
It is implemented as a stack of 1x1 convolutions, so the fields keep their
2-D layout and any grid size works.  The model has no spatial receptive
field: it can only learn pointwise (local) maps of the input plus a
position-dependent correction, which makes it the natural lower baseline for
non-local solution operators.

``full_config``: 4 hidden layers of 256 units with GELU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .common import BaselineModel, check_field_input, coordinate_grid, make_activation
from .registry import register_model

__all__ = ["FFN2d"]


@register_model("ffn")
class FFN2d(BaselineModel):
    """Per-grid-point MLP on ``(input channels, x, y)``.

    Config keys
    -----------
    hidden : int
        width of every hidden layer.
    n_layers : int
        number of hidden layers.
    activation : str
        nonlinearity between the layers.
    use_coords : bool
        append the ``(x, y)`` coordinates to the input channels.
    """

    default_config = {
        "hidden": 64,
        "n_layers": 3,
        "activation": "gelu",
        "use_coords": True,
    }
    full_config = {
        "hidden": 256,
        "n_layers": 4,
        "activation": "gelu",
        "use_coords": True,
    }

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        cfg = self.config
        hidden, n_layers = int(cfg["hidden"]), int(cfg["n_layers"])
        if hidden < 1 or n_layers < 1:
            raise ValueError(f"ffn: invalid config {cfg}")
        self.use_coords = bool(cfg["use_coords"])
        sizes = [c_in + (2 if self.use_coords else 0)] + [hidden] * n_layers + [c_out]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Conv2d(sizes[i], sizes[i + 1], kernel_size=1))
            if i < len(sizes) - 2:
                layers.append(make_activation(cfg["activation"]))
        self.net = nn.Sequential(*layers)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, "ffn")
        if self.use_coords:
            b, _, nx, ny = a.shape
            grid = coordinate_grid(nx, ny, device=a.device, dtype=a.dtype)
            a = torch.cat([a, grid.unsqueeze(0).expand(b, -1, -1, -1)], dim=1)
        return self.net(a)
