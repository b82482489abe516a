"""Deep Operator Network (DeepONet) for 2-D fields.

Reference: L. Lu, P. Jin, G. Pang, Z. Zhang, G. E. Karniadakis, "Learning
nonlinear operators via DeepONet based on the universal approximation theorem
of operators", Nature Machine Intelligence 3, 218-229 (2021)
(arXiv:1910.03193); the CNN branch for gridded inputs follows Lu et al.,
"A comprehensive and fair comparison of two neural operators (with practical
extensions) based on FAIR data", CMAME 393 (2022), whose "feature expansion"
of the trunk input with sin/cos features of the query point (DeepXDE's
``apply_feature_transform``) is used here too (see also S. Wang, H. Wang,
P. Perdikaris, "Improved architectures and training algorithms for deep
operator networks", J. Sci. Comput. 92 (2022), and M. Tancik et al.,
"Fourier features let networks learn high frequency functions in low
dimensional domains", NeurIPS 2020).

What it computes, for input fields ``a`` of shape ``(batch, c_in, nx, ny)``::

    b(a)   = MLP( flatten( AdaptiveAvgPool_{s x s}( CNN(a) ) ) )   in R^{c_out x p}   (branch)
    t(x,y) = sigma( MLP( gamma_K(x, y) ) )                          in R^{p}           (trunk)
    u_c(x, y) = sum_k b_{c,k}(a) t_k(x, y) / sqrt(p) + beta_c

with the trunk's positional encoding (``K = fourier_modes``)::

    gamma_K(x, y) = ( x, y,
                      sin(pi x), ..., sin(K pi x),  cos(pi x), ..., cos(K pi x),
                      sin(pi y), ..., sin(K pi y),  cos(pi y), ..., cos(K pi y) )  in R^{2 + 4K}

(:func:`fourier_features`).  ``sin(k pi x)`` and ``cos(k pi x)`` are the
Dirichlet and Neumann eigenfunctions of ``d^2/dx^2`` on ``[0, 1]`` (and contain
the periodic modes ``exp(2 pi i m x)`` for even ``k``), so the trunk starts
from the basis a spectral method would use.  ``K = 0`` gives ``gamma = (x, y)``,
the plain coordinate trunk of the original DeepONet.

Why the encoding matters: an MLP of the raw coordinates is spectrally biased
(it fits low frequencies first and needs thousands of steps for high ones).
On four ConDiff samples at grid 16 (white-noise source ``f``, so about 14% of
the mean-free energy of ``u`` lies at DFT wavenumbers ``max(|k_x|, |k_y|) > 4``
and 2% at 8, the Nyquist wavenumber) the coordinate trunk
reaches only a 2.5x loss reduction in 300 Adam steps, and still 3x when the
branch is replaced by free per-sample coefficients, whereas the CNN branch
with a free ``16 x 16 x p`` trunk table reaches 47x; with ``K = 8`` the same
DeepONet reaches 24-33x (seeds 0-2).  At init the coordinate trunk's ``p = 32``
basis functions have an effective rank of about 3 (singular values 1, 0.05,
0.03, 0.007, ...) and their span fits the four targets only to a relative
error of 0.64.

The branch CNN halves the resolution with each stride-2 3x3 convolution and
is pooled to a fixed ``pool_size x pool_size`` map, so it accepts any grid
size; the trunk is evaluated on the node coordinates of the *output* grid on
``[0, 1]^2``, generated inside the model from ``(nx, ny)`` (the output grid
equals the input grid here), and the result is reshaped back to
``(batch, c_out, nx, ny)``.  Each output channel has its own ``p`` branch
coefficients and bias but all channels share the trunk basis.

``full_config``: branch CNN with 4 stride-2 convolutions (32-64-128-256
channels) pooled to 4x4, branch MLP with 256 hidden units, trunk MLP of 4
layers of width 128 on ``gamma_16``, and ``p = 128`` basis functions.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .common import BaselineModel, check_field_input, coordinate_grid, make_activation
from .registry import register_model

__all__ = ["DeepONet2d", "fourier_features"]


def fourier_features(coords: torch.Tensor, n_modes: int, dim: int = -1) -> torch.Tensor:
    """Positional encoding ``gamma_K`` of coordinates on ``[0, 1]``, along ``dim``.

    For every coordinate ``z`` in ``coords`` (size ``d`` along ``dim``) the
    result holds ``z`` itself followed by ``sin(k pi z)`` and ``cos(k pi z)``,
    ``k = 1..n_modes``: along ``dim`` the layout is
    ``[z_1..z_d, sin(pi z_1)..sin(K pi z_1), cos(pi z_1)..cos(K pi z_1), ...]``,
    i.e. size ``d (1 + 2 K)``.  ``n_modes = 0`` returns ``coords`` unchanged.
    """
    if n_modes < 0:
        raise ValueError(f"fourier_features: n_modes must be >= 0, got {n_modes}")
    if n_modes == 0:
        return coords
    z = coords.movedim(dim, -1)  # (..., d)
    k = torch.arange(1, n_modes + 1, device=coords.device, dtype=coords.dtype) * math.pi
    ang = z.unsqueeze(-1) * k  # (..., d, K)
    feats = torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1).flatten(-2)  # (..., d * 2K)
    return torch.cat([z, feats], dim=-1).movedim(-1, dim)


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
    fourier_modes : int
        ``K`` of the trunk's input encoding ``gamma_K(x, y)`` (see
        :func:`fourier_features`): the trunk sees ``(x, y)`` and
        ``sin(k pi x), cos(k pi x), sin(k pi y), cos(k pi y)``, ``k = 1..K``,
        ``2 + 4K`` inputs in all.  ``0``: raw ``(x, y)`` only (the original
        DeepONet trunk).
    activation : str
        nonlinearity in both nets (the trunk also applies it to its output,
        as in the original DeepONet).
    residual : bool
        add input channels ``0 .. c_out-1`` to the output: ``u = a[:c_out] +
        sum_k b_k t_k + beta``, the *autoregressive* DeepONet of CFDBench
        (Luo et al. 2023, ``AutoDeepONet``: the next frame as the current one
        plus the operator's correction).  In the loader's rollout layout at
        history 1 (``x = [targets at t, static channels]``, each variable
        normalised with its own train statistics on both sides) those input
        channels are the targets' current frame; needs ``c_in >= c_out``.
        ``False`` (default): the plain DeepONet.
    """

    default_config = {
        "p": 32,
        "branch_channels": 8,
        "branch_layers": 3,
        "pool_size": 4,
        "branch_hidden": 64,
        "trunk_width": 64,
        "trunk_layers": 3,
        "fourier_modes": 8,
        "activation": "gelu",
        "residual": False,
    }
    full_config = {
        "p": 128,
        "branch_channels": 32,
        "branch_layers": 4,
        "pool_size": 4,
        "branch_hidden": 256,
        "trunk_width": 128,
        "trunk_layers": 4,
        "fourier_modes": 16,
        "activation": "gelu",
        "residual": False,
    }

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        cfg = self.config
        self.p = int(cfg["p"])
        n_conv = int(cfg["branch_layers"])
        ch = int(cfg["branch_channels"])
        pool = int(cfg["pool_size"])
        self.fourier_modes = int(cfg["fourier_modes"])
        if min(self.p, n_conv, ch, pool, int(cfg["trunk_layers"])) < 1 or self.fourier_modes < 0:
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
        d_trunk = 2 * (1 + 2 * self.fourier_modes)
        trunk_sizes = [d_trunk] + [int(cfg["trunk_width"])] * int(cfg["trunk_layers"]) + [self.p]
        self.trunk = nn.Sequential(_mlp(trunk_sizes, act), make_activation(act))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.residual = bool(cfg["residual"])
        if self.residual and c_in < c_out:
            raise ValueError(f"deeponet: residual=True needs c_in >= c_out, got {c_in} < {c_out}")

    def trunk_basis(self, nx: int, ny: int, *, device=None, dtype=None) -> torch.Tensor:
        """The trunk's ``p`` basis functions on the ``nx x ny`` node grid, ``(nx, ny, p)``."""
        coords = coordinate_grid(nx, ny, device=device, dtype=dtype).permute(1, 2, 0)  # (nx, ny, 2)
        return self.trunk(fourier_features(coords, self.fourier_modes))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, "deeponet")
        b, _, nx, ny = a.shape
        coeff = self.branch_mlp(self.branch_cnn(a).flatten(1)).view(b, self.c_out, self.p)
        basis = self.trunk_basis(nx, ny, device=a.device, dtype=a.dtype)  # (nx, ny, p)
        out = torch.einsum("bcp,xyp->bcxy", coeff, basis) / math.sqrt(self.p)
        out = out + self.bias.view(1, -1, 1, 1)
        return out + a[:, :self.c_out] if self.residual else out
