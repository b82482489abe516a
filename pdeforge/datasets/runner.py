"""Generate a dataset family: plan shards, run sample chunks, write shards, keep manifests.

``generate_dataset("condiff", {"grid": "64", "n_train": "100"})`` is what
``make dataset name=condiff grid=64 n_train=100`` runs. The plan is one list of
``(config, split, start, stop)`` chunks covering every shard that is not yet on disk;
chunks run on an executor (serial, local processes, or Dask) and each finished shard is
written atomically and recorded in its config's manifest at once, so an interrupted run
resumes at the first missing shard and a finished dataset is a no-op unless ``force``.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import pdeforge
from pdeforge import atomic
from pdeforge.datasets import schema, store
from pdeforge.datasets.cards import Card
from pdeforge.datasets.executors import EXECUTORS
from pdeforge.datasets.family import (  # noqa: F401 - effective_card is part of the runner's API
    ConfigSpec, Family, effective_card, get_family, single_threaded_numerics,
)
from pdeforge.datasets.lock import config_locks
from pdeforge.datasets.manifest import ManifestWriter, read_manifest
from pdeforge.errors import InvalidValueError

CHUNK = 10  # samples per task: small enough to balance load, large enough to amortise IPC


@dataclass
class RunReport:
    dataset: str
    root: Path
    written: int = 0
    skipped: int = 0
    samples: int = 0
    seconds: float = 0.0
    configs: list[str] = field(default_factory=list)


def build_shard(family: Family, card: Card, config: ConfigSpec, split: str, start: int,
                arrays: dict[str, np.ndarray]):
    """An xarray Dataset in the pdeforge shard format (see :mod:`pdeforge.datasets.schema`)."""
    import xarray as xr

    specs = family.variables(card, config)
    coords = {"sample": ("sample", np.arange(start, start + _nrows(arrays), dtype=np.int64),
                         {"long_name": "sample index within the split", "units": "1"})}
    for name, c in family.coords(card, config).items():
        coords[name] = (name, np.asarray(c.values), {"long_name": c.long_name, "units": c.units})
    data_vars = {}
    for name, spec in specs.items():
        if name not in arrays:
            raise ValueError(f"generator did not produce variable {name!r}")
        arr = np.asarray(arrays[name], dtype=spec.dtype)
        data_vars[name] = (("sample", *spec.dims), arr,
                           {"role": spec.role, "long_name": spec.long_name, "units": spec.units})
    n = len(coords["sample"][1])
    attrs = {
        "format": schema.FORMAT,
        "pdeforge_version": pdeforge.__version__,
        "dataset": card.name,
        "config": config.name,
        "split": split,
        "card": card.canonical_json(),
        "card_sha256": card.sha256,
        "content_key": family.content_key(card, config),
        "equation": card.get("dataset.equation"),
        "boundary_conditions": card.get("dataset.boundary_conditions"),
        "units": card.get("dataset.units", "dimensionless"),
        "seeding": card.get("seeding.mode"),
        "master_seed": int(card.get("seeding.master_seed")),
        "sample_start": int(start),
        "sample_stop": int(start + n),
        # the default task and the citation, from the card; a family may set them per config
        "inputs": " ".join(card.get("task.inputs", [])) or None,
        "targets": " ".join(card.get("task.targets", [])) or None,
        "citation": card.get("dataset.citation", None),
    }
    attrs.update({k: v for k, v in family.attrs(card, config).items() if v is not None})
    attrs = {k: v for k, v in attrs.items() if v is not None}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _chunk(card_name: str, card_data: dict, overrides: dict, config: str, split: str,
           start: int, stop: int) -> tuple[dict[str, np.ndarray], float]:
    """Task body (runs in a worker): samples [start, stop) of (config, split), and the CPU
    seconds the worker spent generating them (recorded per shard in the manifest)."""
    card = Card(card_name, card_data, overrides)
    family = get_family(card.generator)
    t = time.process_time()
    with single_threaded_numerics():
        arrays = family.generate(card, family.config(card, config), split, start, stop)
    return arrays, time.process_time() - t


def _all_present(root: Path, card: Card, family: Family, configs, splits, per_shard: int) -> int | None:
    """Shard count when every config is complete on disk with the same content key (a no-op run
    that needs no write access), else None. Read-only: manifests and file sizes only."""
    n = 0
    for config in configs:
        cdir = store.config_dir(root, card.name, config.name)
        try:
            m = read_manifest(cdir)
        except Exception:  # noqa: BLE001 - a damaged manifest: the locked path reports it
            return None
        if m is None or m.content_key != family.content_key(card, config) or m.samples_per_shard != per_shard:
            return None
        if set(m.splits) != set(splits) or any(m.splits[s].n_samples != n_ for s, n_ in splits.items()):
            return None
        for split in m.splits.values():
            if not split.complete:
                return None
            for rec in split.shards:
                path = cdir / rec.file
                if not path.is_file() or path.stat().st_size != rec.bytes:
                    return None
                n += 1
    return n


def _remove_orphans(mw: "ManifestWriter", splits) -> int:
    """Delete shard files the manifest no longer lists (e.g. after shrinking a split), and
    split directories of splits the card no longer has; returns how many files went."""
    listed = mw.listed_files()
    n = 0
    for d in mw.cdir.iterdir() if mw.cdir.is_dir() else ():
        if not d.is_dir():
            continue
        for f in d.glob("shard-*.nc"):
            if f not in listed:
                f.unlink()
                n += 1
        if d.name not in splits and not any(d.iterdir()):
            d.rmdir()
    return n


def generate_dataset(name: str, overrides: dict[str, str] | None = None, *, root=None,
                     workers: int | None = None, scheduler: str | None = None,
                     force: bool = False, progress: bool = True, log=print) -> RunReport:
    """Generate (or resume) every selected config of ``name``; see the module docstring.

    Holds each config's write lock (:mod:`pdeforge.datasets.lock`) for the whole run: a second
    run into the same config fails at once with a clear message."""
    t0 = time.perf_counter()
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise InvalidValueError(f"workers={workers}: need at least 1 worker process")
    card, family = effective_card(name, overrides)
    root = store.resolve_root(root)
    configs = family.configs(card)
    splits = family.splits(card)
    per_shard = int(card.get("storage.samples_per_shard"))
    report = RunReport(card.name, root, configs=[c.name for c in configs])
    if not force:
        present = _all_present(root, card, family, configs, splits, per_shard)
        if present is not None:
            report.skipped = present
            log(f"{card.name}: all {present} shards already present under {root / card.name} "
                "(nothing to do; pass --force to regenerate)")
            report.seconds = time.perf_counter() - t0
            return report
    store.ensure_writable(root / card.name)
    cdirs = [store.config_dir(root, card.name, c.name) for c in configs]
    with config_locks(cdirs):
        return _generate_locked(card, family, root, configs, splits, per_shard, report, t0,
                                workers=workers, scheduler=scheduler, force=force,
                                progress=progress, log=log)


def _generate_locked(card, family, root, configs, splits, per_shard, report, t0, *, workers,
                     scheduler, force, progress, log) -> RunReport:
    manifests: dict[str, ManifestWriter] = {}
    pending: list[tuple[ConfigSpec, str, int, int]] = []  # shards still to write
    for config in configs:
        cdir = store.config_dir(root, card.name, config.name)
        for split in splits:
            atomic.remove_stale(cdir / split)
        mw = ManifestWriter.open(cdir, dataset=card.name, config=config.name, card=card,
                                 content_key=family.content_key(card, config),
                                 splits=splits, per_shard=per_shard, force=force)
        manifests[config.name] = mw
        mw.save()
        removed = _remove_orphans(mw, splits)
        if removed:
            log(f"{config.name}: removed {removed} shard file(s) the manifest no longer lists")
        for split, n in splits.items():
            for start, stop in store.shard_ranges(n, per_shard):
                if mw.done(split, start, stop):
                    report.skipped += 1
                else:
                    pending.append((config, split, start, stop))

    total = sum(stop - start for _, _, start, stop in pending)
    if not pending:
        log(f"{card.name}: all {report.skipped} shards already present under {root / card.name} "
            "(nothing to do; pass --force to regenerate)")
        report.seconds = time.perf_counter() - t0
        return report

    bar = _progress(total, f"{card.name}", progress)
    by_name = {c.name: c for c in configs}

    def write(config: ConfigSpec, split: str, start: int, arrays: dict[str, np.ndarray], cpu: float):
        ds = build_shard(family, card, config, split, start, arrays)
        stop = start + ds.sizes["sample"]
        t_shard = time.perf_counter()
        path = store.config_dir(root, card.name, config.name) / split / store.shard_name(start // per_shard)
        record = store.write_shard(path, ds)
        record.update(start=start, stop=stop, written_at=store.now(),
                      generate_cpu_seconds=round(cpu, 3),
                      write_seconds=round(time.perf_counter() - t_shard, 3))
        manifests[config.name].add(split, record)
        report.written += 1

    pending_keys = {(c.name, s, a, b) for c, s, a, b in pending}
    stream_splits = family.stream_splits(card) if family.sequential(card) else ()
    if stream_splits and any(s in stream_splits for _, s, _, _ in pending):
        # Sequential seeding: replay the whole ordered stream, write the shards that are due.
        buf: dict[tuple, dict[int, dict]] = defaultdict(dict)
        cpu: dict[tuple, float] = defaultdict(float)
        t_prev = time.process_time()
        for cname, split, index, sample in family.stream(card):
            t_now = time.process_time()
            spent, t_prev = t_now - t_prev, t_now
            start = index - index % per_shard
            stop = min(start + per_shard, splits[split])
            key = (cname, split, start, stop)
            if key not in pending_keys:
                continue
            buf[key][index] = sample
            cpu[key] += spent
            bar.update(1)
            if len(buf[key]) == stop - start:
                got = buf.pop(key)
                rows = [got[i] for i in range(start, stop)]
                write(by_name[cname], split, start, {k: np.stack([r[k] for r in rows]) for k in rows[0]}, cpu.pop(key))
                t_prev = time.process_time()
        pending = [p for p in pending if p[1] not in stream_splits]

    tasks = []
    shard_of = {}  # (config, split, chunk start) -> (config spec, shard start, shard stop)
    for config, split, start, stop in pending:
        for a in range(start, stop, CHUNK):
            tasks.append((card.name, card.data, card.overrides, config.name, split, a, min(a + CHUNK, stop)))
            shard_of[(config.name, split, a)] = (config, start, stop)
    if tasks:
        if scheduler:
            kind = "dask"
        else:
            if workers is None:
                workers = min(len(os.sched_getaffinity(0)), 8)
            kind = "serial" if workers <= 1 else "processes"
        runner = EXECUTORS.get(kind)
        parts: dict[tuple, dict[int, dict]] = defaultdict(dict)
        for task, (arrays, spent) in runner(_chunk, tasks, workers=workers or 1, scheduler=scheduler or ""):
            _, _, _, cname, split, a, b = task
            config, start, stop = shard_of[(cname, split, a)]
            parts[(cname, split, start)][a] = (arrays, spent)
            bar.update(b - a)
            bar.set_postfix_str(cname, refresh=False)
            got = parts[(cname, split, start)]
            if sum(_nrows(v[0]) for v in got.values()) == stop - start:
                chunks = [got[k][0] for k in sorted(got)]
                spent_total = sum(v[1] for v in got.values())
                del parts[(cname, split, start)]
                write(config, split, start, {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]},
                      spent_total)
    bar.close()
    report.samples = total
    report.seconds = time.perf_counter() - t0
    log(f"{card.name}: wrote {report.written} shards ({total} samples) in {report.seconds:.1f} s "
        f"under {root / card.name}" + (f"; {report.skipped} shards were already present" if report.skipped else ""))
    return report


def _nrows(arrays: dict[str, np.ndarray]) -> int:
    return len(next(iter(arrays.values())))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample", disable=not enabled, dynamic_ncols=True)
