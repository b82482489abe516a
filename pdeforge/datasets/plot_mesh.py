r"""Figures of flows stored on unstructured meshes (the cylinder wake): vorticity and force series.

A *mesh-flow* split stores ``u``, ``v`` of dims (sample, t, node) with the case's mesh as
``node_x``, ``node_y`` (sample, node; m), ``triangles`` (sample, triangle, corner) and the used
sizes ``n_nodes``, ``n_triangles`` (the arrays are padded to a common capacity).

Vorticity ω = ∂v/∂x − ∂u/∂y (1/s) is drawn per triangle from the linear interpolant of the vertex
values: on a triangle with vertices 0, 1, 2, ∂f/∂x = ((f₁−f₀)(y₂−y₀) − (f₂−f₀)(y₁−y₀)) / det and
∂f/∂y = ((f₂−f₀)(x₁−x₀) − (f₁−f₀)(x₂−x₀)) / det, det = (x₁−x₀)(y₂−y₀) − (x₂−x₀)(y₁−y₀). The
colour scale is symmetric about 0, clipped at the 97th percentile of |ω| (the cylinder's
boundary layer would otherwise take the whole range; the colour bar shows the clipping). When the
split stores ``c_D`` and ``c_L`` (sample, t), each row ends with their time series; ``bands``
draws reference intervals of their maxima (e.g. DFG 2D-2: c_D,max ∈ [3.22, 3.24], c_L,max ∈
[0.99, 1.01]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: percentile of |ω| where the colour scale clips
CLIP = 97
MESH_VARS = ("node_x", "node_y", "triangles", "n_nodes", "n_triangles")


def is_mesh_flow(ds) -> bool:
    """True when ``ds`` stores u, v on mesh nodes with the mesh (module docstring)."""
    if not all(k in ds.data_vars for k in ("u", "v", *MESH_VARS)):
        return False
    return ds["u"].dims == ds["v"].dims and len(ds["u"].dims) == 3 and ds["u"].dims[:2] == ("sample", "t")


def case_mesh(ds, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, triangles) of case ``row``, without the padding."""
    case = ds.isel(sample=row)
    n, m = int(case["n_nodes"]), int(case["n_triangles"])
    return (np.asarray(case["node_x"].values[:n], float), np.asarray(case["node_y"].values[:n], float),
            np.asarray(case["triangles"].values[:m], np.int64))


def vorticity(x: np.ndarray, y: np.ndarray, tri: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """ω per triangle (1/s) from vertex values (module docstring)."""
    i0, i1, i2 = tri.T
    x10, x20, y10, y20 = x[i1] - x[i0], x[i2] - x[i0], y[i1] - y[i0], y[i2] - y[i0]
    det = x10 * y20 - x20 * y10

    def grad(f):
        f10, f20 = f[i1] - f[i0], f[i2] - f[i0]
        return (f10 * y20 - f20 * y10) / det, (f20 * x10 - f10 * x20) / det

    dv_dx, _ = grad(v)
    _, du_dy = grad(u)
    return dv_dx - du_dy


def plot_mesh_flow(ds, out: Path, n: int = 3, title: str = "", frames: list[int] | None = None,
                   bands: dict[str, tuple[float, float]] | None = None) -> Path:
    """Per case (row): vorticity at ``frames`` (default: the middle and the last frame) and, when
    stored, the c_D / c_L series; see the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    from pdeforge.datasets.plot_common import case_text, fmt, save_png

    nt = ds.sizes["t"]
    frames = frames if frames is not None else ([nt // 2] if nt >= 3 else []) + [nt - 1]
    forces = "c_D" in ds.data_vars and "c_L" in ds.data_vars
    n = min(n, ds.sizes["sample"])
    x0, y0, _ = case_mesh(ds, 0)
    aspect = (np.ptp(x0) + 1e-300) / (np.ptp(y0) + 1e-300)
    width = 11.0
    # one panel per row: each case's frames, then its force series
    heights = ([float(np.clip(0.8 * width / aspect, 1.2, 6.0)) + 0.9] * len(frames) + ([2.4] if forces else [])) * n
    fig, axes = plt.subplots(len(heights), 1, figsize=(width, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    axes = axes[:, 0]
    per_case = len(frames) + (1 if forces else 0)
    for row in range(n):
        case = ds.isel(sample=row)
        x, y, tri = case_mesh(ds, row)
        tr = Triangulation(x, y, tri)
        ptext, retext = case_text(ds, row, 150)
        for col, k in enumerate(frames):
            u = np.asarray(case["u"].isel(t=k).values[: x.size], float)
            v = np.asarray(case["v"].isel(t=k).values[: x.size], float)
            w = vorticity(x, y, tri, u, v)
            lim = float(np.percentile(np.abs(w), CLIP)) or 1.0
            ax = axes[row * per_case + col]
            im = ax.tripcolor(tr, facecolors=w, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="flat")
            ax.set_aspect("equal")
            when = f"t = {fmt(float(ds['t'][k]))}"
            if "frame_time" in ds.data_vars:
                when += f" ({fmt(float(case['frame_time'].isel(t=k)))} s)"
            head = f"#{int(ds['sample'][row])} vorticity (1/s), {when}"
            ax.set_title("\n".join(s for s in (head, ptext, retext) if s), fontsize=7)
            ax.set_xlabel("x (m)", fontsize=8)
            ax.set_ylabel("y (m)", fontsize=8)
            ax.tick_params(labelsize=7)
            fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01, extend="both")
        if forces:
            ax = axes[row * per_case + len(frames)]
            t = np.asarray(ds["t"].values, float)[1:]  # frame 0 (the start) has no forces
            for name, colour in (("c_D", "C0"), ("c_L", "C3")):
                ax.plot(t, np.asarray(case[name].values, float)[1:], color=colour, lw=0.8, label=name)
                if bands and name in bands:
                    lo, hi = bands[name]
                    ax.axhspan(lo, hi, color=colour, alpha=0.3, lw=0, label=f"{name},max reference band")
            ax.set_xlabel(str(ds["t"].attrs.get("long_name", "t")), fontsize=8)
            ax.set_title(f"#{int(ds['sample'][row])} drag and lift coefficients", fontsize=7)
            ax.legend(fontsize=6, loc="center right", ncols=2)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    return save_png(fig, out, title)
