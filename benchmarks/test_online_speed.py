"""Online training on this machine: generation throughput (1 vs 2 workers) and training steps/s
online vs offline, every ratio measured in the same run.

* **Generation**: :class:`pdeforge.baselines.online.SampleFeed` on ConDiff ``cubic1.0`` at grid
  ``PDEFORGE_BENCH_ONLINE_GRID`` (default 32), the reserved ``online`` stream, ``chunk=4``, after
  a warm-up that starts the pool; samples/s over ``N_GEN`` samples with 1 and 2 worker processes.
* **Training**: ``train()`` of the FNO ``default`` preset, batch 32, one torch thread, on a small
  generated config (256 train samples: 8 steps per epoch, ``EPOCHS`` epochs). Modes: ``offline``
  (the stored train split), ``online`` (1 generator worker, asynchronous schedule: the trainer
  never waits), ``online-fresh`` (1 worker, ``fresh_per_step=32``: every step waits for a full
  batch of new samples). steps/s = optimiser steps / ``train_wall_seconds`` (the epoch loop,
  including the per-epoch validation on 16 samples). On 2 cores the generator worker competes
  with the trainer for the second core (and with anything else running): the ratio online /
  offline is what streaming costs the trainer here.

Run: ``pytest benchmarks/test_online_speed.py -s`` (part of ``make bench``); results go to
``.benchmarks/online_speed.{md,json}``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

GRID = int(os.environ.get("PDEFORGE_BENCH_ONLINE_GRID", "32"))
CONFIG = f"cubic1.0_grid{GRID}"
N_GEN = 400
EPOCHS = 4
RESULTS: dict = {"grid": GRID, "config": CONFIG, "generation": {}, "training": {}}


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_report():
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)
    out = Path(__file__).resolve().parents[1] / ".benchmarks"
    out.mkdir(exist_ok=True)
    (out / "online_speed.json").write_text(json.dumps(RESULTS, indent=1))
    text = table(RESULTS)
    (out / "online_speed.md").write_text(text)
    print("\n" + text)


def table(r: dict) -> str:
    lines = [f"Online training speed, ConDiff {r['config']} (this machine, same run)", "",
             "| generation | samples/s | vs 1 worker |", "|---|---:|---:|"]
    g = r["generation"]
    for w, v in sorted(g.items()):
        base = g.get("1")
        lines.append(f"| {w} worker(s) | {v:.1f} | {v / base:.2f}x |" if base else f"| {w} | {v:.1f} | |")
    lines += ["", "| training (FNO default, batch 32) | steps/s | vs offline | draws per fresh sample |",
              "|---|---:|---:|---:|"]
    t = r["training"]
    off = t.get("offline", {}).get("steps_per_s")
    for mode, v in t.items():
        ratio = f"{v['steps_per_s'] / off:.2f}x" if off else ""
        dps = f"{v['draws_per_sample']:.2f}" if v.get("draws_per_sample") else "-"
        lines.append(f"| {mode} | {v['steps_per_s']:.2f} | {ratio} | {dps} |")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from pdeforge.datasets.runner import generate_dataset

    root = tmp_path_factory.mktemp("online-bench")
    generate_dataset("condiff", {"grid": str(GRID), "configs": "cubic1.0", "n_train": "256",
                                 "n_val": "16", "n_test": "16"}, root=root, workers=1,
                     progress=False, log=lambda *a: None)
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_generation_throughput(benchmark, workers):
    from pdeforge.baselines.online import SampleFeed
    from pdeforge.datasets.family import effective_card

    card, family = effective_card("condiff", {"grid": str(GRID), "configs": "cubic1.0"})
    with SampleFeed(card, family, CONFIG, workers=workers, chunk=4) as feed:
        feed.take(8 * workers)  # the pool is up and every worker has solved something

        def run():
            t0 = time.perf_counter()
            feed.take(N_GEN)
            return N_GEN / (time.perf_counter() - t0)

        rate = benchmark.pedantic(run, rounds=1, iterations=1)
    RESULTS["generation"][str(workers)] = rate


@pytest.mark.parametrize("mode", ["offline", "online", "online-fresh"])
def test_training_steps_per_second(benchmark, data_root, tmp_path, mode):
    from pdeforge.baselines.train import TrainConfig, train

    base = dict(dataset="condiff", config=CONFIG, model="fno", epochs=EPOCHS, batch_size=32,
                lr=2e-3, seed=0, root=str(data_root), out_dir=str(tmp_path / mode), progress=False)
    if mode == "offline":
        cfg = TrainConfig(**base)
    else:
        online = {"workers": 1, "buffer": 256, "chunk": 4}
        if mode == "online-fresh":
            online["fresh_per_step"] = 32
        cfg = TrainConfig(**base, online=online)
    run = benchmark.pedantic(lambda: train(cfg).run, rounds=1, iterations=1)
    rec = {"steps": run["steps"], "seconds": run["train_wall_seconds"],
           "steps_per_s": run["steps"] / run["train_wall_seconds"]}
    if "online" in run:
        o = run["online"]
        rec.update(draws_per_sample=o["draws_per_sample"], generated_per_s=o["generated_per_second"],
                   consumed_per_s=o["consumed_per_second"], trainer_wait_s=o["trainer_wait_seconds"])
    RESULTS["training"][mode] = rec
