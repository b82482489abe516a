"""Predictions versus truth on a grid: per test case and target (a row), the truth, the prediction
and the pointwise error (prediction − truth), the solid masked where the split has a fluid mask
on the targets' grid; truth and prediction share one colour scale, the error a symmetric one.
Each row is titled with its case's relative L2 error (over the fluid). Time-series targets are
shown at their last frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pdeforge.datasets.plot_common import fmt, save_png
from pdeforge.errors import InvalidValueError


def _grid_mask(truth, field: str):
    spatial = [d for d in truth[field].dims if d not in ("sample", "t")]
    for name, da in truth.data_vars.items():
        if da.attrs.get("role") == "mask" and [d for d in da.dims if d != "sample"] == spatial:
            return name
    return None


def plot_predictions(truth, pred, out: Path, n: int = 3, title: str = "") -> Path:
    """``n`` test cases of ``pred`` (a predictions file, opened) against ``truth`` (the opened test
    split) to ``out``; ``pred``'s data variables are the targets (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = list(pred.data_vars)
    missing = [f for f in fields if f not in truth.data_vars]
    if missing:
        raise InvalidValueError(f"predictions hold {missing}, which the test split lacks")
    ids = np.asarray(pred["sample"].values)[: max(1, n)]
    nrow = len(ids) * len(fields)
    sdims = [d for d in truth[fields[0]].dims if d not in ("sample", "t")]
    if len(sdims) != 2:
        raise InvalidValueError(f"plotting predictions needs 2-D fields, {fields[0]!r} has grid dims {sdims}")
    xs, ys = (np.asarray(truth[d].values, float) for d in sdims)
    aspect = (xs[-1] - xs[0]) / max(ys[-1] - ys[0], 1e-300)
    pw = float(np.clip(2.4 * np.sqrt(aspect), 2.6, 5.0))
    fig, axes = plt.subplots(nrow, 3, figsize=(3 * (pw + 0.8), nrow * (pw / aspect + 0.5)), squeeze=False)
    for row, sid in enumerate(ids):
        tcase = truth.sel(sample=sid)
        pcase = pred.sel(sample=sid)
        for fi, f in enumerate(fields):
            t = np.asarray(tcase[f].values, float)
            p = np.asarray(pcase[f].values, float)
            if "t" in truth[f].dims:
                t, p = t[-1], p[-1]
            mname = _grid_mask(truth, f)
            fluid = np.asarray(tcase[mname].values) > 0 if mname else np.ones(t.shape, bool)
            err = p - t
            rel = float(np.linalg.norm(err[fluid]) / max(np.linalg.norm(t[fluid]), 1e-300))
            lo, hi = float(t[fluid].min()), float(t[fluid].max())
            emax = float(np.abs(err[fluid]).max()) or 1.0
            ext = (xs[0], xs[-1], ys[0], ys[-1])
            for k, (vals, kind) in enumerate(((t, "truth"), (p, "prediction"), (err, "error"))):
                ax = axes[row * len(fields) + fi, k]
                cm = plt.get_cmap("RdBu_r" if kind == "error" else "viridis").with_extremes(bad="0.45")
                kw = dict(vmin=-emax, vmax=emax) if kind == "error" else dict(vmin=lo, vmax=hi)
                im = ax.imshow(np.ma.masked_where(~fluid, vals).T, origin="lower", extent=ext, cmap=cm, aspect="equal",
                               interpolation="nearest", **kw)
                fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
                head = f"#{int(sid)} {f} {kind}"
                if kind == "error":
                    head += f" (rel L2 {fmt(rel)})"
                ax.set_title(head, fontsize=7)
                ax.tick_params(labelsize=6)
    return save_png(fig, out, title)
