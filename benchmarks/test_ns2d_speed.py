"""ns2d generation speed: trajectories per hour, estimated from a few time steps.

Cost of one trajectory = (T / dt) steps × (time of one step) (+ a negligible w0 synthesis and
one inverse FFT per frame). Measured for

* the card default on CPU (solve 128², Heun + CN, dt = 2.5e-3), one trajectory at a time (the
  generator's CPU mode), per viscosity of the card (T = 50, 30, 20);
* the FNO protocol on CPU (256², Euler + CN, dt = 1e-4);
* both on a GPU when ``torch.cuda.is_available()``, with a batch of trajectories.

Figures are per process; the generator runs one process per core (``workers``). Run with
``pytest benchmarks/test_ns2d_speed.py`` (pytest-benchmark); each test prints its numbers and
stores them in the benchmark's ``extra_info``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeforge.generators.navier_stokes import NS2D, forcing, grf_std, sample_w0

FINAL_TIMES = {1e-3: 50.0, 1e-4: 30.0, 1e-5: 20.0}
SETTINGS = {
    "default": dict(n=128, dt=2.5e-3, scheme="heun"),
    "fno": dict(n=256, dt=1e-4, scheme="euler"),
}


def _stepper(setting, device, batch, nu=1e-4):
    s = SETTINGS[setting]
    n = s["n"]
    solver = NS2D(n, nu, s["dt"], forcing(n), scheme=s["scheme"], device=device)
    rng = np.random.default_rng(0)
    w0 = np.stack([sample_w0(n, rng, grf_std(n)) for _ in range(batch)])
    w_hat = torch.fft.rfft2(torch.as_tensor(w0, device=device))
    return solver, w_hat


def _measure(benchmark, setting, device, batch, steps):
    solver, w_hat = _stepper(setting, device, batch)

    def run():
        w = w_hat
        for _ in range(steps):
            w = solver.step(w)
        if device != "cpu":
            torch.cuda.synchronize()
        return w

    run()  # warm-up (plans, allocations)
    benchmark.pedantic(run, rounds=3, iterations=1)
    per_step = benchmark.stats.stats.min / steps / batch  # seconds per step per trajectory
    dt = SETTINGS[setting]["dt"]
    info = {"setting": setting, "device": device, "batch": batch, "ms_per_step_per_traj": 1e3 * per_step}
    for nu, T in FINAL_TIMES.items():
        seconds = T / dt * per_step
        info[f"s_per_traj_nu{nu:g}"] = seconds
        info[f"traj_per_hour_nu{nu:g}"] = 3600.0 / seconds
    benchmark.extra_info.update(info)
    print("\n" + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()))
    return info


def test_cpu_default(benchmark):
    torch.set_num_threads(1)
    info = _measure(benchmark, "default", "cpu", 1, 40)
    assert info["traj_per_hour_nu0.001"] > 0


def test_cpu_fno_protocol(benchmark):
    torch.set_num_threads(1)
    info = _measure(benchmark, "fno", "cpu", 1, 10)
    assert info["traj_per_hour_nu0.001"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("setting", ["default", "fno"])
def test_gpu(benchmark, setting):
    info = _measure(benchmark, setting, "cuda", 64, 50)
    assert info["traj_per_hour_nu0.001"] > 0
