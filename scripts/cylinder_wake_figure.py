"""docs/img/cylinder_wake.png: three shedding cases of the generated `cylinder/all` train split.

Picks, among the cases whose lift oscillates (``c_L_amplitude`` > 0.05 over the last quarter of the
run), the lowest, the median and the highest Reynolds number, and draws their vorticity at the
mid and last frames with the c_D / c_L series (:func:`pdeforge.datasets.plot_mesh.plot_mesh_flow`).
Needs the generated split (``make dataset name=cylinder configs=all``).

    python scripts/cylinder_wake_figure.py [--out docs/img/cylinder_wake.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/img/cylinder_wake.png")
    ap.add_argument("--root", default=None)
    args = ap.parse_args(argv)

    from pdeforge import open_dataset
    from pdeforge.datasets.plot_mesh import plot_mesh_flow

    ds = open_dataset("cylinder", "all", "train", root=args.root)
    re, amp = ds["reynolds"].values, ds["c_L_amplitude"].values
    shed = [int(i) for i in np.argsort(re) if amp[i] > 0.05]
    if not shed:
        raise SystemExit("no shedding case in cylinder/all/train")
    pick = sorted({shed[0], shed[len(shed) // 2], shed[-1]}, key=lambda i: re[i])
    print(f"{len(shed)} of {re.size} cases shed; drawing samples {pick} (Re {', '.join(f'{re[i]:.1f}' for i in pick)})")
    plot_mesh_flow(ds.isel(sample=pick), Path(args.out), n=len(pick),
                   title="cylinder/all: shedding cases, vorticity at t = 28 and 56 D/U, c_D and c_L")


if __name__ == "__main__":
    main()
