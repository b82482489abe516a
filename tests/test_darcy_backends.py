"""Elliptic solver backends by name (``solver.backend`` of the Darcy card).

* the registry and its errors; options belong to their backends;
* ``fd`` is the previous ``solve_darcy`` path bit for bit, and the default card keeps its config
  names and content keys (pinned below), so existing datasets stay valid;
* ``skfem_p1`` is exactly a 5-point scheme with six-weight face averages (checked to round-off),
  and it and ``fd`` converge to the same limit for a ψ-thresholded coefficient;
* end to end: a tiny Darcy dataset with ``backend=skfem_p1``;
* ``dolfinx_p1`` (marked ``dolfinx``; skips when ``.venv-dolfinx`` is absent): batches, MPI, and
  a tiny dataset that agrees with ``skfem_p1`` to round-off — same mesh and the same nodal P1
  coefficient, which both libraries integrate exactly, hence the same stiffness matrix. The
  error paths (interpreter missing, subprocess failing) run without dolfinx.
"""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skfem")

from pdeforge import open_dataset  # noqa: E402
from pdeforge.datasets import schema  # noqa: E402
from pdeforge.datasets.runner import effective_card, generate_dataset  # noqa: E402
from pdeforge.datasets.seeding import sample_seedseq  # noqa: E402
from pdeforge.datasets.verify import verify  # noqa: E402
from pdeforge.errors import InvalidValueError, UnknownNameError  # noqa: E402
from pdeforge.generators import darcy, elliptic_backends as eb, fv  # noqa: E402
from pdeforge.generators.darcy_fd import node_coords, psi, solve_darcy  # noqa: E402
from pdeforge.generators.fem.skfem_backend import solve_p1  # noqa: E402
from pdeforge.generators.grf_neumann import NeumannGRF  # noqa: E402
from test_fem_skfem import a_psi  # noqa: E402

QUIET = dict(progress=False, log=lambda *a: None)
SMALL = {"solve": "33", "store": "17", "n_train": "3", "n_test": "1", "n_val": "0", "samples_per_shard": "2"}

#: content keys of the default card's configs as computed before backends existed (datasets
#: generated then carry these keys; the fd default must not change them)
PINNED_KEYS = {
    (): {"fno_s85": "9bd2c18f6e908946f69989a6240721119280400cecc2445a8504b136f089f646",
         "fno_s141": "c05ac0a129bcbbd39069e0280dc27f3ac6690d49f0083b29dcb8225a4c153853",
         "fno_s211": "aad82bbbf3b1b74b56fb32d13b70682a3de10d3bd4f2f81412d26900c3c8abbf"},
    (("solve", "41"), ("store", "21,11")): {
        "fno_s21_solve41": "9e492c06189bdf3f7e53d30aa5e0119830220e59d16f61b858eabedeab766ab2",
        "fno_s11_solve41": "26b9c2e050456fa90286f2c8c0109e25f6dff72a0d520c82e7dfa92277863c26"},
}


def grid(n):
    return np.meshgrid(node_coords(n), node_coords(n), indexing="ij")


def rel_max(u, ref):
    return np.abs(u - ref).max() / np.abs(ref).max()


def psi_stack(batch, n, seed=0):
    """ψ of smooth random fields (a few cosine modes) at the n × n nodes: (batch, n, n)."""
    rng = np.random.default_rng(seed)
    X, Y = grid(n)
    out = []
    for _ in range(batch):
        c = rng.standard_normal((4, 4))
        g = sum(c[k, m] * np.cos(np.pi * k * X) * np.cos(np.pi * m * Y) for k in range(4) for m in range(4))
        out.append(psi(g - np.median(g)))
    return np.stack(out)


def content_keys(overrides):
    card, family = effective_card("darcy", overrides)
    return {c.name: family.content_key(card, c) for c in family.configs(card)}


# --- registry and options -----------------------------------------------------------------------


def test_registry_lists_the_backends_and_unknown_names_list_them():
    assert eb.names() == ["dolfinx_p1", "fd", "skfem_p1"]
    assert eb.taking("face_mean") == ["fd"] and eb.taking("method") == eb.names()
    with pytest.raises(UnknownNameError, match="known elliptic backends: dolfinx_p1, fd, skfem_p1"):
        eb.solve("p3", np.full((5, 5), 2.0))
    with pytest.raises(UnknownNameError, match="known elliptic backends: dolfinx_p1, fd, skfem_p1"):
        effective_card("darcy", {**SMALL, "backend": "p3"})


def test_options_belong_to_their_backends():
    a = np.full((5, 5), 2.0)
    with pytest.raises(InvalidValueError, match="takes no option 'face_mean'.*that take 'face_mean': fd"):
        eb.solve("skfem_p1", a, face_mean="harmonic")
    with pytest.raises(InvalidValueError, match="coefficient='quadrature'"):
        eb.solve("skfem_p1", a, coefficient="quadrature")
    # the card: face_mean is fd's; the FEM backends refuse a non-default value instead of ignoring it
    with pytest.raises(InvalidValueError, match="face_mean = 'harmonic' applies only to the fd backend"):
        effective_card("darcy", {**SMALL, "backend": "skfem_p1", "face_mean": "harmonic"})
    card, family = effective_card("darcy", {**SMALL, "backend": "skfem_p1"})
    assert darcy.backend_and_options(card)[1] == {"method": "auto", "rtol": 1e-10}
    # inputs
    with pytest.raises(ValueError, match="strictly positive"):
        eb.solve("fd", -a)
    with pytest.raises(ValueError, match="f must be"):
        eb.solve("skfem_p1", a, np.ones((4, 4)))


# --- fd: the previous path, bit for bit ---------------------------------------------------------


@pytest.mark.parametrize("mean,method", [("arithmetic", "auto"), ("harmonic", "amg"), ("arithmetic", "direct")])
def test_fd_backend_is_solve_darcy_bit_for_bit(mean, method):
    a = psi_stack(3, 33)
    f = 1.0 + grid(33)[0]
    # pyamg's setup draws from numpy's global RNG: replay the same draws for both paths
    np.random.seed(0)
    u, infos = eb.solve_batch("fd", a, f, face_mean=mean, method=method)
    np.random.seed(0)
    for k in range(len(a)):
        ref, info = solve_darcy(a[k], f, mean=mean, method=method)
        assert np.array_equal(u[k], ref)
        assert infos[k].residual == info.residual and infos[k].backend == "fd"
        assert infos[k].library.startswith("scipy ") and infos[k].details["method"] == info.method


def test_default_card_keeps_its_config_names_and_content_keys():
    for overrides, keys in PINNED_KEYS.items():
        assert content_keys(dict(overrides)) == keys
        assert content_keys({**dict(overrides), "backend": "fd"}) == keys
    p1 = content_keys({"backend": "skfem_p1"})
    assert list(p1) == ["fno_s85_skfem_p1", "fno_s141_skfem_p1", "fno_s211_skfem_p1"]
    assert not set(p1.values()) & set(PINNED_KEYS[()].values())


def test_default_generation_is_the_previous_solve_darcy_path(monkeypatch):
    """generate() == the pre-backend sample loop (seed → GRF → ψ → solve_darcy), bit for bit,
    whatever the solve batch size."""
    card, family = effective_card("darcy", SMALL)
    config = family.configs(card)[0]
    monkeypatch.setattr(darcy, "SOLVE_BATCH", 2)  # 5 samples → batches of 2, 2, 1
    batch = family.generate(card, config, "train", 1, 6)
    grf = NeumannGRF(33, alpha=2.0, tau=3.0, points="nodes")
    for row, index in enumerate(range(1, 6)):
        ss = sample_seedseq(42, "darcy_solve33", "train", index)
        a = psi(grf.sample(np.random.Generator(np.random.PCG64(ss))), 12.0, 3.0)
        u, info = solve_darcy(a, 1.0, mean="arithmetic", method="auto", rtol=1e-10)
        assert np.array_equal(batch["a"][row], a[::2, ::2])
        assert np.array_equal(batch["u"][row], u[::2, ::2])
        assert batch["residual"][row] == info.residual


# --- skfem_p1 -----------------------------------------------------------------------------------


def p1_as_five_point(a):
    """The P1 system on init_tensor's mesh written as a 5-point scheme (see elliptic_backends):
    face coefficient (2 a_p + 2 a_q + a_r + a_s)/6, r, s opposite the edge pq; f ≡ 1."""
    S = a.shape[0]
    ax, ay = np.zeros((S - 1, S)), np.zeros((S, S - 1))
    ax[:, 1:-1] = (2 * a[:-1, 1:-1] + 2 * a[1:, 1:-1] + a[1:, 2:] + a[:-1, :-2]) / 6
    ay[1:-1, :] = (2 * a[1:-1, :-1] + 2 * a[1:-1, 1:] + a[2:, 1:] + a[:-2, :-1]) / 6
    h2 = (S - 1) ** 2
    A = fv.five_point_matrix(h2 * ax[:-1, 1:-1], h2 * ax[1:, 1:-1], h2 * ay[1:-1, :-1], h2 * ay[1:-1, 1:])
    x, _ = fv.solve(A, np.ones((S - 2) ** 2), method="direct")
    u = np.zeros((S, S))
    u[1:-1, 1:-1] = x.reshape(S - 2, S - 2)
    return u


def test_skfem_p1_is_a_five_point_scheme_with_six_weight_faces():
    a = np.random.default_rng(1).uniform(1, 10, (17, 17))  # no symmetry, far from constant
    u, info = eb.solve("skfem_p1", a)
    assert rel_max(u, p1_as_five_point(a)) < 1e-12
    # ... which is not the arithmetic-mean fd scheme
    assert rel_max(u, eb.solve("fd", a)[0]) > 1e-3
    assert info.residual < 1e-12 and info.library.startswith("scikit-fem ")


def test_skfem_p1_backend_is_solve_p1_with_the_nodal_coefficient():
    a = psi_stack(2, 17)
    f = np.stack([1.0 + grid(17)[0], 2.0 - grid(17)[1]])  # one right-hand side per sample
    u, _ = eb.solve_batch("skfem_p1", a, f)
    u_el, _ = eb.solve_batch("skfem_p1", a, f, coefficient="element")
    for k in range(2):
        ref = solve_p1(a[k], f[k], 17, coefficient="nodal")  # default degree-4 rule
        assert rel_max(u[k], ref) < 1e-12
        assert rel_max(u_el[k], ref) < 1e-12  # ∫_T (P1 interpolant) = |T| · vertex mean
    assert np.all(u[:, [0, -1], :] == 0) and np.all(u[:, :, [0, -1]] == 0)


def test_skfem_p1_and_fd_converge_to_the_same_limit(capsys):
    """ψ(g_fixed) at the nodes: both backends approach a fine P1 solution with the exact
    discontinuous coefficient (257 nodes, degree-6 rule), about first order, and each other."""
    ref = solve_p1(a_psi, 1.0, 257, intorder=6)
    coarse, scale = ref[::16, ::16], np.abs(ref).max()
    err = {"fd": [], "skfem_p1": []}
    diff = []
    for n in (17, 33, 65):
        a = a_psi(*grid(n))
        r = (n - 1) // 16
        u = {name: eb.solve(name, a)[0] for name in err}
        for name in err:
            err[name].append(np.abs(u[name][::r, ::r] - coarse).max() / scale)
        diff.append(rel_max(u["fd"], u["skfem_p1"]))
    with capsys.disabled():
        for name, e in err.items():
            print(f"\n{name} error vs P1 (n = 257) at n = 17, 33, 65:", ", ".join(f"{v:.2e}" for v in e))
        print("|u_fd - u_skfem_p1| / max|u|:", ", ".join(f"{v:.2e}" for v in diff))
    for e in err.values():
        assert e[0] > e[1] > e[2] and e[2] < 0.3 * e[0], err
    assert diff[0] > diff[2] and diff[2] < 1e-2, diff
    ratio = np.array(err["fd"]) / np.array(err["skfem_p1"])
    assert np.all((ratio > 0.4) & (ratio < 2.5)), ratio


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skfem_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("darcy_skfem")
    generate_dataset("darcy", {**SMALL, "backend": "skfem_p1"}, root=root, workers=1, **QUIET)
    return root


def test_end_to_end_with_skfem_p1(skfem_root):
    files = sorted(Path(skfem_root).rglob("shard-*.nc"))
    assert len(files) == 2 + 1  # train: 3 samples in shards of 2; test: 1
    for path in files:
        assert schema.check_shard(path) == []
    assert verify("darcy", root=skfem_root, regenerate=2, seed=0, log=lambda *a: None) == []
    ds = open_dataset("darcy", config="fno_s17_solve33_skfem_p1", split="train", root=skfem_root)
    assert ds.attrs["solver_backend"] == "skfem_p1"
    assert ds.attrs["solver_library"].startswith("scikit-fem ") and "P1 finite elements" in ds.attrs["solver"]
    assert ds.attrs["content_key"] not in content_keys(SMALL).values()
    assert np.all(ds["residual"].values < 1e-10)
    # same coefficients as fd (seeds do not depend on the backend), a different discretisation
    card, family = effective_card("darcy", SMALL)
    fd = family.generate(card, family.configs(card)[0], "train", 0, 3)
    np.testing.assert_array_equal(ds["a"].values, fd["a"])
    d = rel_max(ds["u"].values, fd["u"])
    assert 1e-4 < d < 5e-2, d


# --- dolfinx_p1: error paths (no dolfinx needed) ------------------------------------------------


def test_missing_dolfinx_environment_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setenv(eb.DOLFINX_ENV, str(tmp_path / "absent" / "python"))
    for call in (lambda: effective_card("darcy", {**SMALL, "backend": "dolfinx_p1"}),
                 lambda: eb.solve("dolfinx_p1", np.full((5, 5), 2.0))):
        with pytest.raises(eb.BackendUnavailableError, match="make dolfinx"):
            call()
    assert "make dolfinx" in eb.dolfinx_status()


def test_dolfinx_subprocess_failures_carry_their_stderr(monkeypatch, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named dolfinx' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv(eb.DOLFINX_ENV, str(fake))
    with pytest.raises(eb.BackendFailedError, match="(?s)status 3.*No module named dolfinx"):
        eb.solve("dolfinx_p1", np.full((5, 5), 2.0))


# --- dolfinx_p1 (needs .venv-dolfinx) -----------------------------------------------------------


@pytest.fixture(scope="module")
def dolfinx_env():
    why = eb.dolfinx_status()
    if why:
        pytest.skip(why)


@pytest.mark.dolfinx
@pytest.mark.parametrize("coefficient", ["nodal", "element"])
def test_dolfinx_p1_batch_equals_skfem_p1(dolfinx_env, coefficient):
    a = psi_stack(3, 33, seed=2)
    f = np.stack([1.0 + grid(33)[0] * k for k in range(3)])
    u, infos = eb.solve_batch("dolfinx_p1", a, f, coefficient=coefficient)
    ref, _ = eb.solve_batch("skfem_p1", a, f, coefficient=coefficient)
    assert max(rel_max(u[k], ref[k]) for k in range(3)) < 1e-12
    assert all(i.residual < 1e-12 and i.details["ksp_reason"] > 0 for i in infos)
    assert infos[0].library.startswith("dolfinx 0.5.2, petsc4py ") and infos[0].backend == "dolfinx_p1"
    # re-solving in the reverse order (forms and factorisation reused) changes nothing
    rev, _ = eb.solve_batch("dolfinx_p1", a[::-1], f[::-1], coefficient=coefficient)
    assert rel_max(rev[::-1], u) < 1e-13


@pytest.mark.dolfinx
def test_dolfinx_p1_under_mpi_and_with_amg(dolfinx_env):
    import shutil

    a = psi_stack(2, 33, seed=3)
    u, _ = eb.solve_batch("dolfinx_p1", a)
    amg, infos = eb.solve_batch("dolfinx_p1", a, method="amg", rtol=1e-11)
    assert rel_max(amg, u) < 1e-8 and all(i.details["ksp_iterations"] > 1 for i in infos)
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun not found")
    par, infos = eb.solve_batch("dolfinx_p1", a, ranks=2)
    assert rel_max(par, u) < 1e-12 and infos[0].details["ranks"] == 2


@pytest.mark.dolfinx
def test_darcy_dataset_with_dolfinx_p1_equals_skfem_p1(dolfinx_env, skfem_root, tmp_path):
    generate_dataset("darcy", {**SMALL, "backend": "dolfinx_p1"}, root=tmp_path, workers=1, **QUIET)
    for path in sorted(Path(tmp_path).rglob("shard-*.nc")):
        assert schema.check_shard(path) == []
    for split in ("train", "test"):
        dx = open_dataset("darcy", config="fno_s17_solve33_dolfinx_p1", split=split, root=tmp_path)
        sk = open_dataset("darcy", config="fno_s17_solve33_skfem_p1", split=split, root=skfem_root)
        np.testing.assert_array_equal(dx["a"].values, sk["a"].values)
        assert rel_max(dx["u"].values, sk["u"].values) < 1e-12
        assert dx.attrs["solver_backend"] == "dolfinx_p1" and dx.attrs["solver_library"].startswith("dolfinx ")
        assert dx.attrs["content_key"] != sk.attrs["content_key"]
