"""``pdeforge plot``: a PNG of a few samples (each field on its own physical coordinates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_samples(ds, out: Path, n: int = 3, title: str = "") -> Path:
    """Plot ``n`` samples of every field variable of ``ds`` (an opened split) to ``out``.

    Arrays are stored as [sample, x, y]; they are drawn with x to the right and y up
    (``imshow`` of the transpose with ``origin="lower"`` and the coordinate extent).
    Variables whose values span more than two decades and are positive (e.g. k) are shown
    as log10.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # 2-D fields per sample, and time series (sample, t, x, y) shown at their last frame
    fields = [v for v in ds.data_vars if ds[v].ndim == 3 or (ds[v].ndim == 4 and "t" in ds[v].dims)]
    if not fields:
        raise ValueError("nothing to plot: no (sample, x, y) or (sample, t, x, y) variables")
    n = min(n, ds.sizes["sample"])
    fig, axes = plt.subplots(n, len(fields), figsize=(3.2 * len(fields), 2.9 * n), squeeze=False)
    for row in range(n):
        for col, name in enumerate(fields):
            da = ds[name].isel(sample=row)
            when = ""
            if "t" in da.dims:
                da = da.isel(t=-1)
                when = f" (t={float(da['t']) if 't' in da.coords else -1:.3g})"
            xd, yd = da.dims
            vals = np.asarray(da.values, dtype=float)
            label = name
            if vals.min() > 0 and vals.max() / vals.min() > 100:
                vals, label = np.log10(vals), f"log10 {name}"
            x, y = ds[xd].values, ds[yd].values
            dx = (x[-1] - x[0]) / max(len(x) - 1, 1) / 2
            dy = (y[-1] - y[0]) / max(len(y) - 1, 1) / 2
            im = axes[row, col].imshow(vals.T, origin="lower", extent=(x[0] - dx, x[-1] + dx, y[0] - dy, y[-1] + dy),
                                       cmap="viridis", aspect="equal")
            fig.colorbar(im, ax=axes[row, col], fraction=0.046)
            extra = ""
            if "contrast" in ds:
                extra = f"  (contrast {float(ds['contrast'].isel(sample=row)):.3g})"
            axes[row, col].set_title(f"{label}{when} #{int(ds['sample'][row])}{extra if col == 0 else ''}", fontsize=9)
            axes[row, col].set_xlabel(xd)
            axes[row, col].set_ylabel(yd)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
