"""``pdeforge plot``: a PNG of a few samples (each field on its own physical coordinates).

Flow datasets (a split with ``u`` and ``v`` that have a time dim ``t`` and a variable of role
``mask`` on their grid, e.g. the CFDBench family: cavity, tube, dam) get a flow figure instead
(:func:`plot_flow`): per case the velocity magnitude with streamlines and the pressure, at a
mid frame and the last frame, on the case's physical coordinates (``x_m``, ``y_m`` in metres
when stored), solids masked, and the case parameters and Reynolds number in each panel title.
Flows on unstructured meshes (the cylinder wake) get vorticity and force series
(:mod:`pdeforge.datasets.plot_mesh`); steady obstacle flows their DeepCFD inputs and fields
(:mod:`pdeforge.datasets.plot_steady`). Every other dataset gets one panel per field variable
(time series at their last frame).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pdeforge.datasets.plot_common import case_text, fmt, save_png


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

    from pdeforge.datasets.plot_mesh import is_mesh_flow, plot_mesh_flow
    from pdeforge.datasets.plot_steady import is_steady_obstacle, plot_obstacle_flow

    if is_steady_obstacle(ds):
        return plot_obstacle_flow(ds, out, n=n, title=title)
    if is_mesh_flow(ds):
        return plot_mesh_flow(ds, out, n=n, title=title)
    if flow_variables(ds) is not None:
        return plot_flow(ds, out, n=n, title=title)
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
    return save_png(fig, out, title)


# --------------------------------------------------------------------------------------- flows


def flow_variables(ds):
    """``(u, v, p or None, mask)`` variable names when ``ds`` is a flow split, else None.

    A flow split has ``u`` and ``v`` of dims (sample, t, X, Y) and a variable with attribute
    ``role = "mask"`` of dims (sample, X, Y) on the same grid (1 = fluid); ``p`` is used when it
    has the same dims as ``u``."""
    if "u" not in ds.data_vars or "v" not in ds.data_vars:
        return None
    dims = ds["u"].dims
    if ds["v"].dims != dims or len(dims) != 4 or dims[:2] != ("sample", "t"):
        return None
    masks = [k for k in ds.data_vars
             if ds[k].attrs.get("role") == "mask" and ds[k].dims == ("sample", *dims[2:])]
    if not masks:
        return None
    p = "p" if "p" in ds.data_vars and ds["p"].dims == dims else None
    return "u", "v", p, masks[0]


def _case_coords(ds, row: int, xd: str, yd: str):
    """Physical cell-centre coordinates of case ``row`` (``x_m``/``y_m`` when stored, in m),
    else the shared coordinates; and the axis unit."""
    if "x_m" in ds.data_vars and "y_m" in ds.data_vars \
            and ds["x_m"].dims == ("sample", xd) and ds["y_m"].dims == ("sample", yd):
        return (np.asarray(ds["x_m"].isel(sample=row).values, float),
                np.asarray(ds["y_m"].isel(sample=row).values, float), "m")
    return np.asarray(ds[xd].values, float), np.asarray(ds[yd].values, float), ""


def _edges(c: np.ndarray) -> tuple[float, float]:
    h = (c[-1] - c[0]) / max(len(c) - 1, 1) / 2 if len(c) > 1 else 0.5
    return float(c[0] - h), float(c[-1] + h)


def plot_flow(ds, out: Path, n: int = 3, title: str = "", mid: bool = True) -> Path:
    """Per case (row): |u| with streamlines and p at a mid frame (``mid``, when there are ≥ 3
    frames) and at the last frame, on the case's physical coordinates with equal aspect.

    Solid cells (mask 0) are masked (grey). The speed colour range is 0 … max over the fluid;
    the pressure's is the 1st–99th percentile of the fluid values (the lid corners of a cavity
    are pressure singularities that would otherwise take the whole range; the colour bar shows
    the clipping), diverging and symmetric about 0 (white) when it straddles 0, sequential otherwise. Each panel title: case number, field, convective time t (and physical time,
    when ``frame_time`` is stored), the case parameters and the Reynolds number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    uname, vname, pname, mname = flow_variables(ds)
    xd, yd = ds[uname].dims[2:]
    nt = ds.sizes["t"]
    frames = ([nt // 2] if mid and nt >= 3 else []) + [nt - 1]
    fields = ["speed"] + (["p"] if pname else [])
    ncol = len(frames) * len(fields)
    n = min(n, ds.sizes["sample"])
    # panel size from the domain's aspect ratio (the first case; cases differ only mildly)
    x0, y0, _ = _case_coords(ds, 0, xd, yd)
    aspect = (x0[-1] - x0[0] + 1e-300) / (y0[-1] - y0[0] + 1e-300)
    pw = float(np.clip(2.8 * np.sqrt(aspect), 3.4, 6.0))
    chars = int(pw * 13)  # title characters per line at fontsize 7
    n_title = max(len("\n".join(case_text(ds, r, chars)).splitlines()) for r in range(n)) + 1
    ph = float(np.clip(0.72 * pw / aspect, 1.0, 3.6)) + 0.8 + 0.16 * n_title
    fig, axes = plt.subplots(n, ncol, figsize=(pw * ncol, ph * n), squeeze=False)
    for row in range(n):
        case = ds.isel(sample=row)
        x, y, unit = _case_coords(ds, row, xd, yd)
        ext = (*_edges(x), *_edges(y))
        fluid = np.asarray(case[mname].values) > 0
        ptext, retext = case_text(ds, row, chars)
        for fi, k in enumerate(frames):
            u = np.asarray(case[uname].isel(t=k).values, float)
            v = np.asarray(case[vname].isel(t=k).values, float)
            tc = float(ds["t"][k])
            when = f"t = {fmt(tc)}"
            if "frame_time" in ds.data_vars and ds["frame_time"].dims == ("sample", "t"):
                when += f" ({fmt(float(case['frame_time'].isel(t=k)))} s)"
            for ci, field in enumerate(fields):
                ax = axes[row, fi * len(fields) + ci]
                if field == "speed":
                    vals = np.hypot(u, v)
                    vmax = float(vals[fluid].max()) if fluid.any() else 0.0
                    kw = dict(cmap="viridis", vmin=0.0, vmax=vmax if vmax > 0 else 1.0)
                    label, extend = "|u| (m/s)" if unit else "|u|", "neither"
                else:
                    vals = np.asarray(case[pname].isel(t=k).values, float)
                    lo, hi = np.percentile(vals[fluid], [1, 99]) if fluid.any() else (0.0, 1.0)
                    if hi <= lo:
                        lo, hi = lo - 1.0, hi + 1.0
                    if lo < 0 < hi:  # diverging, white = 0, the same scale on both sides
                        lo, hi = -max(-lo, hi), max(-lo, hi)
                        kw = dict(cmap="RdBu_r", vmin=lo, vmax=hi)
                    else:  # one sign (e.g. a channel's pressure above the outlet's p = 0)
                        kw = dict(cmap="plasma", vmin=lo, vmax=hi)
                    label = f"p ({ds[pname].attrs.get('units', '')})".replace(" ()", "")
                    extend = "both"
                cmap = plt.get_cmap(kw.pop("cmap")).with_extremes(bad="0.45")
                img = np.ma.masked_where(~fluid, vals)
                im = ax.imshow(img.T, origin="lower", extent=ext, cmap=cmap, aspect="equal",
                               interpolation="nearest", **kw)
                if field == "speed" and vmax > 0:
                    um = np.ma.masked_where(~fluid, u)
                    vm = np.ma.masked_where(~fluid, v)
                    dens = (float(np.clip(aspect, 0.6, 3.0)), 1.0) if aspect >= 1 else \
                        (1.0, float(np.clip(1 / aspect, 0.6, 3.0)))
                    ax.streamplot(x, y, um.T, vm.T, color="white", linewidth=0.6, density=dens,
                                  arrowsize=0.6)
                    ax.set_xlim(ext[0], ext[1])
                    ax.set_ylim(ext[2], ext[3])
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, extend=extend, label=label)
                head = f"#{int(ds['sample'][row])} {'|u| + streamlines' if field == 'speed' else 'p'}, {when}"
                ax.set_title("\n".join(s for s in (head, ptext, retext) if s), fontsize=7)
                ax.set_xlabel(f"x ({unit})" if unit else xd, fontsize=8)
                ax.set_ylabel(f"y ({unit})" if unit else yd, fontsize=8)
                ax.tick_params(labelsize=7)
    return save_png(fig, out, title)
