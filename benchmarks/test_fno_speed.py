"""FNO training speed: pdeforge's ``fno`` vs neuraloperator's ``FNO`` at the same size.

Both models get the same width, Fourier modes, number of layers, batch, grid and device, and are
configured to compute the same architecture: a pointwise linear lifting of the inputs plus the
``(x, y)`` coordinates, 4 Fourier layers ``act(K v + W v)`` with a linear 1x1 skip, and a
two-layer pointwise projection through ``2 * width`` channels. neuraloperator counts modes as the
total kept per axis (both signs), so pdeforge's ``modes=m`` corresponds to its ``n_modes=(2m,
2m)``; it keeps ``m + 1`` instead of ``m`` columns of the one-sided axis (about 8 % more spectral
weights at m = 12), which favours pdeforge slightly. Its default FNO (with the extra channel MLP
per layer and a two-layer lifting) is timed too, for reference only.

A training step is forward, MSE loss, backward and an AdamW step on a fixed random batch in
float32. After warm-up steps, the models are timed round by round, interleaved, ``STEPS`` steps
per round, and the best round of each counts (robust against load from other processes).
On the CPU torch runs with ``PDEFORGE_BENCH_THREADS`` threads (default 1: on a small shared
machine more intra-op threads were slower for both). The ratio reported is pdeforge steps/s
divided by neuraloperator steps/s (> 1: pdeforge is faster).

neuraloperator is a benchmark-only dependency (skipped when absent). Install it without letting
pip replace torch, e.g. ``pip install --no-deps neuraloperator tensorly tensorly-torch opt_einsum``
plus ``requests`` (imported by its data utilities). Run with ``make bench`` or
``pytest benchmarks/test_fno_speed.py -s``; results go to ``.benchmarks/fno_speed.{md,json}``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch

neuralop = pytest.importorskip("neuralop")

from pdeforge.baselines import build_model, count_parameters  # noqa: E402

#: name -> (width, modes, batch, grid); "darcy" is the original FNO Darcy size, "full" is
#: pdeforge's full preset at the ConDiff grid-64 recipe's batch
CASES = {
    "darcy": (32, 12, 16, 64),
    "full": (64, 16, 32, 64),
}
N_LAYERS, C_IN, C_OUT = 4, 2, 1
WARMUP, STEPS, ROUNDS = 2, 2, 5
RESULTS: dict = {}


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _models(width: int, modes: int):
    from neuralop.models import FNO

    ours = build_model("fno", C_IN, C_OUT, width=width, modes=modes, n_layers=N_LAYERS,
                       projection_channels=2 * width, use_coords=True, padding=0, seed=0)
    torch.manual_seed(0)
    theirs = FNO(n_modes=(2 * modes, 2 * modes), in_channels=C_IN, out_channels=C_OUT,
                 hidden_channels=width, n_layers=N_LAYERS, lifting_channel_ratio=0,
                 projection_channel_ratio=2, use_channel_mlp=False, fno_skip="linear",
                 positional_embedding="grid")
    default = FNO(n_modes=(2 * modes, 2 * modes), in_channels=C_IN, out_channels=C_OUT,
                  hidden_channels=width, n_layers=N_LAYERS)
    return {"pdeforge": ours, "neuralop": theirs, "neuralop_default": default}


def _real_parameters(model: torch.nn.Module) -> int:
    """Trainable scalars with a complex entry counted as 2 (neuraloperator stores complex)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad)


def _stepper(model, x, y):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()

    return step


@pytest.fixture(scope="module", autouse=True)
def _threads():
    prev = torch.get_num_threads()
    if _device().type == "cpu":
        torch.set_num_threads(int(os.environ.get("PDEFORGE_BENCH_THREADS", "1")))
    yield
    torch.set_num_threads(prev)


@pytest.mark.parametrize("case", list(CASES))
def test_fno_training_steps_per_second(case, request):
    width, modes, batch, grid = CASES[case]
    device = _device()
    if device.type == "cpu" and case == "full" and not os.environ.get("PDEFORGE_BENCH_FULL"):
        pytest.skip("full-size case on the CPU takes minutes; set PDEFORGE_BENCH_FULL=1")
    models = {k: m.to(device) for k, m in _models(width, modes).items()}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, C_IN, grid, grid, generator=g).to(device)
    y = torch.randn(batch, C_OUT, grid, grid, generator=g).to(device)
    for m in models.values():
        assert m(x).shape == y.shape
    steps = {k: _stepper(m, x, y) for k, m in models.items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for step in steps.values():
        for _ in range(WARMUP):
            step()
    best = {k: float("inf") for k in steps}
    for _ in range(ROUNDS):
        for k, step in steps.items():
            sync()
            t0 = time.perf_counter()
            for _ in range(STEPS):
                step()
            sync()
            best[k] = min(best[k], (time.perf_counter() - t0) / STEPS)
    sps = {k: 1.0 / v for k, v in best.items()}
    ratio = sps["pdeforge"] / sps["neuralop"]
    hw = (torch.cuda.get_device_name(device) if device.type == "cuda"
          else f"CPU, {torch.get_num_threads()} torch thread(s)")
    RESULTS[case] = {
        "width": width, "modes": modes, "batch": batch, "grid": grid, "n_layers": N_LAYERS,
        "device": str(device), "hardware": hw, "torch": torch.__version__,
        "neuralop": getattr(neuralop, "__version__", "?"),
        "steps_per_s": sps,
        "params_real": {k: _real_parameters(m) for k, m in models.items()},
        "params_count_parameters": {k: count_parameters(m) for k, m in models.items()},
        "ratio_pdeforge_over_neuralop": ratio,
        "ratio_pdeforge_over_neuralop_default": sps["pdeforge"] / sps["neuralop_default"],
    }
    _write(request)
    assert ratio > 0.3, f"pdeforge FNO is {1 / ratio:.1f}x slower than neuralop's at {case}"


def _write(request) -> None:
    lines = ["| case | width | modes | batch | grid | device | pdeforge steps/s | neuralop steps/s "
             "| ratio | neuralop default steps/s | real params pdeforge / neuralop |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for case, r in RESULTS.items():
        s, p = r["steps_per_s"], r["params_real"]
        lines.append(f"| {case} | {r['width']} | {r['modes']} | {r['batch']} | {r['grid']} | "
                     f"{r['hardware']} | {s['pdeforge']:.2f} | {s['neuralop']:.2f} | "
                     f"{r['ratio_pdeforge_over_neuralop']:.2f} | {s['neuralop_default']:.2f} | "
                     f"{p['pdeforge']:,} / {p['neuralop']:,} |")
    text = "\n".join(lines) + "\n"
    out = Path(request.config.rootpath) / ".benchmarks"
    out.mkdir(exist_ok=True)
    (out / "fno_speed.md").write_text(text)
    (out / "fno_speed.json").write_text(json.dumps(RESULTS, indent=1))
    print("\n" + text)
