"""Deep Operator Network (DeepONet) for 2-D fields.

Reference: L. Lu, P. Jin, G. Pang, Z. Zhang, G. E. Karniadakis, "Learning
nonlinear operators via DeepONet based on the universal approximation theorem
of operators", Nature Machine Intelligence 3, 218-229 (2021)
(arXiv:1910.03193); the CNN branch for gridded inputs follows Lu et al.,
"A comprehensive and fair comparison of two neural operators (with practical
extensions) based on FAIR data", CMAME 393 (2022).

What it computes, for input fields ``a`` of shape ``(batch, c_in, nx, ny)``::

    b(a)   = MLP( flatten( AdaptiveAvgPool_{s x s}( CNN(a) ) ) )   in R^{c_out x p}   (branch)
    t(x,y) = MLP(x, y)                                              in R^{p}           (trunk)
    u_c(x, y) = sum_k b_{c,k}(a) t_k(x, y) / sqrt(p) + beta_c

The branch CNN halves the resolution with each stride-2 3x3 convolution and
is pooled to a fixed ``pool_size x pool_size`` map, so it accepts any grid
size; the trunk is evaluated on the node coordinates of the *output* grid on
``[0, 1]^2``, generated inside the model from ``(nx, ny)`` (the output grid
equals the input grid here), and the result is reshaped back to
``(batch, c_out, nx, ny)``.  Each output channel has its own ``p`` branch
coefficients and bias but all channels share the trunk basis.

``full_config``: branch CNN with 4 stride-2 convolutions (32-64-128-256
channels) pooled to 4x4, branch MLP with 256 hidden units, trunk MLP of 4
layers of width 128, and ``p = 128`` basis functions.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .common import BaselineModel, check_field_input, coordinate_grid, make_activation
from .registry import register_model

__all__ = ["DeepONet2d"]


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(make_activation(activation))
    return nn.Sequential(*layers)


@register_model("deeponet")
class DeepONet2d(BaselineModel):
    """DeepONet with a CNN branch net and an MLP trunk net (Lu et al., 2021).

    Config keys
    -----------
    p : int
        number of basis functions (latent dimension shared by branch and trunk).
    branch_channels : int
        channels of the first branch convolution; doubled at each further one.
    branch_layers : int
        number of stride-2 3x3 convolutions in the branch CNN.
    pool_size : int
        side of the adaptive average pool applied after the branch CNN.
    branch_hidden : int
        hidden width of the branch MLP (one hidden layer).
    trunk_width : int
        width of the trunk MLP's hidden layers.
    trunk_layers : int
        number of hidden layers of the trunk MLP.
    activation : str
        nonlinearity in both nets (the trunk also applies it to its output,
        as in the original DeepONet).
    """

    default_config = {
        "p": 32,
        "branch_channels": 8,
        "branch_layers": 3,
        "pool_size": 4,
        "branch_hidden": 64,
        "trunk_width": 64,
        "trunk_layers": 3,
        "activation": "gelu",
    }
    full_config = {
        "p": 128,
        "branch_channels": 32,
        "branch_layers": 4,
        "pool_size": 4,
        "branch_hidden": 256,
        "trunk_width": 128,
        "trunk_layers": 4,
        "activation": "gelu",
    }

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        cfg = self.config
        self.p = int(cfg["p"])
        n_conv = int(cfg["branch_layers"])
        ch = int(cfg["branch_channels"])
        pool = int(cfg["pool_size"])
        if min(self.p, n_conv, ch, pool, int(cfg["trunk_layers"])) < 1:
            raise ValueError(f"deeponet: invalid config {cfg}")
        act = cfg["activation"]
        convs: list[nn.Module] = []
        c_prev = c_in
        for k in range(n_conv):
            c_next = ch * 2**k
            convs += [nn.Conv2d(c_prev, c_next, kernel_size=3, stride=2, padding=1), make_activation(act)]
            c_prev = c_next
        self.branch_cnn = nn.Sequential(*convs, nn.AdaptiveAvgPool2d(pool))
        self.branch_mlp = _mlp([c_prev * pool * pool, int(cfg["branch_hidden"]), c_out * self.p], act)
        trunk_sizes = [2] + [int(cfg["trunk_width"])] * int(cfg["trunk_layers"]) + [self.p]
        self.trunk = nn.Sequential(_mlp(trunk_sizes, act), make_activation(act))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, "deeponet")
        b, _, nx, ny = a.shape
        coeff = self.branch_mlp(self.branch_cnn(a).flatten(1)).view(b, self.c_out, self.p)
        coords = coordinate_grid(nx, ny, device=a.device, dtype=a.dtype)  # (2, nx, ny)
        basis = self.trunk(coords.permute(1, 2, 0))  # (nx, ny, p)
        out = torch.einsum("bcp,xyp->bcxy", coeff, basis) / math.sqrt(self.p)
        return out + self.bias.view(1, -1, 1, 1)
