"""What the sample figures share: number format, per-case parameter text, the atomic PNG save."""

from __future__ import annotations

from pathlib import Path


def fmt(x: float) -> str:
    return f"{x:.3g}"


def case_text(ds, row: int, width: int = 60) -> tuple[str, str]:
    """(parameter lines, Reynolds line) of case ``row``: every per-case scalar of role
    ``param`` with a unit (name=value unit; lines of at most ``width`` characters), and the
    dimensionless ones (Re, ...)."""
    params, numbers = [], []
    for k in ds.data_vars:
        da = ds[k]
        if da.attrs.get("role") != "param" or da.dims != ("sample",):
            continue
        val = float(da.isel(sample=row))
        units = str(da.attrs.get("units", ""))
        if units in ("", "1"):
            numbers.append(f"Re = {fmt(val)}" if k == "reynolds" else f"{k} = {fmt(val)}")
        else:
            params.append(f"{k}={fmt(val)} {units.replace('m s-1', 'm/s').replace('kg m-3', 'kg/m³')}")
    numbers.sort(key=lambda s: not s.startswith("Re "))
    lines, cur = [], ""
    for item in params:
        if cur and len(cur) + 2 + len(item) > width:
            lines.append(cur)
            cur = item
        else:
            cur = f"{cur}, {item}" if cur else item
    if cur:
        lines.append(cur)
    return "\n".join(lines), ", ".join(numbers)


def save_png(fig, out: Path, title: str | None) -> Path:
    """Title, layout, and the PNG written atomically (pdeforge.atomic); the figure is closed."""
    import matplotlib.pyplot as plt

    from pdeforge.atomic import atomic_path

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
    finally:
        plt.close(fig)
    return out
