"""Online training (pdeforge.baselines.online): the reserved seed stream, the feed, the buffer, runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pdeforge.baselines.commands import parse_train_options
from pdeforge.baselines.online import (
    OnlineFeedError, ReservoirBuffer, SampleConverter, SampleFeed, validate_online, warmup_stats,
)
from pdeforge.baselines.train import TrainConfig, load_checkpoint, train
from pdeforge.datasets import store
from pdeforge.datasets.cards import Card
from pdeforge.datasets.family import get_family
from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.seeding import SPLIT_IDS, sample_seedseq
from pdeforge.errors import InvalidValueError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = "cubic0.1_grid16"
SMALL_FNO = {"width": 8, "modes": 4, "n_layers": 2, "projection_channels": 16}
QUIET = dict(progress=False, log=lambda *a: None)


def _config_dir(root, dataset, config) -> Path:
    return next(d for d in store.find_config_dirs(root, dataset) if d.name == config)


def _card_family(cdir):
    m = store.read_manifest(cdir)
    card = Card(m.dataset, m.card, m.overrides)
    return m, card, get_family(card.generator)


def _stored(cdir, split) -> dict[int, dict[str, np.ndarray]]:
    """Every stored sample of a split as read by h5py: {index: {variable: row}}."""
    from pdeforge.datasets.verify import _read_sample

    m = store.read_manifest(cdir)
    return {rec.start + row: _read_sample(cdir / rec.file, row)
            for rec in m.split(split).shards for row in range(rec.n)}


def _assert_same_bits(streamed: dict[str, np.ndarray], stored: dict[str, np.ndarray]) -> None:
    assert set(streamed) == set(stored)
    for k in stored:
        assert streamed[k].dtype == stored[k].dtype, k
        assert streamed[k].tobytes() == stored[k].tobytes(), k


# --------------------------------------------------------------------------- the seed stream


def test_online_split_id_is_reserved_and_the_stored_ids_are_unchanged():
    assert SPLIT_IDS == {"train": 0, "test": 1, "val": 2, "online": 3}
    a = sample_seedseq(42, CONFIG, "online", 0)
    assert a.spawn_key[-2:] == (3, 0)
    for split in ("train", "val", "test"):
        assert sample_seedseq(42, CONFIG, split, 0).spawn_key[-2] != 3


@pytest.mark.parametrize("config,workers,chunk", [(CONFIG, 1, 2), ("gaussian2.0_grid16", 0, 1)])
def test_streamed_condiff_samples_equal_the_stored_ones_bit_for_bit(tiny_root, config, workers, chunk):
    """Stream the *train* split through the online machinery (a process pool, and in-process)."""
    cdir = _config_dir(tiny_root, "condiff", config)
    m, card, family = _card_family(cdir)
    stored = _stored(cdir, "train")
    ds = TorchDataset("condiff", config, "train", root=tiny_root)
    convert = SampleConverter(ds)
    with SampleFeed(card, family, config, split="train", workers=workers, chunk=chunk) as feed:
        rows = feed.take(len(stored))
    assert [i for i, _ in rows] == sorted(stored)
    for index, sample in rows:
        _assert_same_bits(sample, stored[index])
    # and as model tensors: exactly the loader's normalised items
    x, y = convert([s for _, s in rows])
    for index, _ in rows:
        xi, yi = ds[index]
        assert torch.equal(x[index], xi) and torch.equal(y[index], yi)


def test_streamed_darcy_samples_equal_the_stored_ones_bit_for_bit(tmp_path):
    from pdeforge.datasets.runner import generate_dataset

    tiny = dict(get_family("darcy").tiny)
    generate_dataset("darcy", tiny, root=tmp_path, workers=1, **QUIET)
    cdirs = store.find_config_dirs(tmp_path, "darcy")
    assert len(cdirs) >= 2  # two stored resolutions of the same solves
    for cdir in cdirs:
        m, card, family = _card_family(cdir)
        stored = _stored(cdir, "train")
        with SampleFeed(card, family, m.config, split="train", workers=0) as feed:
            rows = feed.take(len(stored))
        for index, sample in rows:
            _assert_same_bits(sample, stored[index])


def test_the_online_stream_is_disjoint_from_train_val_test(tiny_root):
    cdir = _config_dir(tiny_root, "condiff", CONFIG)
    m, card, family = _card_family(cdir)
    with SampleFeed(card, family, CONFIG, workers=0) as feed:  # split="online"
        online = feed.take(6)
    assert [i for i, _ in online] == list(range(6))
    stored_f = [s["f"] for split in ("train", "val", "test") for s in _stored(cdir, split).values()]
    for _, sample in online:
        assert not any(np.array_equal(sample["f"], f) for f in stored_f)
    # and sample i of the stream is generate(..., "online", i, i + 1), whatever the chunking
    direct = family.generate(card, family.config(card, CONFIG), "online", 4, 5)
    assert np.array_equal(online[4][1]["u"], direct["u"][0].astype(online[4][1]["u"].dtype))


def test_ranks_solve_disjoint_chunks_that_cover_the_stream(tiny_root):
    cdir = _config_dir(tiny_root, "condiff", "poisson_grid16")
    m, card, family = _card_family(cdir)
    got = {}
    for rank in (0, 1):
        with SampleFeed(card, family, m.config, workers=0, chunk=2, rank=rank, world=2, start=10) as feed:
            got[rank] = [i for i, _ in feed.take(4)]
    assert got == {0: [10, 11, 14, 15], 1: [12, 13, 16, 17]}


# --------------------------------------------------------------------------- the buffer


def test_buffer_is_fifo_draws_with_replacement_and_counts_what_it_serves():
    buf = ReservoirBuffer(3, (1, 2), (1, 2), seed=5)
    for i in range(3):
        buf.put(100 + i, torch.full((1, 2), float(i)), torch.full((1, 2), -float(i)))
    x, y = buf.draw(50)  # more draws than samples: with replacement
    assert x.shape == (50, 1, 2) and set(x[:, 0, 0].tolist()) <= {0.0, 1.0, 2.0}
    assert torch.equal(y, -x)
    seen_before = buf.seen.copy()
    assert seen_before.sum() == 50 and buf.drawn == 50
    buf.put(103, torch.full((1, 2), 3.0), torch.full((1, 2), -3.0))  # evicts the oldest (100)
    assert sorted(buf.ids.tolist()) == [101, 102, 103] and buf.size == 3 and buf.evicted == 1
    assert buf.evicted_seen == {int(seen_before[0]): 1}
    counts = buf.seen_counts()
    assert sum(counts.values()) == 4 and sum(k * v for k, v in counts.items()) == 50
    assert buf.reuse == pytest.approx(50 / 4)
    # the draws are a function of the seed
    other = ReservoirBuffer(3, (1, 2), (1, 2), seed=5)
    for i in range(3):
        other.put(i, torch.full((1, 2), float(i)), torch.zeros(1, 2))
    assert torch.equal(other.draw(50)[0], x)


def test_validate_online_fills_defaults_and_refuses_bad_values():
    s = validate_online({"buffer": 16}, batch_size=4)
    assert s["buffer"] == 16 and s["workers"] == 1 and s["fresh_per_step"] is None and s["warmup"] == 0
    for bad in ({"buffer": 0}, {"workers": -1}, {"buffer_min": 20, "buffer": 8}, {"warmup": 9, "buffer": 8},
                {"scheduler": "localhost"}, {"fresh_per_step": 0}, {"buffer": True}):
        with pytest.raises(InvalidValueError):
            validate_online(bad, batch_size=4)
    with pytest.raises(Exception, match="online setting"):
        validate_online({"bufer": 3}, batch_size=4)


def test_warmup_statistics_follow_the_stored_rule(tiny_root):
    """The statistics of streamed samples = those the store computes for the same samples."""
    from pdeforge.datasets.normalize import load_stats

    cdir = _config_dir(tiny_root, "condiff", "gaussian2.0_grid16")
    m, card, family = _card_family(cdir)
    with SampleFeed(card, family, m.config, split="train", workers=0, chunk=3) as feed:
        rows = feed.take(m.split("train").n_samples)
    got = warmup_stats(card, family, m.config, rows)["variables"]
    want = load_stats(cdir)["variables"]
    assert set(got) == set(want)
    for var, w in want.items():
        g = got[var]
        assert g["transform"] == w["transform"] and g["count"] == w["count"], var
        for key in ("mean", "std", "min", "max"):
            assert g[key] == pytest.approx(w[key], rel=1e-12, abs=1e-300), (var, key)
    assert want["k"]["transform"] == "log"  # variance 2.0 spans > 2 decades: the rule was exercised


# --------------------------------------------------------------------------- failures


def test_a_killed_worker_is_replaced_and_the_stream_is_unchanged(tiny_root):
    cdir = _config_dir(tiny_root, "condiff", CONFIG)
    m, card, family = _card_family(cdir)
    stored = _stored(cdir, "train")
    with SampleFeed(card, family, CONFIG, split="train", workers=1, window=2, max_restarts=1) as feed:
        first = feed.take(2)
        pids = feed.worker_pids()
        assert pids
        os.kill(pids[0], signal.SIGKILL)
        with pytest.warns(UserWarning, match="generator worker died"):
            rest = feed.take(len(stored) - 2)
        assert feed.restarts == 1
    for index, sample in first + rest:
        _assert_same_bits(sample, stored[index])
    assert [i for i, _ in first + rest] == sorted(stored)


def test_a_worker_dying_too_often_stops_with_a_clear_error(tiny_root):
    cdir = _config_dir(tiny_root, "condiff", CONFIG)
    m, card, family = _card_family(cdir)
    t0 = time.perf_counter()
    with SampleFeed(card, family, CONFIG, workers=1, window=2, max_restarts=0) as feed:
        feed.take(1)
        os.kill(feed.worker_pids()[0], signal.SIGKILL)
        with pytest.raises(OnlineFeedError, match="worker process died.*max_restarts=0"):
            feed.take(50)
    assert time.perf_counter() - t0 < 60  # an error, not a hang


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unanswering_scheduler_is_a_one_line_error_at_once(tiny_root):
    from pdeforge.datasets.executors import ClusterError

    cdir = _config_dir(tiny_root, "condiff", CONFIG)
    m, card, family = _card_family(cdir)
    t0 = time.perf_counter()
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
        SampleFeed(card, family, CONFIG, scheduler=f"tcp://127.0.0.1:{_free_port()}")
    assert time.perf_counter() - t0 < 12  # connection refused at once; CONNECT_TIMEOUT = 10 s otherwise


def test_a_dask_cluster_streams_the_same_samples(tiny_root):
    distributed = pytest.importorskip("distributed")
    cdir = _config_dir(tiny_root, "condiff", CONFIG)
    m, card, family = _card_family(cdir)
    stored = _stored(cdir, "train")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with SampleFeed(card, family, CONFIG, split="train", scheduler=cluster.scheduler_address,
                        chunk=2) as feed:
            rows = feed.take(len(stored))
    for index, sample in rows:
        _assert_same_bits(sample, stored[index])


# --------------------------------------------------------------------------- runs


def _online_cfg(root, out, **online):
    return TrainConfig(dataset="condiff", config=CONFIG, model="fno", model_config=dict(SMALL_FNO),
                             epochs=2, batch_size=4, lr=3e-3, seed=0, root=str(root), out_dir=str(out),
                             progress=False, online=online)


def test_two_online_runs_with_a_fixed_schedule_give_identical_weights(tiny_root, tmp_path):
    runs = [train(_online_cfg(tiny_root, tmp_path / t, workers=1, buffer=8, fresh_per_step=2))
            for t in ("a", "b")]
    sa, sb = (load_checkpoint(r.checkpoint)[0].state_dict() for r in runs)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    a, b = (r.run for r in runs)
    assert a["history"] == b["history"] and a["test_rel_l2"] == b["test_rel_l2"]
    assert a["online"]["seen_counts"] == b["online"]["seen_counts"]

    # what run.json records
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    o = run["online"]
    steps = run["steps"]
    assert steps == 2 * 2  # 2 epochs of ceil(6 stored train samples / 4)
    assert o["samples_generated"] == 4 + 2 * steps  # buffer_min = batch, then 2 per step
    assert o["samples_consumed"] == 4 * steps
    assert o["draws_per_sample"] == pytest.approx(o["samples_consumed"] / o["samples_generated"])
    assert sum(o["seen_counts"].values()) == o["samples_generated"]
    assert sum(int(k) * v for k, v in o["seen_counts"].items()) == o["samples_consumed"]
    rank0 = o["per_rank"][0]
    assert (rank0["first_index"], rank0["last_index"]) == (0, o["samples_generated"] - 1)
    assert o["seed_stream"]["split"] == "online" and o["seed_stream"]["split_id"] == 3
    assert o["normalization"]["source"] == "stored train split"
    per_sample = sum(v.nbytes for v in _stored(_config_dir(tiny_root, "condiff", CONFIG), "train")[0].values())
    assert o["bytes_not_on_disk"] == per_sample * o["samples_generated"]
    assert o["settings"]["buffer"] == 8 and o["settings"]["eviction"].startswith("fifo")
    assert run["n_train"] == o["samples_generated"]
    assert run["train_config"]["online"]["fresh_per_step"] == 2
    assert (tmp_path / "a" / "predictions.nc").is_file()
    assert "online training" in (tmp_path / "a" / "submission.toml").read_text()


def test_online_run_with_warmup_statistics_and_the_asynchronous_schedule(tiny_root, tmp_path):
    res = train(_online_cfg(tiny_root, tmp_path / "w", workers=0, buffer=6, warmup=5))
    o = res.run["online"]
    assert o["normalization"]["source"].startswith("warm-up")
    assert o["normalization"]["indices"] == [0, 5] and o["normalization"]["n_samples"] == 5
    assert o["normalization"]["variables"]["u"]["count"] == 5 * 16 * 16
    # in-process generation: one chunk per step after the warm-up
    assert o["samples_generated"] == 5 + res.run["steps"]
    assert o["settings"]["schedule"].startswith("asynchronous")
    assert np.isfinite(res.run["test_rel_l2"])


def test_offline_run_records_no_online_section(tiny_root, tmp_path):
    res = train(TrainConfig(dataset="condiff", config=CONFIG, model="fno", model_config=dict(SMALL_FNO),
                            epochs=1, batch_size=4, root=str(tiny_root), out_dir=str(tmp_path / "o"),
                            progress=False))
    assert "online" not in res.run and "distributed" not in res.run
    assert res.run["train_config"]["online"] is None
    assert len(res.fit.step_losses) == res.run["steps"] == 2


# --------------------------------------------------------------------------- command line


def test_cli_online_keys():
    cfg = parse_train_options("condiff", ["config=c", "online=1", "buffer=64", "warmup=8",
                                          "workers=2", "fresh_per_step=4", "online_start=1000",
                                          "buffer_min=none"])
    assert cfg.online["buffer"] == 64 and cfg.online["warmup"] == 8 and cfg.online["workers"] == 2
    assert cfg.online["fresh_per_step"] == 4 and cfg.online["start"] == 1000
    assert cfg.online["buffer_min"] is None
    assert cfg.is_online
    assert type(parse_train_options("condiff", ["config=c"])) is TrainConfig
    assert type(parse_train_options("condiff", ["config=c", "online=0"])) is TrainConfig
    cfg = parse_train_options("condiff", ["online=yes"], scheduler="tcp://127.0.0.1:8786")
    assert cfg.online["scheduler"] == "tcp://127.0.0.1:8786"
    with pytest.raises(InvalidValueError, match="online=1"):
        parse_train_options("condiff", ["buffer=64"])
    with pytest.raises(InvalidValueError, match="give it once"):
        parse_train_options("condiff", ["online=1", "scheduler=tcp://a:1"], scheduler="tcp://a:1")
    with pytest.raises(InvalidValueError, match="buffer"):
        parse_train_options("condiff", ["online=1", "buffer=lots"])
    with pytest.raises(InvalidValueError, match="online"):
        parse_train_options("condiff", ["online=maybe"])


def test_make_train_passes_online_keys_through():
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(["make", "-n", "-C", str(repo), "train", "name=condiff", "config=cubic1.0_grid64",
                          "model=fno", "online=1", "buffer=256", "workers=2"],
                         capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if "pdeforge train" in ln)
    for word in ("train condiff", "config=cubic1.0_grid64", "model=fno", "online=1", "buffer=256", "workers=2"):
        assert word in line, (word, line)
