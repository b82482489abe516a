"""The CFDBench family (cavity, tube, dam): case draws, Reynolds spans, the stored schema, the
CFDBench view, loader tasks, and `pdeforge solve` against Ghia et al. from the stored file.

(check, verify, rerun and 1-vs-2-worker identity for the three cards: tests/test_family_contract.py;
solver validation: tests/cfd/.)"""

from __future__ import annotations

import numpy as np
import pytest

from pdeforge import open_dataset
from pdeforge.cli import main
from pdeforge.datasets.family import effective_card
from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import generate_dataset
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators import cases
from pdeforge.generators import cfdbench as cb
from pdeforge.generators.cfd.reference import ghia_points

QUIET = dict(workers=1, progress=False, log=lambda *a: None)
PROBLEMS = ("cavity", "tube", "dam")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfd")
    for name in PROBLEMS:
        _, family = effective_card(name)
        generate_dataset(name, family.tiny, root=root, **QUIET)
    return root


# --- cards ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, spans", [
    ("cavity", {"bc": (20, 1000), "prop": (10, 1000), "geo": (100, 400), "all": (10, 1000)}),
    ("tube", {"bc": (10, 200), "prop": (1, 200), "geo": (50, 150), "all": (1, 200)}),
    ("dam", {"bc": (20, 400), "prop": (4, 400), "geo": (400, 400), "all": (4, 400)}),
])
def test_reynolds_spans_are_what_the_cards_state(name, spans):
    card, _ = effective_card(name)
    for subset, (lo, hi) in spans.items():
        got = cb.reynolds_span(card, subset)
        assert got == pytest.approx((lo, hi), rel=1e-9), (name, subset, got)


@pytest.mark.parametrize("name", PROBLEMS)
def test_draws_stay_in_their_ranges_and_the_reynolds_band(name):
    card, family = effective_card(name)
    base = card.get("problem.base")
    lo_re, hi_re = float(card.get("reynolds.min")), float(card.get("reynolds.max"))
    for config in family.configs(card):
        ranges = cases.subset_ranges(card, config.params["subset"])
        draws = [family.case_params(card, config, "train", i) for i in range(40)]
        for p in draws:
            for k, v in p.items():
                if k in ranges:
                    assert ranges[k][0] <= v <= ranges[k][1]
                else:
                    assert v == float(base[k])
            assert lo_re <= cb.reynolds(name, p)[0] <= hi_re
        for k in ranges:  # the draws actually vary
            assert np.ptp([p[k] for p in draws]) > 0.3 * (ranges[k][1] - ranges[k][0])
        # splits draw disjoint streams; the same index is the same case
        assert family.case_params(card, config, "test", 0) != draws[0]
        assert family.case_params(card, config, "train", 3) == draws[3]


def test_configs_are_the_four_subsets_and_select_by_subset():
    card, family = effective_card("cavity")
    assert [c.name for c in family.configs(card)] == ["bc", "prop", "geo", "all"]
    card, family = effective_card("cavity", {"grid": "32", "configs": "bc,all"})
    assert [c.name for c in family.configs(card)] == ["bc_grid32x32", "all_grid32x32"]
    with pytest.raises(UnknownNameError, match="known configs"):
        effective_card("cavity", {"configs": "nope"})
    with pytest.raises(InvalidValueError, match="NXxNY"):
        effective_card("tube", {"grid": "1x2x3"})


def test_default_scale_meets_cfdbench_scale():
    """The three default cards together: >= 550 cases and >= 200K stored frames."""
    cases = frames = 0
    for name in PROBLEMS:
        card, family = effective_card(name)
        n = sum(family.splits(card).values()) * len(family.configs(card))
        cases += n
        frames += n * int(card.get("problem.frames"))
    assert cases >= 550 and frames >= 200_000, (cases, frames)


# --- the CFDBench view ---------------------------------------------------------------------------


def test_overlap_matrix_is_a_cell_average():
    w = cb.overlap_matrix(120, 64)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-14)
    f = np.random.default_rng(0).normal(size=120)
    assert (w @ f).sum() / 64 == pytest.approx(f.sum() / 120, rel=1e-13)  # conserves the integral
    x_src = (np.arange(128) + 0.5) / 128  # nested cells: exact on linear fields
    np.testing.assert_allclose(cb.overlap_matrix(128, 64) @ x_src, (np.arange(64) + 0.5) / 64, atol=1e-14)
    np.testing.assert_array_equal(cb.overlap_matrix(128, 64)[3, 6:8], [0.5, 0.5])  # two halves


def test_view_is_fluid_weighted_and_ignores_solid_values():
    mask = np.ones((8, 4), dtype=np.int8)
    mask[2:4, :2] = 0  # a block
    f = np.full((8, 4), 3.0)
    f[mask == 0] = 1e6  # whatever a solver leaves in solids must not leak into the view
    view, mview = cb.view_of(f, mask, (4, 2))
    assert np.all(view[mview == 1] == 3.0)
    assert mview[1, 0] == 0 and mview[0, 0] == 1  # cells 2..3 x 0..1: all solid


# --- stored data -------------------------------------------------------------------------------


def test_stored_schema_params_and_divergence(tiny):
    for name in PROBLEMS:
        ds = open_dataset(name, config="geo_grid60x16", split="train", root=tiny)
        card, family = effective_card(name, family_tiny(name))
        assert ds["u"].dims == ("sample", "t", "x", "y") and ds["mask"].dims == ("sample", "x", "y")
        assert ds["mask"].attrs["role"] == "mask" and ds["u64"].dims == ("sample", "t", "x64", "y64")
        # every stored frame is discretely divergence free (the solver's face divergence,
        # read back from the file), and there is no flow in solid cells
        assert float(ds["max_divergence"].max()) < 1e-9
        solid = ds["mask"].values[:, None] == 0
        assert np.all(ds["u"].values[np.broadcast_to(solid, ds["u"].shape)] == 0)
        # physical coordinates per case, consistent with the stored geometry
        length, height = cb.EXTENT[name]
        np.testing.assert_allclose(ds["x_m"].values[:, -1] + ds["x_m"].values[:, 0], ds[length].values, rtol=1e-12)
        np.testing.assert_allclose(ds["y_m"].values[:, -1] + ds["y_m"].values[:, 0], ds[height].values, rtol=1e-12)
        # frame times: the convective coordinate times L/U of each case
        lname, vname = cb.TIME_LENGTH[name]
        np.testing.assert_allclose(ds["frame_time"].values,
                                   ds["t"].values[None] * (ds[lname].values / np.abs(ds[vname].values))[:, None],
                                   rtol=1e-12)
        re = [cb.reynolds(name, {k: float(ds[k].values[i]) for k in cb.PARAMS[name]})[0] for i in range(ds.sizes["sample"])]
        np.testing.assert_allclose(ds["reynolds"].values, re, rtol=1e-12)
        if name == "dam":  # geometry varies per case in geo
            assert np.ptp(ds["step_height"].values) > 0 and (ds["mask"].values == 0).any()


def family_tiny(name):
    return effective_card(name)[1].tiny


def test_loader_serves_both_tasks_with_the_mask(tiny):
    ar = TorchDataset("dam", config="bc_grid60x16", root=tiny)
    x, y, m = ar[0]
    assert ar.mode == "rollout" and ar.mask_var == "mask64"
    assert ar.x_channels[:2] == ["u64[t]", "v64[t]"] and "step_height" in ar.x_channels
    assert tuple(m.shape) == (1, 8, 8)
    raw = TorchDataset("dam", config="bc_grid60x16", root=tiny, normalize=False)
    xr_, _, _ = raw[0]
    k = raw.x_channels.index("inlet_velocity")
    ds = open_dataset("dam", config="bc_grid60x16", split="train", root=tiny)
    assert np.all(xr_[k].numpy() == np.float32(ds["inlet_velocity"].values[0]))  # broadcast channel
    nar = TorchDataset("dam", config="bc_grid60x16", root=tiny, task="nonautoregressive", normalize=False)
    assert nar.mode == "frames" and nar.x_channels[-1] == "t" and len(nar) == 3 * 3
    x, y, _ = nar[5]  # sample 1, frame 2
    assert np.all(x[-1].numpy() == np.float32(ds["t"].values[2]))
    np.testing.assert_array_equal(y[0].numpy(), ds["u64"].values[1, 2].astype(np.float32))
    with pytest.raises(UnknownNameError, match="known tasks"):
        TorchDataset("dam", config="bc_grid60x16", root=tiny, task="nope")
    with pytest.raises(InvalidValueError, match="static inputs only"):
        TorchDataset("dam", config="bc_grid60x16", root=tiny, mode="frames", normalize=False)


# --- pdeforge solve ------------------------------------------------------------------------------


def test_solve_writes_one_case_that_matches_ghia(tmp_path, capsys):
    out = tmp_path / "cavity_re100.nc"
    code = main(["solve", "cavity", "lid_velocity=1", "density=1", "viscosity=0.01", "width=1", "height=1",
                 "steady=1", "tol=1e-6", "grid=32", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert main(["check", str(out)]) == 0
    capsys.readouterr()
    ds = open_dataset(out)
    assert float(ds["reynolds"].values[0]) == pytest.approx(100.0)
    assert ds.sizes["t"] == 2 and np.all(ds["u"].values[0, 0] == 0)  # initial state at rest, final state
    u, v = ds["u"].values[0, -1], ds["v"].values[0, -1]
    x, y = ds["x"].values, ds["y"].values
    # centrelines from the stored cell-centre fields: the two columns/rows around x = 0.5, y = 0.5
    n = len(x)
    u_c = 0.5 * (u[n // 2 - 1] + u[n // 2])
    v_c = 0.5 * (v[:, n // 2 - 1] + v[:, n // 2])
    gy, gu, gx, gv = ghia_points(100)
    err_u = np.max(np.abs(np.interp(gy, y, u_c) - gu))
    err_v = np.max(np.abs(np.interp(gx, x, v_c) - gv))
    assert err_u < 0.02 and err_v < 0.02, (err_u, err_v)


def test_solve_refuses_unknown_parameters(tmp_path, capsys):
    code = main(["solve", "cavity", "lid_speed=1", "--out", str(tmp_path / "x.nc")])
    assert code == 2 and "known cavity parameters" in capsys.readouterr().err
    code = main(["solve", "condiff", "grid=16", "--out", str(tmp_path / "x.nc")])
    assert code == 2


def test_draws_do_not_depend_on_how_the_card_was_serialised():
    """verify rebuilds the card from the manifest's sorted-key JSON: same cases."""
    import json

    from pdeforge.datasets.cards import Card

    card, family = effective_card("cavity")
    resorted = Card(card.name, json.loads(card.canonical_json()), card.overrides)
    for config in family.configs(card):
        assert family.case_params(card, config, "val", 2) == family.case_params(resorted, config, "val", 2)
