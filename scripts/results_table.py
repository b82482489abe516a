"""Markdown table of trained runs (``runs/<dataset>/<config>/<label>/run.json``) for the README.

    python scripts/results_table.py [RUNS_DIR]

Columns: test rel-L2 (per-sample mean, model chosen on val), best val rel-L2, parameters,
epochs, training wall time, inference time per sample (batched, CPU/GPU as recorded), the
generator's CPU time per sample, and their ratio. Published ConDiff reference values are
shown beside where the paper reports them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: ConDiff paper, test relative L2 (mean ± std) where reported
PUBLISHED = {
    ("poisson_grid64", "dilresnet"): "0.016 ± 0.005",
    ("cubic0.1_grid64", "dilresnet"): "0.071 ± 0.02",
    ("poisson_grid64", "unet"): "0.02 ± 0.007",
}


def main(runs: str = "runs") -> str:
    rows = ["| config | model | test rel-L2 | val rel-L2 | published | params | epochs | train time | "
            "inference ms/sample | generator ms/sample |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for path in sorted(Path(runs).glob("*/*/*/run.json")):
        r = json.loads(path.read_text())
        model = r["model"]
        rows.append(
            f"| {r['config']} | {r['model_label']} | {r['test_rel_l2']:.3f} | {r['best_val_rel_l2']:.3f} | "
            f"{PUBLISHED.get((r['config'], model), '')} | {r['parameters']:,} | {r['epochs']} | "
            f"{r['train_wall_seconds'] / 60:.1f} min | {1e3 * r['inference_seconds_per_sample']:.2f} | "
            f"{1e3 * r['solver_seconds_per_sample']:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
