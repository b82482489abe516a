"""Same inputs → bit-identical outputs; the API refuses what it cannot solve."""

from __future__ import annotations

import numpy as np
import pytest

from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators.cfd import PROBLEMS, solve_case

CASES = [
    ("cavity", {"lid_velocity": 2.0, "viscosity": 0.005, "width": 0.5, "height": 0.5}, 32, 32),
    ("tube", {"inlet_velocity": 1.0, "inlet_profile": "parabolic"}, 64, 16),
    ("dam", {"inlet_velocity": 0.5}, 60, 16),
]


@pytest.mark.parametrize("problem,params,nx,ny", CASES)
def test_bit_identical_reruns(problem, params, nx, ny):
    a = solve_case(problem, params, nx=nx, ny=ny, t_end=0.5, n_frames=6)
    b = solve_case(problem, params, nx=nx, ny=ny, t_end=0.5, n_frames=6)
    for name in ("u", "v", "p", "t", "x", "y", "mask"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.u.shape == (6, nx, ny) and a.u.dtype == np.float64
    assert np.abs(a.u[-1]).max() > 0


def test_registry_and_parameter_checks():
    assert PROBLEMS.names() == ["cavity", "dam", "tube"]
    with pytest.raises(UnknownNameError):
        solve_case("cylinder", {}, nx=8, ny=8, t_end=1)
    with pytest.raises(InvalidValueError, match="unknown parameter"):
        solve_case("cavity", {"lid_speed": 1}, nx=8, ny=8, t_end=1)
    with pytest.raises(InvalidValueError, match="inlet_profile"):
        solve_case("tube", {"inlet_profile": "plug"}, nx=16, ny=8, t_end=1)
    with pytest.raises(InvalidValueError):
        solve_case("cavity", {"viscosity": -1}, nx=8, ny=8, t_end=1)
