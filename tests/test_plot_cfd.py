"""`pdeforge plot` for flow datasets (cavity, dam): |u| + streamlines and p per case, on the
case's metres, solids masked; detection is generic (u, v with a time dim + a role=mask
variable), so other datasets keep their per-field figure."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from pdeforge import open_dataset
from pdeforge.cli import main
from pdeforge.datasets.family import effective_card
from pdeforge.datasets.plot import flow_variables, plot_samples
from pdeforge.datasets.runner import generate_dataset

CONFIG = "geo_grid60x16"  # tiny: 60 x 16 cells, 3 frames; geo varies the geometry (metres differ per case)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfdplot")
    for name in ("cavity", "dam"):
        tiny = {**effective_card(name)[1].tiny, "configs": "geo"}
        generate_dataset(name, tiny, root=root, workers=1, progress=False, log=lambda *a: None)
    return root


def _grey_pixels(png) -> int:
    """Pixels inside 5 x 5 patches of the solid colour (0.45 grey): areas, not anti-aliased text."""
    import matplotlib.image as mpimg

    img = mpimg.imread(png)[..., :3]
    g = np.abs(img - 115 / 255).max(axis=-1) < 2 / 255
    core = g[2:-2, 2:-2].copy()
    for di in range(-2, 3):
        for dj in range(-2, 3):
            core &= g[2 + di:g.shape[0] - 2 + di, 2 + dj:g.shape[1] - 2 + dj]
    return int(core.sum())


@pytest.mark.parametrize("name", ["cavity", "dam"])
def test_flow_plot_writes_a_png(tiny, tmp_path, name):
    ds = open_dataset(name, config=CONFIG, split="train", root=tiny)
    assert flow_variables(ds) == ("u", "v", "p", "mask")
    out = plot_samples(ds, tmp_path / f"{name}.png", n=2, title=f"{name} {CONFIG}")
    assert out.stat().st_size > 50_000
    # the dam's block is drawn masked (grey); the cavity has no solid cells
    grey = _grey_pixels(out)
    assert (grey > 200) if name == "dam" else (grey == 0), grey


def test_cli_plot_dam(capsys, tiny, tmp_path):
    png = tmp_path / "dam.png"
    code = main(["--root", str(tiny), "plot", "dam", f"config={CONFIG}", "split=test", "n=3", "--out", str(png)])
    assert code == 0 and "wrote" in capsys.readouterr().out
    assert png.stat().st_size > 30_000


def test_flow_detection_is_generic(tmp_path):
    rng = np.random.default_rng(0)
    dims = ("sample", "t", "x", "y")
    base = {"u": (dims, rng.normal(size=(2, 3, 8, 6))), "v": (dims, rng.normal(size=(2, 3, 8, 6)))}
    coords = {"sample": [0, 1], "t": [0.0, 0.5, 1.0], "x": (np.arange(8) + 0.5) / 8,
              "y": (np.arange(6) + 0.5) / 6}
    # u, v without a mask (e.g. a reaction-diffusion pair): not a flow
    assert flow_variables(xr.Dataset(base, coords=coords)) is None
    # a mask on another grid does not count
    other = xr.Dataset({**base, "m4": (("sample", "x4", "y4"), np.ones((2, 4, 4)), {"role": "mask"})},
                       coords=coords)
    assert flow_variables(other) is None
    mask = np.ones((2, 8, 6), np.int8)
    mask[:, 3:5, :2] = 0
    ds = xr.Dataset({**base, "solid_free": (("sample", "x", "y"), mask, {"role": "mask"}),
                     "speed_ref": (("sample",), [1.0, 2.0], {"role": "param", "units": "m s-1"}),
                     "reynolds": (("sample",), [10.0, 20.0], {"role": "param", "units": "1"})},
                    coords=coords)
    assert flow_variables(ds) == ("u", "v", None, "solid_free")
    # no pressure, no per-case metres: |u| + streamlines on the shared coordinates
    out = plot_samples(ds, tmp_path / "synthetic.png", n=2)
    assert out.stat().st_size > 10_000
