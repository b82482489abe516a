"""Print the README's dataset table from the manifests of a generated family.

    python benchmarks/family_table.py condiff|darcy|darcy_pdebench|diffusion|ns2d [ROOT]

Per config: samples, bytes on disk, generation CPU seconds per sample (recorded by the
workers in the manifest), solver residuals, and the candidates drawn per accepted field.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np

from pdeforge.datasets import store


def _column(fh, name):
    return fh[name][()] if name in fh else None


def main(name: str, root: str | None = None) -> str:
    """One row per generated config of ``name``: samples, size, CPU time per sample, and the
    diagnostics the family stores (``n_candidates``: fields drawn per accepted sample;
    ``residual``: linear-solve residual), ``–`` where a family has none."""
    root_path = store.resolve_root(root)
    rows = ["| config | samples | size | CPU ms/sample | fields drawn/sample | max residual |",
            "|---|---:|---:|---:|---:|---:|"]
    tot_bytes = tot_cpu = tot_n = 0
    for cdir in store.find_config_dirs(root_path, name):
        m = store.read_manifest(cdir)
        n = size = 0
        cpu = 0.0
        cands, res = [], []
        for split in m["splits"].values():
            for s in split["shards"]:
                n += s["stop"] - s["start"]
                size += s["bytes"]
                cpu += s.get("generate_cpu_seconds", float("nan"))
                with h5py.File(cdir / s["file"], "r") as fh:
                    for out, var in ((cands, "n_candidates"), (res, "residual")):
                        v = _column(fh, var)
                        if v is not None:
                            out.append(np.ravel(v))
        drawn = f"{np.concatenate(cands).mean():.1f}" if cands else "–"
        worst = f"{np.concatenate(res).max():.1e}" if res else "–"
        rows.append(f"| {m['config']} | {n} | {size / 2**20:.0f} MiB | {1e3 * cpu / max(n, 1):.1f} | "
                    f"{drawn} | {worst} |")
        tot_bytes += size
        tot_cpu += cpu
        tot_n += n
    rows.append(f"| **all** | {tot_n} | {tot_bytes / 2**30:.2f} GiB | {1e3 * tot_cpu / max(tot_n, 1):.1f} "
                f"(total {tot_cpu / 60:.1f} CPU-min) | | |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
