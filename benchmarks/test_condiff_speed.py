"""ConDiff generation speed: pdeforge vs the published generator's approach, in one run.

For each (covariance, grid, variance) we time, per accepted sample:

* **pdeforge**: :meth:`ConDiff.generate` (batched circulant-embedding fields, vectorised
  assembly, solver chosen by size);
* **naive**: what the published generator does — one fresh ``parafields.generate_field``
  call per candidate field, per-cell Python-loop assembly, ``scipy.sparse.linalg.spsolve``;
* **bare solve**: ``spsolve`` alone on a grid-64 system (the floor for a direct method).

Whole-family figures weight each config by its 1300 samples (train + test + val) and assume the
2 worker processes of a 2-core machine (the measured pool speed-up is reported by
``test_pool_speedup``). Run with ``make bench``; the table is printed and written to
``.benchmarks/condiff_speed.md``.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import parafields
import pytest
import scipy.sparse.linalg as spla

from naive_condiff import naive_condiff_matrix
from pdeforge.datasets.runner import effective_card
from pdeforge.generators import fv

COVS = ("cubic", "exponential", "gaussian")
VARS = (0.1, 0.4, 1.0, 2.0)
GRIDS = (64, 128)
PER_CONFIG = 1300
CORES = 2


def _band(var):
    return {0.1: (5, 15), 0.4: (50, 250), 1.0: (600, 1000), 2.0: (80000, 100000)}[var]


def naive_samples(cov, var, n, count, seed0):
    """The published approach: fresh parafields per candidate, loop assembly, spsolve."""
    lo, hi = _band(var)
    seeds = itertools.count(seed0)
    rng = np.random.default_rng(seed0)
    for _ in range(count):
        while True:
            g = parafields.generate_field(cells=(n + 1, n + 1), extensions=(1.0, 1.0), covariance=cov,
                                          variance=var, seed=next(seeds)).evaluate()
            if lo <= np.exp(g.max() - g.min()) <= hi:
                break
        f = rng.normal(size=n * n)
        A = naive_condiff_matrix(np.exp(g))
        spla.spsolve(A.tocsc(), f)


def ours(cov, var, n, count, start):
    card, family = effective_card("condiff", {"grid": str(n)})
    name = f"{cov}{var!r}_grid{n}" if cov != "poisson" else f"poisson_grid{n}"
    family.generate(card, family.config(card, name), "train", start, start + count)


def _time(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


CASES = [(c, v, n) for n in GRIDS for c in COVS for v in VARS] + [("poisson", 0.0, n) for n in GRIDS]


@pytest.mark.parametrize("cov,var,n", CASES, ids=[f"{c}{v}_grid{n}" for c, v, n in CASES])
def test_generation_speed(benchmark, results, cov, var, n):
    count = 8 if n == 64 else 4
    ours(cov, var, n, 1, 10_000)  # warm caches (embedding eigenvalues, factorisations)
    state = {"start": 0}

    def run():
        ours(cov, var, n, count, state["start"])
        state["start"] += count

    benchmark.pedantic(run, rounds=3, iterations=1)
    t_ours = benchmark.stats.stats.mean / count
    if cov == "poisson":
        n_naive = 2
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        for _ in range(n_naive):
            spla.spsolve(naive_condiff_matrix(np.ones((n + 1, n + 1))).tocsc(), rng.normal(size=n * n))
        t_naive = (time.perf_counter() - t0) / n_naive
    else:
        n_naive = 3 if var < 2.0 else 2
        t_naive = _time(naive_samples, cov, var, n, n_naive, 1000) / n_naive
    results[f"{cov}{var}_grid{n}" if cov != "poisson" else f"poisson_grid{n}"] = {
        "grid": n, "variance": var, "covariance": cov, "ours_s": t_ours, "naive_s": t_naive,
    }


def test_bare_sparse_solve(benchmark, results):
    """spsolve alone at grid 64 on a high-contrast k (the floor for one direct solve)."""
    card, family = effective_card("condiff", {"grid": "64"})
    k = family.generate(card, family.config(card, "cubic1.0_grid64"), "train", 0, 1)["k"][0]
    A = fv.condiff_matrix(k).tocsc()
    b = np.random.default_rng(0).normal(size=64 * 64)
    benchmark.pedantic(spla.spsolve, args=(A, b), rounds=10, iterations=1)
    results["_bare_solve_grid64_s"] = benchmark.stats.stats.mean


def test_pool_speedup(tmp_path, results):
    """Samples/s of a real 2-worker run vs a 1-worker run of the same plan."""
    from pdeforge.datasets.runner import generate_dataset

    over = {"grid": "64", "configs": "cubic1.0_grid64", "n_train": "60", "n_test": "0", "n_val": "0",
            "samples_per_shard": "20"}
    quiet = dict(progress=False, log=lambda *a: None)
    t1 = _time(lambda: generate_dataset("condiff", over, root=tmp_path / "w1", workers=1, **quiet))
    t2 = _time(lambda: generate_dataset("condiff", over, root=tmp_path / "w2", workers=2, **quiet))
    results["_pool_speedup_2_workers"] = t1 / t2


def table(results: dict) -> str:
    rows = [(k, v) for k, v in results.items() if not k.startswith("_")]
    lines = ["| config | pdeforge samples/s | naive samples/s | speed-up |", "|---|---:|---:|---:|"]
    tot_ours = tot_naive = 0.0
    for name, r in sorted(rows, key=lambda kv: (kv[1]["grid"], kv[1]["covariance"], kv[1]["variance"])):
        lines.append(f"| {name} | {1 / r['ours_s']:.1f} | {1 / r['naive_s']:.2f} | {r['naive_s'] / r['ours_s']:.1f}x |")
        tot_ours += PER_CONFIG * r["ours_s"]
        tot_naive += PER_CONFIG * r["naive_s"]
    lines.append("")
    if rows:
        sp = results.get("_pool_speedup_2_workers", CORES)
        lines.append(f"Configs measured: {len(rows)}. Whole family (these configs x {PER_CONFIG} samples): "
                     f"pdeforge {tot_ours / 60:.1f} CPU-min (~{tot_ours / sp / 60:.1f} min on {CORES} workers, "
                     f"measured pool speed-up {sp:.2f}x), naive {tot_naive / 60:.1f} CPU-min; "
                     f"speed-up {tot_naive / tot_ours:.1f}x single-core, {tot_naive / (tot_ours / sp):.1f}x with the pool.")
    if "_bare_solve_grid64_s" in results:
        g64 = [r["ours_s"] for _, r in rows if r["grid"] == 64]
        bare = results["_bare_solve_grid64_s"]
        if g64:
            lines.append(f"Bare spsolve at grid 64: {bare * 1e3:.1f} ms; pdeforge per-sample time at grid 64: "
                         f"median {np.median(g64) * 1e3:.1f} ms ({np.median(g64) / bare:.2f}x the bare solve), "
                         f"worst {max(g64) * 1e3:.1f} ms ({max(g64) / bare:.2f}x).")
    return "\n".join(lines) + "\n"
