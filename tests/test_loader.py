"""The uniform loader: shapes, values, grid mapping, resolution, rollout, normalisation, workers, errors."""

from __future__ import annotations

import hashlib
import os
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pdeforge.datasets import store
from pdeforge.datasets.manifest import MANIFEST_FORMAT
from pdeforge.datasets.grid import GridMap, available_resolutions, coarse_indices, to_grid
from pdeforge.datasets.loader import TorchDataset, make_loader
from pdeforge.datasets.shard_reader import _Rows, direct_rows
from pdeforge.datasets.normalize import STATS_FILE, compute_stats, load_stats
from pdeforge.datasets.runner import generate_dataset
from pdeforge.datasets.schema import FORMAT, check_shard
from pdeforge.errors import CorruptFileError, InvalidValueError, UnknownNameError
from pdeforge.generators import fv

QUIET = dict(workers=1, progress=False, log=lambda *a: None)


def four_point_mean(k: np.ndarray) -> np.ndarray:
    return 0.25 * (k[..., :-1, :-1] + k[..., 1:, :-1] + k[..., :-1, 1:] + k[..., 1:, 1:])


def view(root, config, split="train"):
    return store.open_split("condiff", config=config, split=split, root=root).load()


# --- shapes and values ---------------------------------------------------------------------------


def test_shapes_dtypes_and_metadata(tiny_root):
    ds = TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, normalize=False)
    assert len(ds) == 6
    x, y = ds[0]
    assert x.dtype == y.dtype == torch.float32
    assert tuple(x.shape) == (2, 16, 16) and tuple(y.shape) == (1, 16, 16)
    assert ds.inputs == ("k", "f") and ds.targets == ("u",)  # from the shard attrs (card [task])
    assert ds.variables == {"inputs": ["k", "f"], "targets": ["u"]}
    assert list(ds.coords) == ["x", "y"]
    np.testing.assert_array_equal(ds.coords["x"], fv.interior_coords(16))
    assert ds.grid_shape == (16, 16)
    xb, yb = next(iter(make_loader(ds, batch_size=4, shuffle=False)))
    assert tuple(xb.shape) == (4, 2, 16, 16) and tuple(yb.shape) == (4, 1, 16, 16)
    # a plain DataLoader (torch's default collate over __getitems__) gives the same batch
    xd, yd = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert torch.equal(xd, xb) and torch.equal(yd, yb)
    assert torch.equal(xb[3], ds[3][0])
    with pytest.raises(IndexError):
        ds[6]
    np.testing.assert_array_equal(ds[-1][1], ds[5][1])


@pytest.mark.parametrize("config,split", [("cubic0.1_grid16", "train"), ("gaussian2.0_grid16", "test")])
def test_values_equal_the_xarray_view(tiny_root, config, split):
    ds = TorchDataset("condiff", config=config, split=split, root=tiny_root, normalize=False)
    ref = view(tiny_root, config, split)
    rng = np.random.default_rng(0)
    picks = sorted(set(rng.integers(0, len(ds), 4).tolist()) | {len(ds) - 1})
    for i in picks:
        x, y = ds[i]
        k, f, u = (ref[v].values[i] for v in ("k", "f", "u"))
        np.testing.assert_array_equal(x[1].numpy(), f.astype(np.float32))
        np.testing.assert_array_equal(y[0].numpy(), u.astype(np.float32))
        np.testing.assert_allclose(x[0].numpy(), four_point_mean(k), rtol=1e-6)
        assert ds.sample_id(i) == int(ref["sample"][i])
    # a batch through __getitems__ holds the same samples in the order asked for
    batch = ds.__getitems__([picks[-1], picks[0]])
    np.testing.assert_array_equal(batch.x[0].numpy(), ds[picks[-1]][0].numpy())
    np.testing.assert_array_equal(batch.y[1].numpy(), ds[picks[0]][1].numpy())


def test_in_memory_gives_the_same_samples(tiny_root):
    lazy = TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, normalize=False)
    mem = TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, normalize=False, in_memory=True)
    for i in range(len(lazy)):
        for a, b in zip(lazy[i], mem[i]):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_explicit_inputs_and_scalar_channels(tiny_root):
    ds = TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, normalize=False,
                      inputs=["f", "contrast"], targets="u")
    ref = view(tiny_root, "cubic0.1_grid16")
    x, _ = ds[2]
    assert ds.x_channels == ["f", "contrast"]
    np.testing.assert_array_equal(x[1].numpy(), np.full((16, 16), ref["contrast"].values[2], dtype=np.float32))


# --- grid mapping ----------------------------------------------------------------------------------


def test_to_grid_is_exact_on_bilinear_functions():
    rng = np.random.default_rng(1)
    xs = np.sort(rng.uniform(0, 1, 23)); ys = np.sort(rng.uniform(0, 2, 17))  # irregular source grid
    xd = rng.uniform(xs[0], xs[-1], 31); yd = rng.uniform(ys[0], ys[-1], 12)  # unsorted targets
    xd[:3] = xs[[0, 5, -1]]  # include points that coincide with source points (injection)

    def bilinear(x, y, c):
        X, Y = np.meshgrid(x, y, indexing="ij")
        return c[0] + c[1] * X + c[2] * Y + c[3] * X * Y

    coeffs = rng.normal(size=(3, 4))
    values = np.stack([bilinear(xs, ys, c) for c in coeffs])  # leading axis carried along
    got = to_grid(values, (xs, ys), (xd, yd))
    want = np.stack([bilinear(xd, yd, c) for c in coeffs])
    assert got.shape == (3, 31, 12)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # a non-bilinear function is not reproduced exactly (the check can fail)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    Xd, Yd = np.meshgrid(xd, yd, indexing="ij")
    assert np.abs(to_grid(X**2, (xs, ys), (xd, yd)) - Xd**2).max() > 1e-6
    # same for the staggered ConDiff geometry (the equal-weight fast path) and 1-D / 3-D grids
    xn, xi = fv.coefficient_coords(16), fv.interior_coords(16)
    np.testing.assert_allclose(to_grid(bilinear(xn, xn, coeffs[0]), (xn, xn), (xi, xi)),
                               bilinear(xi, xi, coeffs[0]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_grid(2 + 3 * xs, (xs,), (xd,)), 2 + 3 * xd, rtol=1e-12)
    zs = np.linspace(0, 1, 5)
    V = xs[:, None, None] * ys[None, :, None] * zs[None, None, :]
    np.testing.assert_allclose(to_grid(V, (xs, ys, zs), (xd, yd, zs[:3] + 0.1)),
                               xd[:, None, None] * yd[None, :, None] * (zs[:3] + 0.1)[None, None, :],
                               rtol=1e-12, atol=1e-12)


def test_to_grid_gives_the_four_point_mean_for_condiff():
    n = 16
    xn, xi = fv.coefficient_coords(n), fv.interior_coords(n)
    k = np.exp(np.random.default_rng(2).normal(size=(3, n + 1, n + 1)))
    got = to_grid(k, (xn, xn), (xi, xi))
    assert got.shape == (3, n, n)
    np.testing.assert_allclose(got, four_point_mean(k), rtol=1e-14)
    # every k point is used: the last row and column of k change the last row/column of the result
    k2 = k.copy(); k2[:, -1, :] *= 10; k2[:, :, -1] *= 10
    diff = to_grid(k2, (xn, xn), (xi, xi)) != got
    assert diff[:, -1, :].all() and diff[:, :, -1].all() and not diff[:, :-1, :-1].any()
    # mapping into a float32 slot (the loader's path) casts once at the end
    out = np.empty((n, n), np.float32)
    GridMap((xn, xn), (xi, xi))(k[0], out=out)
    np.testing.assert_array_equal(out, four_point_mean(k[0]).astype(np.float32))


def test_to_grid_never_extrapolates():
    xs = np.linspace(0, 1, 5)
    with pytest.raises(InvalidValueError, match="outside the source coordinates"):
        to_grid(np.zeros((5, 5)), (xs, xs), (xs, np.array([0.5, 1.2])))


# --- resolution --------------------------------------------------------------------------------------


def test_available_resolutions_rule():
    # ConDiff's interior-node grids: x_i = (i+1)/(n+1); injection needs (n+1) % (m+1) == 0
    for n in (15, 16, 64, 127):
        want = [m for m in range(1, n + 1) if (n + 1) % (m + 1) == 0]
        assert available_resolutions(fv.interior_coords(n), (0.0, 1.0)) == want
    assert available_resolutions(fv.interior_coords(127), (0, 1)) == [1, 3, 7, 15, 31, 63, 127]
    assert available_resolutions(fv.interior_coords(64), (0, 1)) == [4, 12, 64]
    np.testing.assert_array_equal(coarse_indices(fv.interior_coords(15), (0, 1), 7), np.arange(1, 15, 2))
    # other layouts follow from the same rule: cell centres (odd ratios) and periodic grids
    assert available_resolutions((np.arange(9) + 0.5) / 9, (0, 1)) == [1, 3, 9]
    assert available_resolutions(np.arange(8) / 8, (0, 1)) == [1, 2, 4, 8]
    with pytest.raises(InvalidValueError, match="available resolutions: 16"):
        coarse_indices(fv.interior_coords(16), (0, 1), 8)


@pytest.fixture(scope="module")
def odd_root(tmp_path_factory):
    """ConDiff at grid 15 (16 intervals), which coarsens to 7 and 3."""
    root = tmp_path_factory.mktemp("odd")
    generate_dataset("condiff", {"grid": "15", "n_train": "3", "n_test": "0", "n_val": "0",
                                 "configs": "cubic0.1"}, root=root, **QUIET)
    return root


def test_resolution_injects_at_the_coarse_points(odd_root):
    full = TorchDataset("condiff", root=odd_root, normalize=False)
    ref = view(odd_root, "cubic0.1_grid15")
    for m, r in ((7, 2), (3, 4)):
        ds = TorchDataset("condiff", root=odd_root, normalize=False, resolution=m)
        assert ds.grid_shape == (m, m)
        np.testing.assert_allclose(ds.coords["x"], (np.arange(m) + 1) / (m + 1), rtol=1e-14)
        np.testing.assert_allclose(ds.coords["y"], (np.arange(m) + 1) / (m + 1), rtol=1e-14)
        sel = slice(r - 1, 15, r)
        for i in range(len(ds)):
            x, y = ds[i]
            xf, yf = full[i]
            np.testing.assert_array_equal(y.numpy(), yf[:, sel, sel].numpy())
            np.testing.assert_array_equal(x.numpy(), xf[:, sel, sel].numpy())  # k and f consistent
            np.testing.assert_array_equal(y[0].numpy(), ref["u"].values[i][sel, sel].astype(np.float32))
    with pytest.raises(InvalidValueError, match="available resolutions: 1, 3, 7, 15"):
        TorchDataset("condiff", root=odd_root, normalize=False, resolution=8)


def test_resolution_error_names_what_is_available(tiny_root):
    with pytest.raises(InvalidValueError, match="resolution 8 is not available.*available resolutions: 16$"):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, normalize=False, resolution=8)


# --- rollout --------------------------------------------------------------------------------------------


def _series(start: int, n: int, T: int = 8, nx: int = 6, ny: int = 5, split: str = "train"):
    import xarray as xr

    s = np.arange(start, start + n)[:, None, None, None]
    t = np.arange(T)[None, :, None, None]
    i = np.arange(nx)[None, None, :, None]
    j = np.arange(ny)[None, None, None, :]
    u = 100.0 * s + t + 0.01 * i + 0.0001 * j          # every value names its (sample, t, i, j)
    c = np.exp(3 * np.cos(s[:, 0] + 0.3 * i[:, 0] + j[:, 0]))  # static, positive, > 2 decades
    card = json.dumps({"dataset": {"name": "series", "domain": [[0.0, 1.0], [0.0, 1.0]]}}, sort_keys=True)
    attrs = {"format": FORMAT, "pdeforge_version": "0", "dataset": "series", "config": "c1", "split": split,
             "card": card, "card_sha256": hashlib.sha256(card.encode()).hexdigest(), "content_key": "ck1",
             "equation": "synthetic", "boundary_conditions": "none", "seeding": "none",
             "sample_start": start, "sample_stop": start + n, "inputs": "u c", "targets": "u"}
    meta = lambda role, name: {"role": role, "long_name": name, "units": "1"}  # noqa: E731
    return xr.Dataset(
        {"u": (("sample", "t", "x", "y"), u, meta("target", "state")),
         "c": (("sample", "x", "y"), c, meta("input", "coefficient")),
         "dt": (("sample",), np.full(n, 0.1), meta("param", "time step"))},
        coords={"sample": ("sample", np.arange(start, start + n), meta("param", "sample")),
                "t": ("t", 0.1 * np.arange(T), meta("param", "time")),
                "x": ("x", (np.arange(nx) + 0.5) / nx, meta("param", "x")),
                "y": ("y", (np.arange(ny) + 0.5) / ny, meta("param", "y"))},
        attrs=attrs)


def write_series(cdir: Path, splits: dict[str, list[tuple[int, int]]], **kw) -> Path:
    """A config directory with hand-written shards and manifest in the store's format."""
    card = {"dataset": {"name": "series", "domain": [[0.0, 1.0], [0.0, 1.0]]}}
    text = json.dumps(card, sort_keys=True, separators=(",", ":"))
    manifest = {"format": MANIFEST_FORMAT, "dataset": "series", "config": "c1", "content_key": "ck1",
                "card": card, "card_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "samples_per_shard": 2, "complete": True, "splits": {}}
    for split, ranges in splits.items():
        shards = []
        for index, (a, b) in enumerate(ranges):
            path = cdir / split / store.shard_name(index)
            rec = store.write_shard(path, _series(a, b - a, split=split, **kw))
            rec.update(start=a, stop=b)
            shards.append(rec)
            assert check_shard(path) == []
        manifest["splits"][split] = {"n_samples": ranges[-1][1], "shards": shards}
    store.write_json_atomic(cdir / store.MANIFEST, manifest)
    return cdir


def test_rollout_windows_hold_the_exact_frames(tmp_path):
    cdir = write_series(tmp_path / "series" / "c1", {"train": [(0, 2), (2, 3)]})
    H, F, T = 2, 3, 8
    ds = TorchDataset(cdir, mode="rollout", history=H, horizon=F, normalize=False)
    nw = T - H - F + 1
    assert ds.n_windows == nw and len(ds) == 3 * nw
    assert ds.x_channels == ["u[t-1]", "u[t]", "c"] and ds.y_channels == ["u[t+1]", "u[t+2]", "u[t+3]"]
    ref = {s: _series(s, 1) for s in range(3)}
    for idx in range(len(ds)):
        s, t = ds.window(idx)
        assert (s, t) == (idx // nw, idx % nw + H - 1)
        x, y = ds[idx]
        assert tuple(x.shape) == (H + 1, 6, 5) and tuple(y.shape) == (F, 6, 5)
        u, c = ref[s]["u"].values[0], ref[s]["c"].values[0]
        for f in range(H):
            np.testing.assert_array_equal(x[f].numpy(), u[t - H + 1 + f].astype(np.float32))
        np.testing.assert_array_equal(x[H].numpy(), c.astype(np.float32))
        for f in range(F):
            np.testing.assert_array_equal(y[f].numpy(), u[t + 1 + f].astype(np.float32))
        # the frame numbers are encoded in the values: y's first frame follows x's last one
        assert round(float(y[0, 0, 0] - x[H - 1, 0, 0]), 6) == 1.0
    with pytest.raises(InvalidValueError, match="use mode='rollout'"):
        TorchDataset(cdir, normalize=False)
    with pytest.raises(InvalidValueError, match="cannot hold history"):
        TorchDataset(cdir, mode="rollout", history=5, horizon=4, normalize=False)


def test_rollout_normalisation_uses_one_stat_per_variable(tmp_path):
    cdir = write_series(tmp_path / "series" / "c1", {"train": [(0, 2), (2, 3)], "val": [(0, 1)]})
    ds = TorchDataset(cdir, mode="rollout", history=2, horizon=1)
    raw = TorchDataset(cdir, mode="rollout", history=2, horizon=1, normalize=False)
    st = ds.stats["variables"]
    assert st["c"]["transform"] == "log" and st["u"]["transform"] == "none"
    x, y = ds[5]
    xr_, yr = raw[5]
    np.testing.assert_allclose(x[0].numpy(), (xr_[0].numpy() - st["u"]["mean"]) / st["u"]["std"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x[2].numpy(), (np.log(xr_[2].numpy()) - st["c"]["mean"]) / st["c"]["std"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.denormalize(y).numpy(), yr.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ds.denormalize(x, part="x").numpy(), xr_.numpy(), rtol=1e-5)


# --- normalisation ------------------------------------------------------------------------------------


def test_normalisation_stats_come_from_train_only(tiny_copy):
    cfg = "gaussian2.0_grid16"
    cdir = tiny_copy / "condiff" / cfg
    TorchDataset("condiff", config=cfg, root=tiny_copy)
    stats = json.loads((cdir / STATS_FILE).read_text())
    manifest = store.read_manifest(cdir)
    assert stats["content_key"] == manifest["content_key"] and stats["split"] == "train"
    assert stats["variables"]["k"]["transform"] == "log"  # k = exp(g) spans > 2 decades
    assert stats["variables"]["u"]["transform"] == "none" and stats["variables"]["f"]["transform"] == "none"
    # the numbers are the float64 mean/std over the train samples and all points
    ref = view(tiny_copy, cfg, "train")
    for v, fn in (("u", lambda a: a), ("f", lambda a: a), ("k", np.log)):
        a = fn(ref[v].values.astype(np.float64))
        assert stats["variables"][v]["mean"] == pytest.approx(a.mean(), rel=1e-12, abs=1e-15)
        assert stats["variables"][v]["std"] == pytest.approx(a.std(), rel=1e-12)
    # val/test loaders use the train statistics, which differ from the val split's own
    val = TorchDataset("condiff", config=cfg, split="val", root=tiny_copy)
    assert val.stats["variables"] == stats["variables"]
    own = compute_stats(store.split_files(cdir, "val"))
    assert own["u"]["std"] != pytest.approx(stats["variables"]["u"]["std"], rel=1e-3)
    raw_val = TorchDataset("condiff", config=cfg, split="val", root=tiny_copy, normalize=False)
    x, y = val[1]
    xr_, yr = raw_val[1]
    u = stats["variables"]["u"]
    np.testing.assert_allclose(y[0].numpy(), (yr[0].numpy() - u["mean"]) / u["std"], rtol=1e-5, atol=1e-5)
    k = stats["variables"]["k"]
    np.testing.assert_allclose(x[0].numpy(), (np.log(xr_[0].numpy()) - k["mean"]) / k["std"], rtol=1e-5, atol=1e-5)
    # a stale file (other content key) is recomputed and rewritten
    stale = dict(stats, content_key="stale")
    stale["variables"] = {v: dict(s, mean=123.0) for v, s in stats["variables"].items()}
    store.write_json_atomic(cdir / STATS_FILE, stale)
    again = TorchDataset("condiff", config=cfg, split="test", root=tiny_copy)
    assert again.stats["variables"] == stats["variables"]
    assert json.loads((cdir / STATS_FILE).read_text())["content_key"] == manifest["content_key"]
    # an unchanged file is reused, not recomputed
    mark = json.loads((cdir / STATS_FILE).read_text())
    mark["created_at"] = "reused"
    store.write_json_atomic(cdir / STATS_FILE, mark)
    assert load_stats(cdir)["created_at"] == "reused"


def test_normalize_denormalize_round_trip(tiny_root):
    cfg = "gaussian2.0_grid16"
    norm = TorchDataset("condiff", config=cfg, root=tiny_root)
    raw = TorchDataset("condiff", config=cfg, root=tiny_root, normalize=False)
    for i in (0, 5):
        xn, yn = norm[i]
        xr_, yr = raw[i]
        np.testing.assert_allclose(norm.normalize(xr_).numpy(), xn.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(norm.denormalize(yn).numpy(), yr.numpy(), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(norm.denormalize(norm.normalize(xr_), part="x").numpy(), xr_.numpy(), rtol=1e-5)
        assert not torch.allclose(xn, xr_)
    # batches (B, C, nx, ny), numpy arrays and float64 tensors work too
    xb, yb = next(iter(make_loader(norm, batch_size=3, shuffle=False)))
    np.testing.assert_allclose(norm.denormalize(yb.double()).numpy(),
                               np.stack([raw[i][1].numpy() for i in range(3)]), rtol=1e-5, atol=1e-9)
    arr = raw[2][1].numpy().astype(np.float64)
    np.testing.assert_allclose(norm.denormalize(norm.normalize(arr, part="y")), arr, rtol=1e-12)
    # raw loaders can still normalise on demand; constant k (Poisson) maps to 0, not NaN
    np.testing.assert_allclose(raw.normalize(raw[0][0]).numpy(), norm[0][0].numpy(), rtol=1e-5, atol=1e-5)
    poisson = TorchDataset("condiff", config="poisson_grid16", root=tiny_root)
    assert poisson.stats["variables"]["k"]["constant"] is True
    assert torch.equal(poisson[0][0][0], torch.zeros(16, 16))
    with pytest.raises(InvalidValueError, match="expected a tensor shaped"):
        norm.normalize(torch.zeros(3, 16, 16))


# --- workers --------------------------------------------------------------------------------------------


def test_batches_do_not_depend_on_num_workers(tiny_root):
    ds = TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root)
    ds[0]  # open handles in the parent: forked workers must open their own
    def batches(workers, seed):
        return [(x.clone(), y.clone()) for x, y in make_loader(ds, batch_size=2, shuffle=True,
                                                                 seed=seed, num_workers=workers)]
    a, b = batches(0, 7), batches(2, 7)
    assert len(a) == len(b) == 3
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    c = batches(0, 8)
    assert any(not torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))  # the seed matters
    # every sample exactly once per epoch
    ys = torch.cat([y for _, y in a])
    ref = torch.stack([ds[i][1] for i in range(len(ds))])
    assert sorted(ys.sum(dim=(1, 2, 3)).tolist()) == sorted(ref.sum(dim=(1, 2, 3)).tolist())


def test_pickling_drops_open_handles(tiny_root):
    ds = TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, normalize=False)
    x0, _ = ds[4]
    assert ds._reader._handles  # opened lazily in this process
    state = ds._reader.__getstate__()
    assert state["_handles"] == {} and state["_dsets"] == {} and state["_pid"] is None
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[4][0], x0)


# --- bad input ------------------------------------------------------------------------------------------


def test_missing_variable_names_the_file_and_lists_what_exists(tiny_root):
    with pytest.raises(InvalidValueError, match=r"shard-00000\.nc: no variable 'nope'; the file has: .*\bk\b.*\bu\b"):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, inputs=["k", "nope"], normalize=False)
    with pytest.raises(InvalidValueError, match="targets live on different grids"):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, targets="u k", normalize=False)
    with pytest.raises(UnknownNameError):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, mode="bogus")
    with pytest.raises(UnknownNameError):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_root, split="bogus")


def test_truncated_shard_raises_corrupt_file_error(tiny_copy):
    path = tiny_copy / "condiff" / "cubic0.1_grid16" / "train" / "shard-00001.nc"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=f"{path}: size .* the manifest records {len(data)}"):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_copy, normalize=False)
    # same size but a destroyed header: caught by the checksum, or when the file is opened
    path.write_bytes(b"\0" * len(data))
    with pytest.raises(CorruptFileError, match=f"{path}: sha256 differs"):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_copy, normalize=False)
    with pytest.raises(CorruptFileError, match=f"{path}.*cannot be opened"):
        TorchDataset("condiff", config="cubic0.1_grid16", root=tiny_copy, normalize=False, verify=False)


def test_truncation_after_construction_is_reported_on_read(tiny_copy):
    ds = TorchDataset("condiff", config="poisson_grid16", root=tiny_copy, normalize=False)
    path = ds.files[1]
    path.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(CorruptFileError, match=str(path)):
        ds[5]


def test_mismatched_shapes_between_shards(tmp_path):
    cdir = tmp_path / "series" / "c1"
    write_series(cdir, {"train": [(0, 2)]})
    other = tmp_path / "other"
    write_series(other, {"train": [(0, 2), (2, 3)]}, nx=7)
    # splice a shard on a 7-point grid into the 6-point config
    manifest = store.read_manifest(cdir)
    rec = store.read_manifest(other)["splits"]["train"]["shards"][1]
    (cdir / rec["file"]).write_bytes((other / rec["file"]).read_bytes())
    manifest["splits"]["train"]["shards"].append(rec)
    manifest["splits"]["train"]["n_samples"] = 3
    store.write_json_atomic(cdir / store.MANIFEST, manifest.data)
    with pytest.raises(CorruptFileError, match=r"shard-00001\.nc.*variable 'u' has dims"):
        TorchDataset(cdir, mode="rollout", normalize=False)


@pytest.mark.parametrize("where", ["metadata", "data"])
def test_damaged_shard_is_refused_naming_the_file(tiny_copy, where):
    """A flipped byte in HDF5 metadata (h5py: checksum error) or in raw data (only the
    manifest's sha256 sees it) gives CorruptFileError naming the file, in the loader and
    in the xarray view (metadata)."""
    from pdeforge import open_dataset
    from pdeforge.errors import CorruptFileError

    shard = tiny_copy / "condiff" / "poisson_grid16" / "train" / "shard-00000.nc"
    data = bytearray(shard.read_bytes())
    data[-100 if where == "metadata" else 3000] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=str(shard)):
        TorchDataset("condiff", config="poisson_grid16", split="train", root=tiny_copy)
    if where == "metadata":
        with pytest.raises(CorruptFileError, match=str(shard)):
            open_dataset("condiff", config="poisson_grid16", split="train", root=tiny_copy)


# --- direct (memory-mapped) reads ----------------------------------------------------------------


def test_direct_reads_equal_h5py_reads(tiny_root, tmp_path):
    """The memory-mapped path and the h5py path give bit-identical batches (operator + rollout)."""
    for cfg in ("cubic0.1_grid16", "poisson_grid16"):
        fast = TorchDataset("condiff", config=cfg, root=tiny_root, normalize=False)
        slow = TorchDataset("condiff", config=cfg, root=tiny_root, normalize=False, direct=False)
        assert any(isinstance(d, _Rows) for d in fast._reader.rows(0))  # the format allows direct reads
        assert not any(isinstance(d, _Rows) for d in slow._reader.rows(0))
        picks = list(range(len(fast)))[::-1]
        a, b = fast.__getitems__(picks), slow.__getitems__(picks)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    cdir = write_series(tmp_path / "series" / "c1", {"train": [(0, 2), (2, 3)]})
    fast = TorchDataset(cdir, mode="rollout", history=2, horizon=2, normalize=False)
    slow = TorchDataset(cdir, mode="rollout", history=2, horizon=2, normalize=False, direct=False)
    a, b = fast.__getitems__(range(len(fast))), slow.__getitems__(range(len(slow)))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_direct_rows_only_where_the_bytes_are_plain(tmp_path):
    import h5py

    data = np.arange(4 * 3 * 5, dtype=np.float64).reshape(4, 3, 5)
    path = tmp_path / "layouts.h5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("contiguous", data=data)
        fh.create_dataset("row_chunks", data=data, chunks=(1, 3, 5))
        fh.create_dataset("gzip", data=data, chunks=(1, 3, 5), compression="gzip")
        fh.create_dataset("two_row_chunks", data=data, chunks=(2, 3, 5))
        fh.create_dataset("big_endian", data=data.astype(">f8"), chunks=(1, 3, 5))
        fh.create_dataset("unwritten", shape=(4, 3, 5), dtype="f8", chunks=(1, 3, 5))
    size = path.stat().st_size
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    with h5py.File(path, "r") as fh:
        for name in ("contiguous", "row_chunks"):
            rows = direct_rows(fh[name], mm, size)
            assert rows is not None, name
            for r in range(4):
                np.testing.assert_array_equal(rows[r], data[r])
            np.testing.assert_array_equal(rows[2, 1:], data[2, 1:])
        for name in ("gzip", "two_row_chunks", "big_endian", "unwritten"):
            assert direct_rows(fh[name], mm, size) is None, name
        with pytest.raises(OSError, match="past the end"):
            direct_rows(fh["row_chunks"], mm, 1000)  # as if the file ended after 1000 bytes


def test_in_place_truncation_of_a_mapped_shard_is_refused(tiny_copy):
    ds = TorchDataset("condiff", config="poisson_grid16", root=tiny_copy, normalize=False)
    ds[0]  # maps shard 0
    path = ds.files[0]
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(CorruptFileError, match=f"{path}: shrank"):
        ds[1]
