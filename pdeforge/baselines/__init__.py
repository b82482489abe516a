"""Baseline neural PDE surrogates of pdeforge.

All models map input fields ``(batch, c_in, nx, ny)`` to output fields
``(batch, c_out, nx, ny)`` on the same 2-D grid and are built by name::

    from pdeforge.baselines import build_model, list_models
    model = build_model("fno", c_in=2, c_out=1)                  # small default config
    model = build_model("unet", c_in=2, c_out=1, preset="full")  # paper-size config

Registered models: ``fno`` (Fourier neural operator), ``unet`` (U-Net),
``resnet`` and ``dilresnet`` (residual CNNs, the latter dilated),
``deeponet`` (CNN branch x MLP trunk on Fourier-encoded coordinates),
``ffn`` (MLP on [input at s x s sensors, local input, encoded query point]) and
``deepcfd`` (DeepCFD's U-Net with one decoder per output channel).
Importing this package imports every model module so that
they register themselves.
"""

from .common import BaselineModel, coordinate_grid
from .registry import MODELS, build_model, count_parameters, get_model_class, list_models, register_model

# Model modules register themselves on import.
from .fno import FNO2d, SpectralConv2d
from .unet import UNet2d
from .resnet import DilatedResNet2d, ResNet2d
from .deeponet import DeepONet2d
from .ffn import FFN2d
from .deepcfd import DeepCFDUNet

__all__ = [
    "MODELS",
    "BaselineModel",
    "build_model",
    "count_parameters",
    "coordinate_grid",
    "get_model_class",
    "list_models",
    "register_model",
    "DeepCFDUNet",
    "FNO2d",
    "SpectralConv2d",
    "UNet2d",
    "ResNet2d",
    "DilatedResNet2d",
    "DeepONet2d",
    "FFN2d",
]
