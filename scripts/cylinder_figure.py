"""The DFG 2D-2 case through the cylinder family: vorticity snapshots and c_D / c_L with the DFG band.

Solves one case with ``pdeforge solve cylinder`` (the card's default mesh and time step; DFG
2D-2: U = 1 m/s mean, ρ = 1, μ = 1e-3, D = 0.1 at (0.2, 0.2), Re = 100) into OUT_DIR/dfg2d2.nc,
prints St, c_D,max, c_L,max over the last four lift periods against the DFG bands, and draws
docs/img/cylinder_dfg.png. ``python scripts/cylinder_figure.py [OUT_DIR] [key=value ...]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from pdeforge.cli import main as cli
from pdeforge.datasets.plot_mesh import plot_mesh_flow
from pdeforge.generators.fem.ns.dfg import THRESHOLDS

CASE = ["inlet_velocity=1", "density=1", "viscosity=0.001", "radius=0.05", "center_x=0.2", "center_y=0.2"]
BANDS = {"c_D": (3.22, 3.24), "c_L": (0.99, 1.01)}


def _peak(c: np.ndarray) -> float:
    i = int(np.argmax(c))
    if 0 < i < len(c) - 1:
        y0, y1, y2 = c[i - 1: i + 2]
        den = y0 - 2 * y1 + y2
        return float(y1 - 0.125 * (y2 - y0) ** 2 / den) if den < 0 else float(y1)
    return float(c[i])


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv and "=" not in argv[0] else Path(".benchmarks")
    extra = [a for a in argv if "=" in a]
    out_dir.mkdir(parents=True, exist_ok=True)
    nc = out_dir / "dfg2d2.nc"
    t0, c0 = time.time(), time.process_time()
    rc = cli(["solve", "cylinder", *CASE, *extra, "--out", str(nc)])
    if rc:
        return rc
    print(f"solve: {time.time() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU")
    from pdeforge.generators.fem.ns import strouhal

    with xr.open_dataset(nc) as ds:
        ds = ds.load()
    t = ds["frame_time"].values[0]
    cD, cL = ds["c_D"].values[0], ds["c_L"].values[0]
    late = t > t[-1] / 2
    mid = 0.5 * (cL[late].max() + cL[late].min())
    st = strouhal(t[late], cL[late] - mid, 0.1, 1.0, periods=4)
    a, b = st["t_window"]
    w = (t >= a) & (t <= b)
    rows = {"St": st["St"], "c_D,max": _peak(cD[w]), "c_L,max": _peak(cL[w])}
    ref = {"St": THRESHOLDS["2d2"]["St"], "c_D,max": BANDS["c_D"], "c_L,max": BANDS["c_L"]}
    print(f"dofs {int(ds['dofs'].values[0])}, max relative divergence {float(ds['max_divergence_rel'].values[0]):.4f}")
    print("| quantity | value | DFG band |\n|---|---:|---|")
    for k, v in rows.items():
        print(f"| {k} | {v:.4f} | [{ref[k][0]}, {ref[k][1]}] |")
    nt = ds.sizes["t"]
    png = plot_mesh_flow(ds, Path("docs/img/cylinder_dfg.png"), n=1, frames=[nt // 4, nt - 1], bands=BANDS,
                         title="DFG 2D-2 (Re = 100) through `pdeforge solve cylinder`: vorticity and forces")
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
