"""Figures of steady flows on a grid with a fluid mask and DeepCFD inputs (the obstacle family).

Per case (row): the three DeepCFD input channels (signed distance to the obstacle, flow-region
labels, distance to the walls), then the speed |u| with streamlines and the pressure, the
obstacle masked (grey), all on the physical coordinates (m) with equal aspect; the panel titles
carry the case parameters, the shape and the Reynolds number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pdeforge.datasets.plot_common import case_text, fmt, save_png

#: the variables that make a split a steady obstacle flow
INPUTS = ("sdf_obstacle", "flow_region", "sdf_walls")
FIELDS = ("ux", "uy", "p", "mask")


def is_steady_obstacle(ds) -> bool:
    return all(k in ds.data_vars for k in INPUTS + FIELDS) and ds["ux"].dims == ("sample", "x", "y")


def _extent(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    dx, dy = x[1] - x[0], y[1] - y[0]
    return x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2


def shape_name(ds, row: int) -> str:
    if "shape" not in ds.data_vars:
        return ""
    names = [s.strip() for s in str(ds.attrs.get("shapes", "")).split(",")]
    k = int(ds["shape"].isel(sample=row))
    return names[k] if 0 <= k < len(names) else str(k)


def plot_obstacle_flow(ds, out: Path, n: int = 3, title: str = "") -> Path:
    """``n`` cases of an opened obstacle split to ``out`` (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = np.asarray(ds["x"].values, float), np.asarray(ds["y"].values, float)
    ext = _extent(x, y)
    n = min(n, ds.sizes["sample"])
    panels = list(INPUTS) + ["speed", "p"]
    fig, axes = plt.subplots(n, len(panels), figsize=(3.6 * len(panels), 2.5 * n), squeeze=False)
    for row in range(n):
        case = ds.isel(sample=row)
        fluid = np.asarray(case["mask"].values) > 0
        ptext, retext = case_text(ds, row, 50)
        for col, name in enumerate(panels):
            ax = axes[row, col]
            if name == "speed":
                u, v = (np.asarray(case[k].values, float) for k in ("ux", "uy"))
                vals, cmap, label = np.hypot(u, v), "viridis", "|u| (m/s)"
            elif name == "p":
                vals, cmap, label = np.asarray(case["p"].values, float), "plasma", "p (Pa)"
            else:
                vals = np.asarray(case[name].values, float)
                cmap = "tab10" if name == "flow_region" else "cividis"
                label = "label" if name == "flow_region" else f"{name} (m)"
            masked = name in ("speed", "p")
            img = np.ma.masked_where(~fluid, vals) if masked else vals
            cm = plt.get_cmap(cmap).with_extremes(bad="0.45")
            kw = dict(vmin=0, vmax=9) if name == "flow_region" else {}
            im = ax.imshow(img.T, origin="lower", extent=ext, cmap=cm, aspect="equal", interpolation="nearest", **kw)
            if name == "speed":
                ax.streamplot(x, y, np.ma.masked_where(~fluid, u).T, np.ma.masked_where(~fluid, v).T, color="white",
                              linewidth=0.5, density=(2.0, 1.0), arrowsize=0.5)
                ax.set_xlim(ext[0], ext[1])
                ax.set_ylim(ext[2], ext[3])
            fig.colorbar(im, ax=ax, fraction=0.025, pad=0.02, label=label)
            head = f"#{int(ds['sample'][row])} {name}"
            if col == 0:
                head += f" ({shape_name(ds, row)})"
                ax.set_title("\n".join(s for s in (head, ptext, retext) if s), fontsize=6)
            else:
                ax.set_title(head + (f", max {fmt(float(vals[fluid].max()))}" if masked and fluid.any() else ""),
                             fontsize=7)
            ax.tick_params(labelsize=6)
    return save_png(fig, out, title)
