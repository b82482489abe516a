"""Data-parallel training (pdeforge.baselines.distributed): sharded batches and 2 gloo ranks on the CPU.

Tolerance of the loss-curve comparison: the per-step losses of 2 ranks and of one process at the
same global batch agree to ``rtol = 1e-5``. They cannot agree bit for bit: one process reduces
the per-sample losses and back-propagates the whole batch in one pass, DDP reduces each half on
its rank and then sums the two gradients in float32 (all-reduce), another summation order; each
order is correct to float32 round-off (~6e-8 relative per operation), and Adam's update turns
gradient differences of that size into weight differences of the same relative size. Measured
here: at most ~1.1e-7 relative over the steps of this run; 1e-5 leaves two orders of margin
while a real error (a wrong shard, a missing weight on an uneven split, an un-averaged gradient)
changes the loss at the 1e-2 level.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from pdeforge.baselines.distributed import ShardedBatchSampler, check_batches, sharded_loader
from pdeforge.baselines.train import TrainConfig, load_checkpoint, train
from pdeforge.datasets.loader import make_loader
from pdeforge.errors import InvalidValueError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = "cubic0.1_grid16"
FNO = ["model=fno", "width=8", "modes=4", "n_layers=2", "projection_channels=16"]
SMALL_FNO = {"width": 8, "modes": 4, "n_layers": 2, "projection_channels": 16}


@pytest.mark.parametrize("n,batch,world", [(11, 4, 2), (12, 4, 3), (10, 5, 2)])
def test_rank_shards_of_each_batch_are_the_single_process_batch(n, batch, world):
    ds = torch.utils.data.TensorDataset(torch.arange(n))
    single = make_loader(ds, batch, shuffle=True, seed=7)
    ranks = [sharded_loader(ds, batch, seed=7, rank=r, world_size=world) for r in range(world)]
    assert all(len(r) == len(single) for r in ranks)
    for _ in range(2):  # the generator runs on across epochs exactly as in one process
        want = [b[0].tolist() for b in single]
        got = [[b[0].tolist() for b in r] for r in ranks]
        for t, batch_t in enumerate(want):
            parts = [got[r][t] for r in range(world)]
            assert sum(parts, []) == batch_t
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_batch_smaller_than_the_ranks_is_refused():
    with pytest.raises(InvalidValueError, match="leaves a rank without samples"):
        check_batches(9, 4, 2)  # last batch: 1 sample for 2 ranks
    check_batches(10, 4, 2)
    assert ShardedBatchSampler(range(9), 4, 1, 2).part([5, 6, 7]) == [6, 7]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(root, out, *words, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
           "-m", "pdeforge", "--root", str(root), "train", "condiff", f"config={CONFIG}", *FNO,
           "progress=false", f"out={out}", *words]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads((out / "run.json").read_text())


def test_two_gloo_ranks_follow_the_single_process_loss_curve(tiny_root, tmp_path):
    # 5 samples, global batch 3: batches of 3 (ranks get 1 and 2: the weighted loss) and 2
    opts = dict(epochs=3, batch_size=3, n_train=5, lr=3e-3, seed=0)
    stdout, run = _torchrun(tiny_root, tmp_path / "ddp", *(f"{k}={v}" for k, v in opts.items()))
    assert stdout.count("DDP: 2 ranks (gloo), global batch 3") == 1  # rank 0 reports, once
    single = train(TrainConfig(dataset="condiff", config=CONFIG, model="fno", model_config=dict(SMALL_FNO),
                               root=str(tiny_root), out_dir=str(tmp_path / "one"), progress=False, **opts))
    d = run["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["global_batch_size"] == 3
    want = np.array(single.fit.step_losses)
    got = np.array(d["step_losses"])
    assert len(got) == len(want) == run["steps"] == 6
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose([h["train_loss"] for h in run["history"]],
                               [h["train_loss"] for h in single.run["history"]], rtol=1e-5)
    np.testing.assert_allclose([h["val_rel_l2"] for h in run["history"]],
                               [h["val_rel_l2"] for h in single.run["history"]], rtol=1e-5)
    assert run["best_epoch"] == single.run["best_epoch"]
    a = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")[0].state_dict()
    b = single.model.state_dict()
    assert set(a) == set(b)  # no DDP "module." prefix in the checkpoint
    for k in a:
        torch.testing.assert_close(a[k], b[k].cpu(), rtol=1e-4, atol=1e-6)
    assert run["test_rel_l2"] == pytest.approx(single.run["test_rel_l2"], rel=1e-5)
    assert (tmp_path / "ddp" / "predictions.nc").is_file()


def test_two_ranks_online_each_with_its_own_feed(tiny_root, tmp_path):
    _, run = _torchrun(tiny_root, tmp_path / "online", "epochs=2", "batch_size=4", "online=1",
                       "workers=0", "buffer=8", "fresh_per_step=1")
    o = run["online"]
    ranks = {r["rank"]: r for r in o["per_rank"]}
    assert set(ranks) == {0, 1}
    steps = run["steps"]
    for r in ranks.values():  # buffer_min = local batch 2, then 1 per step
        assert r["samples_generated"] == 2 + steps and r["samples_consumed"] == 2 * steps
    # chunk c of the stream goes to rank c mod 2: disjoint, together 0 .. 2·(2+steps)−1
    assert ranks[0]["first_index"] == 0 and ranks[1]["first_index"] == 1
    assert ranks[0]["last_index"] == 2 * (2 + steps - 1) and ranks[1]["last_index"] == 2 * (2 + steps - 1) + 1
    assert o["samples_generated"] == 2 * (2 + steps) and o["samples_consumed"] == 4 * steps
    assert run["distributed"]["world_size"] == 2 and np.isfinite(run["test_rel_l2"])
