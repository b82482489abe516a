"""The obstacle family (card ``obstacle``, DeepCFD's problem): draws, scale, grid layout, mask,
DeepCFD inputs, physics checks, DFG validation through the obstacle path, ``pdeforge solve``.

Generic behaviour (check, verify, resume, loader, worker identity) is covered for every card by
tests/test_family_contract.py; this file tests what is particular to the obstacle flows.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from pdeforge import open_dataset
from pdeforge.cli import main
from pdeforge.datasets.family import effective_card
from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import generate_dataset
from pdeforge.generators import obstacle as ob
from pdeforge.generators.fem.ns import mesh_hash
from pdeforge.generators.fem.ns.obstacle_mesh import REGION_LABELS

QUIET = dict(progress=False, log=lambda *a: None)
#: a coarser mesh than the card's (same code path), for the per-case tests
COARSE = {"h": "0.08", "h_obstacle": "0.15"}


@pytest.fixture(scope="module")
def card():
    return effective_card("obstacle")[0]


@pytest.fixture(scope="module")
def coarse():
    return effective_card("obstacle", COARSE)[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("obstacle")
    generate_dataset("obstacle", ob.Obstacle.tiny, root=root, workers=1, **QUIET)
    return root


def test_default_scale_and_layout_are_deepcfds(card):
    family = effective_card("obstacle")[1]
    n = len(family.configs(card)) * sum(family.splits(card).values())
    assert n >= 1000
    assert ob.grid_shape(card) == (172, 79)
    c = family.coords(card, family.configs(card)[0])
    assert np.allclose(np.diff(c["x"].values), 0.01) and np.allclose(np.diff(c["y"].values), 0.01)
    assert card.get("task.inputs") == ["sdf_obstacle", "flow_region", "sdf_walls"]
    assert card.get("task.targets") == ["ux", "uy", "p"]


def test_draws_cover_the_shapes_stay_in_ranges_band_and_channel(card):
    family = effective_card("obstacle")[1]
    config = family.configs(card)[0]
    draws = [family.case_params(card, config, "train", i) for i in range(60)]
    assert {p["shape"] for p in draws} == set(ob.SHAPES)
    ranges = ob.subset_ranges(card, "all")
    for p in draws:
        assert 5 <= ob.reynolds(p) <= 30 and ob.fits(card, p)
        for k, (lo, hi, _) in ranges.items():
            assert lo <= p[k] <= hi
    for k, (lo, hi, _) in ranges.items():
        assert np.ptp([p[k] for p in draws]) > 0.5 * (hi - lo)
    assert family.case_params(card, config, "train", 7) == draws[7]  # deterministic per seed
    assert family.case_params(card, config, "test", 0) != draws[0]  # splits draw disjoint streams


@pytest.fixture(scope="module")
def solved(coarse):
    family = effective_card("obstacle", COARSE)[1]
    p = family.case_params(coarse, family.configs(coarse)[0], "train", 2)
    return p, family.solve(coarse, p)


def test_inputs_mask_and_fields_agree_with_the_analytic_geometry(coarse, solved):
    p, a = solved
    geo = ob.geometry(coarse, p)
    nx, ny = ob.grid_shape(coarse)
    assert a["ux"].shape == a["sdf_obstacle"].shape == a["mask"].shape == (nx, ny)
    gx = (np.arange(nx) + 0.5) * 0.01
    gy = (np.arange(ny) + 0.5) * 0.01
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    np.testing.assert_allclose(a["sdf_obstacle"], geo.signed_distance(X, Y).astype(np.float32))
    np.testing.assert_allclose(a["sdf_walls"], np.minimum(Y, 0.79 - Y).astype(np.float32))
    # the mask is the located mesh; it equals the analytic fluid region except, for a circle, in
    # the sliver between the curved P2 boundary and the true circle
    sdf = geo.signed_distance(X, Y)
    differ = a["mask"] != geo.is_fluid(X, Y)
    assert np.all(np.abs(sdf[differ]) < 1e-4 * p["size"])
    assert np.all((a["flow_region"] == REGION_LABELS["obstacle"]) == (sdf < 0))
    assert set(np.unique(a["flow_region"])) == set(REGION_LABELS.values())
    solid = a["mask"] == 0
    assert solid.sum() > 0 and np.all(a["ux"][solid] == 0) and np.all(a["p"][solid] == 0)


def test_grid_view_is_exact_on_linear_fields(coarse, solved):
    # the P2 interpolant of a linear velocity and the P1 interpolant of a linear pressure,
    # evaluated at the DeepCFD cell centres: exact (polygons have straight elements only; the
    # circle's curved elements carry a linear pressure only up to O(h^2), checked away from it)
    p, _ = solved
    S = ob.case_spaces(coarse, p)
    gv = ob.grid_view(S, coarse)
    X, Y = np.meshgrid(gv.x, gv.y, indexing="ij")
    loc = S.basis_u.doflocs
    U = np.where(np.arange(S.n_u) % 2 == 0, 1.0 + 2.0 * loc[0] - 3.0 * loc[1], -0.5 + 0.25 * loc[0] + loc[1])
    vx = S.basis_p.doflocs
    out = gv.apply(U, 4.0 - vx[0] + 7.0 * vx[1])
    fluid = gv.mask == 1
    assert np.abs(out["u"] - (1.0 + 2.0 * X - 3.0 * Y))[fluid].max() < 1e-11
    assert np.abs(out["v"] - (-0.5 + 0.25 * X + Y))[fluid].max() < 1e-11
    far = np.abs(ob.geometry(coarse, p).signed_distance(X, Y)) > 0.05
    assert np.abs(out["p"] - (4.0 - X + 7.0 * Y))[fluid & far].max() < 1e-11


def test_flow_is_physical_and_weakly_divergence_free(coarse, solved):
    p, a = solved
    U = p["inlet_velocity"]
    fluid = a["mask"] == 1
    # inlet column: the parabolic profile of mean U
    y = (np.arange(a["ux"].shape[1]) + 0.5) * 0.01
    inlet_exact = 6 * U * y * (0.79 - y) / 0.79**2
    assert np.abs(a["ux"][0] - inlet_exact).max() < 0.03 * 1.5 * U
    # the obstacle accelerates the flow past the inlet maximum, pushes back on the flow (drag),
    # and the pressure falls along the channel
    assert a["ux"][fluid].max() > 1.5 * U and a["c_D"] > 0 and a["delta_p"] > 0
    assert a["p"][1].mean() > a["p"][-2].mean()
    assert a["divergence_rel"] < 0.03 and 1 <= a["newton_iterations"] <= 10


def test_symmetric_square_has_no_lift(coarse):
    family = effective_card("obstacle", COARSE)[1]
    p = dict(shape="square", size=0.15, center_x=0.5, center_y=0.395, rotation=0.0, inlet_velocity=0.1,
             density=1.0, viscosity=1e-3)
    a = family.solve(coarse, p)
    # the mesh is unstructured, so the symmetry is only up to the discretisation
    assert abs(a["c_L"]) < 0.01 * a["c_D"]
    # mirror symmetry about y = H / 2 (grid rows j and ny - 1 - j), in the L2 sense: pointwise the
    # coarse mesh differs at the corners of the square
    for k in ("ux", "p"):
        f = a[k].astype(float)
        assert np.linalg.norm(f - f[:, ::-1]) < 0.02 * np.linalg.norm(f)
    assert np.linalg.norm(a["uy"] + a["uy"][:, ::-1]) < 0.05 * np.linalg.norm(a["uy"])


def test_dfg_2d1_through_the_obstacle_path():
    # the obstacle mesh/forces path on the DFG 2D-1 setup (Schaefer & Turek 1996: c_D = 5.5795,
    # c_L = 0.0106, delta_p = 0.1175; thresholds 1 %, 10 %, 1 %)
    from pdeforge.generators.fem.ns import ParabolicInflow, solve_steady, spaces
    from pdeforge.generators.fem.ns.obstacle_mesh import ObstacleGeometry, obstacle_mesh

    geo = ObstacleGeometry(shape="circle", size=0.1, center=(0.2, 0.2), rotation=0.0, length=2.2, height=0.41)
    S = spaces(obstacle_mesh(geo, h=0.03, h_obs=0.1 * np.pi / 64, grow=0.3))
    info = solve_steady(S, nu=1e-3, rho=1.0, inflow=ParabolicInflow(0.3, 0.41), tol=1e-10).info
    print({k: info[k] for k in ("c_D", "c_L", "delta_p")}, S.n_dofs)
    assert info["c_D"] == pytest.approx(5.5795, rel=0.01)
    assert info["c_L"] == pytest.approx(0.0106, rel=0.10)
    assert info["delta_p"] == pytest.approx(0.1175, rel=0.01)


def test_stored_mesh_and_loader_task(tiny):
    ds = open_dataset("obstacle", "all", "train", root=tiny)
    card = effective_card("obstacle", ob.Obstacle.tiny)[0]
    assert ds["ux"].dims == ("sample", "x", "y") and ds["u_mesh"].dims == ("sample", "node")
    for s in range(ds.sizes["sample"]):
        case = ds.isel(sample=s)
        p = {k: float(case[k]) for k in ob.PARAMS}
        p["shape"] = ob.SHAPES[int(case["shape"])]
        S = ob.case_spaces(card, p)
        n = int(case["n_nodes"])
        assert n == S.cmesh.n_vertices and int(case["node_mask"].sum()) == n
        assert bytes(case["mesh_sha256"].values).hex() == mesh_hash(S.cmesh.mesh)
        assert np.all(case["u_mesh"].values[n:] == 0)
    assert ds.attrs["shapes"] == ", ".join(ob.SHAPES)
    data = TorchDataset("obstacle", "all", "train", root=tiny)
    item = data[0]
    x, y = item[0], item[1]
    assert tuple(x.shape) == (3, 17, 8) and tuple(y.shape) == (3, 17, 8)
    assert data.mask_var == "mask"


def test_solve_writes_one_case_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "square.nc"
    rc = main(["solve", "obstacle", "shape=triangle_forward", "size=0.12", "center_x=0.4", "rotation=15", "h=0.08",
               "h_obstacle=0.15", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    ds = xr.open_dataset(out)
    assert ds.sizes["sample"] == 1 and ds["ux"].dims == ("sample", "x", "y")
    assert ob.SHAPES[int(ds["shape"][0])] == "triangle_forward" and float(ds["rotation"][0]) == 15.0
    assert float(ds["c_D"][0]) > 0 and float(ds["reynolds"][0]) == pytest.approx(12.0)
    ds.close()
    assert main(["check", str(out)]) == 0
    capsys.readouterr()
    assert main(["solve", "obstacle", "shape=hexagon", "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err
    assert "hexagon" in err and "rhombus" in err and "triangle_forward" in err
    assert main(["solve", "obstacle", "radius=0.1", "--out", str(tmp_path / "x.nc")]) == 2
    assert "radius" in capsys.readouterr().err
    # an obstacle through the wall is refused before any mesh is made
    assert main(["solve", "obstacle", "size=0.3", "center_y=0.05", "--out", str(tmp_path / "x.nc")]) == 2
    assert "inside the channel" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def test_plot_samples_and_predictions_vs_truth(tiny, tmp_path, capsys):
    png = tmp_path / "samples.png"
    assert main(["--root", str(tiny), "plot", "obstacle", "n=2", "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000
    run = tmp_path / "run"
    assert main(["--root", str(tiny), "train", "obstacle", "model=deepcfd", "epochs=1", f"out={run}"]) == 0
    capsys.readouterr()
    pred = run / "predictions.nc"
    assert main(["--root", str(tiny), "plot", "obstacle", f"pred={pred}", "n=2"]) == 0
    assert pred.with_suffix(".png").stat().st_size > 10_000
    assert main(["--root", str(tiny), "plot", "obstacle", "colour=red"]) == 2
    assert "pred" in capsys.readouterr().err


def test_backend_is_chosen_by_name_and_a_missing_dolfinx_says_how_to_build_it(monkeypatch, tmp_path):
    from pdeforge.errors import UnknownNameError
    from pdeforge.generators.fem.dolfinx_env import BackendUnavailableError

    with pytest.raises(UnknownNameError, match="dolfinx, skfem"):
        effective_card("obstacle", {"backend": "fenics"})
    monkeypatch.setenv("PDEFORGE_DOLFINX_PYTHON", str(tmp_path / "absent" / "python"))
    with pytest.raises(BackendUnavailableError, match="make dolfinx"):
        effective_card("obstacle", {"backend": "dolfinx"})


def test_delta_p_is_finite_where_the_pressure_point_lies_on_a_curved_boundary(card):
    # drawn case train[132] of the card: a circle whose upstream point (x_c - r, y_c), a mesh
    # vertex on the curved boundary, escaped point location by rounding (delta_p was NaN before
    # the vertex fallback of fem/ns/solver._quantities)
    family = effective_card("obstacle")[1]
    p = family.case_params(card, family.configs(card)[0], "train", 132)
    assert p["shape"] == "circle"
    a = family.solve(card, p)
    assert np.isfinite(a["delta_p"]) and a["delta_p"] > 0
