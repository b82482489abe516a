"""Fully connected feed-forward network (FFN / "FNN") operator baseline.

Reference: the FNN baseline of L. Lu, P. Jin, G. Pang, Z. Zhang,
G. E. Karniadakis, "Learning nonlinear operators via DeepONet based on the
universal approximation theorem of operators", Nature Machine Intelligence 3,
218-229 (2021), whose input is the concatenation ``[a(sensors), y]`` of the
input function at fixed sensor points and the query point ``y``; CFDBench
(Luo et al., arXiv:2310.05963, 2023) uses the same MLP-on-[input, query]
definition for its FFN baseline.  The network itself is the classic
multilayer perceptron (Rumelhart, Hinton & Williams, Nature 1986); the
query point is encoded with sin/cos features as in Tancik et al.,
"Fourier features let networks learn high frequency functions in low
dimensional domains", NeurIPS 2020.

What it computes, at every grid point ``(x_i, y_j)`` of the output grid,

    u(x_i, y_j) = MLP( [ S_s(a),  a(x_i, y_j),  gamma_K(x_i, y_j) ] )   in R^{c_out}

where

* ``S_s(a) = flatten( AdaptiveAvgPool_{s x s}(a) )`` in ``R^{c_in s^2}`` are
  the *sensor values*: averages of the input fields over the cells of a
  fixed ``s x s`` partition of the grid (``s = sensors``; exact cell
  averages when ``nx`` and ``ny`` are multiples of ``s``, at ``nx = ny = s``
  the grid values themselves), the same vector at every query point, so any
  input resolution maps to the same ``c_in s^2`` inputs;
* ``a(x_i, y_j)`` are the ``c_in`` local input values;
* ``gamma_K(x, y) = (x, y, sin(k pi x), cos(k pi x), sin(k pi y), cos(k pi y))_{k=1..K}``
  in ``R^{2 + 4K}`` is the positional encoding of the query point
  (:func:`pdeforge.baselines.deeponet.fourier_features`, ``K = fourier_modes``).

It is an MLP on the concatenated vector; the first layer is evaluated as
``W_s S_s(a) + W_l [a(x); gamma_K(x)] + b`` (one ``Linear`` on the sensors
per sample plus a 1x1 convolution per point: the same affine map without
materialising the concatenation at every point; each block is initialised
with PyTorch's default fan-in rule for its own inputs); the other layers
are 1x1 convolutions, so any grid size works.

Why both parts are needed: the ConDiff solution operator
``(k, f) -> u = (-div k grad)^{-1} f`` is non-local, so a *pointwise* MLP of
``(a(x), x)`` cannot represent it -- on four ConDiff samples at grid 16 it
can only memorise them through the local values of the white-noise ``f``
(1.5x loss reduction in 300 Adam steps with ``K = 0``, 3x with ``K = 8``;
the best pointwise *linear* fit leaves a relative error of 0.84); and a
query MLP of raw ``(x, y)`` is spectrally biased, so rough targets are
fitted slowly (3x with ``s = 8`` sensors but ``K = 0``).  With ``s = 8`` and
``K = 8`` the same budget gives 21-25x (seeds 0-2).

``sensors = 0`` and ``fourier_modes = 0`` give the pointwise per-grid-point
MLP on ``(a(x), x, y)`` (the "no receptive field" lower baseline);
``use_coords = False`` drops ``gamma_K`` altogether.

``full_config``: 4 hidden layers of 256 units with GELU, ``16 x 16`` sensors,
``K = 16``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .common import BaselineModel, check_field_input, coordinate_grid, make_activation
from .deeponet import fourier_features
from .registry import register_model

__all__ = ["FFN2d"]


@register_model("ffn")
class FFN2d(BaselineModel):
    """MLP on ``[sensor values of a, a(x), gamma_K(x)]`` at every grid point.

    Config keys
    -----------
    hidden : int
        width of every hidden layer.
    n_layers : int
        number of hidden layers.
    activation : str
        nonlinearity between the layers.
    use_coords : bool
        feed the encoded query point ``gamma_K(x, y)`` to the MLP.
    sensors : int
        side ``s`` of the sensor grid: the input fields are cell-averaged onto
        ``s x s`` cells (``AdaptiveAvgPool2d(s)``) and the ``c_in s^2`` values
        are fed to the MLP at every query point.  ``0``: no sensors, i.e. a
        pointwise model with no spatial receptive field.
    fourier_modes : int
        ``K`` of the query encoding ``gamma_K(x, y)``: ``(x, y)`` and
        ``sin(k pi x), cos(k pi x), sin(k pi y), cos(k pi y)``, ``k = 1..K``
        (``2 + 4K`` inputs); ``0``: raw ``(x, y)``.  Ignored when
        ``use_coords`` is false.
    residual : bool
        add input channels ``0 .. c_out-1`` to the output, ``u = a[:c_out] +
        MLP(...)``: the *autoregressive* FFN of CFDBench (Luo et al. 2023,
        ``AutoFfn``: the next frame as the current one plus a correction); in
        the loader's rollout layout at history 1 those input channels are the
        targets' current frame (same variables, same normalisation); needs
        ``c_in >= c_out``.  ``False`` (default): the plain FFN.
    """

    default_config = {
        "hidden": 64,
        "n_layers": 3,
        "activation": "gelu",
        "use_coords": True,
        "sensors": 8,
        "fourier_modes": 8,
        "residual": False,
    }
    full_config = {
        "hidden": 256,
        "n_layers": 4,
        "activation": "gelu",
        "use_coords": True,
        "sensors": 16,
        "fourier_modes": 16,
        "residual": False,
    }

    def __init__(self, c_in: int, c_out: int, **config: Any) -> None:
        super().__init__(c_in, c_out, **config)
        cfg = self.config
        hidden, n_layers = int(cfg["hidden"]), int(cfg["n_layers"])
        self.sensors, self.fourier_modes = int(cfg["sensors"]), int(cfg["fourier_modes"])
        if hidden < 1 or n_layers < 1 or self.sensors < 0 or self.fourier_modes < 0:
            raise ValueError(f"ffn: invalid config {cfg}")
        self.use_coords = bool(cfg["use_coords"])
        self.residual = bool(cfg["residual"])
        if self.residual and c_in < c_out:
            raise ValueError(f"ffn: residual=True needs c_in >= c_out, got {c_in} < {c_out}")
        d_point = c_in + (2 * (1 + 2 * self.fourier_modes) if self.use_coords else 0)
        sizes = [d_point] + [hidden] * n_layers + [c_out]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Conv2d(sizes[i], sizes[i + 1], kernel_size=1))
            if i < len(sizes) - 2:
                layers.append(make_activation(cfg["activation"]))
        self.net = nn.Sequential(*layers)
        # sensor part of the first layer's weight (its bias is the first conv's)
        self.sensor_weight = (
            nn.Linear(c_in * self.sensors**2, hidden, bias=False) if self.sensors > 0 else None
        )

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_field_input(a, self.c_in, "ffn")
        b, _, nx, ny = a.shape
        v = a
        if self.use_coords:
            grid = fourier_features(coordinate_grid(nx, ny, device=a.device, dtype=a.dtype),
                                    self.fourier_modes, dim=0)
            v = torch.cat([v, grid.unsqueeze(0).expand(b, -1, -1, -1)], dim=1)
        h = self.net[0](v)
        if self.sensor_weight is not None:
            s = F.adaptive_avg_pool2d(a, self.sensors).flatten(1)  # (b, c_in s^2)
            h = h + self.sensor_weight(s)[:, :, None, None]
        out = self.net[1:](h)
        return out + a[:, :self.c_out] if self.residual else out
