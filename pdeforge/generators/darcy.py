r"""Darcy flow, the FNO benchmark setup: −∇·(a ∇u) = f on (0,1)², u = 0 on ∂Ω, f ≡ 1.

Li et al. (2021), "Fourier Neural Operator for Parametric Partial Differential Equations",
section 5.2, reproduced from the paper and the published MATLAB generator
(``data_generation/darcy/{GRF,solve_gwf,demo}.m`` of the neuraloperator repository):

* **Coefficient.** a = ψ(g), ψ(t) = 12 for t ≥ 0 and 3 for t < 0 (card ``coefficient``; the
  paper's values — the public ``demo.m`` uses 4 instead of 3), g the zero-Neumann GRF with
  covariance τ^(2α−2) (−Δ + τ²I)^(−α), α = 2, τ = 3, mean mode removed; spectral convention
  and formula in :mod:`pdeforge.generators.grf_neumann`
  (σ_k = τ^(α−1) (π²|k|² + τ²)^(−α/2) = 3 / (π²|k|² + 9) on the orthonormal cosine modes).
* **Grid.** All fields live on the ``S × S`` node grid ``x_i = i/(S−1)``, ``i = 0..S−1``,
  boundary nodes included (card ``grid.solve``, S = 421 as in FNO). g is evaluated exactly at
  the nodes (type-I DCT), a = ψ(g) at the nodes.
* **Discretisation** (:func:`darcy_matrix`). The 5-point scheme of ``solve_gwf.m``: unknowns
  at the (S−2)² interior nodes, h = 1/(S−1), the flux through the face between neighbouring
  nodes p, q uses the **arithmetic mean** (a_p + a_q)/2 (card ``solver.face_mean``;
  ``"harmonic"`` = 2 a_p a_q/(a_p + a_q) is available). Row of node (i, j)::

      [ (a_e + a_w + a_n + a_s) u_ij − a_e u_{i+1,j} − a_w u_{i−1,j} − a_n u_{i,j+1} − a_s u_{i,j−1} ] / h² = f_ij

  with boundary neighbours = 0. Second order for smooth a (``tests/test_darcy.py``). Solved with
  :func:`pdeforge.generators.fv.solve` (card ``solver.method``).
  Why arithmetic: it is what the published data used, and for ψ-coefficients (jumps on curves
  that cut through the grid) neither mean is consistently more accurate — against a P1-FEM
  reference at 513² nodes (exact discontinuous a, degree-6 quadrature) the relative max errors
  at 33, 65, 129, 257 nodes were 3.4e-2, 1.9e-2, 6.2e-3, 3.2e-3 (arithmetic) and 3.7e-2,
  1.4e-2, 6.9e-3, 2.9e-3 (harmonic): both about first order, to the same limit
  (``tests/test_fem_skfem.py::test_fd_face_means_converge_to_the_fem_limit``). For smooth a
  both are second order (``tests/test_darcy.py``).
* **Backend** (card ``solver.backend``, default ``"fd"`` = the scheme above). The solve goes
  through the named elliptic backend of :mod:`pdeforge.generators.elliptic_backends`, in batches
  of :data:`SOLVE_BATCH` samples: ``fd`` (this 5-point scheme), ``skfem_p1`` (P1 finite elements
  on the same nodes, coefficient = P1 interpolant of the node values of a, by scikit-fem) or
  ``dolfinx_p1`` (the same P1 problem by DOLFINx in ``.venv-dolfinx``; round-off agreement with
  ``skfem_p1``). Every backend sees the same a = ψ(g) at the nodes and returns u at the nodes.
  ``face_mean`` belongs to ``fd``; the other backends refuse a non-default value. A non-default
  backend enters the content key and the config names (``fno_s85_skfem_p1``); ``fd`` leaves both
  as they were before backends existed, so existing datasets keep their keys.
* **Stored resolutions** (card ``grid.store``, ``grid.subsample = "stride"``): the FNO protocol
  takes every r-th node of the solve grid, r = (S−1)/(s−1): 421 → 85, 141, 211 (r = 5, 3, 2).
  Sample i of every stored resolution comes from the same solve (seeds do not depend on the
  stored resolution), so ``fno_s85`` is exactly ``fno_s211`` injected to its coarser nodes.

Differences from the published MATLAB pipeline (all at the level of O(h) grid effects): FNO's
``GRF.m`` evaluates the expansion at the cell centres (n + ½)/S (type-II DCT) and ``solve_gwf.m``
spline-interpolates a (and f) from those points to the nodes before the solve and the node
solution back to the cell centres after it, so its a is not exactly two-valued at the solve and
its stored u is not exactly 0 on the outer rows. Here g, a and u share the node grid, a is
exactly ψ(g) where the solver sees it, and u = 0 on the boundary rows.

Stored variables (``u[s, i, j] = u(x[i], y[j])``; x = array axis 0):

=============  ==========  ===========================================================
``a``          (x, y)      coefficient ψ(g) on the stored nodes (input)
``u``          (x, y)      solution on the stored nodes incl. the boundary (target)
``residual``   ()          ‖b − A u‖₂/‖b‖₂ of the backend's linear system on the solve grid (diagnostic)
=============  ==========  ===========================================================
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from pdeforge.datasets.cards import Card, parse_choice, parse_float, parse_int, parse_list
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators import elliptic_backends, fv
from pdeforge.datasets.family import (
    FAMILIES, ConfigSpec, Coordinate, Family, Override, VariableSpec, content_hash, spine_overrides,
)
from pdeforge.generators.darcy_fd import FACE_MEANS, node_coords, psi
from pdeforge.generators.grf_neumann import NeumannGRF

#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
SUBSAMPLE = ("stride",)
#: the FNO solve grid; config names carry the solve grid only when it differs from this
FNO_SOLVE = 421
MAX_SOLVE = 4097
#: card [solver] settings that only some backends take, and the value the others imply
BACKEND_SPECIFIC = {"face_mean": "arithmetic"}
#: samples handed to the elliptic backend per call (bounds memory; amortises the dolfinx subprocess)
SOLVE_BATCH = 32


# --- card and overrides ---------------------------------------------------------------------


def stride(solve: int, store: int) -> int:
    if store < 2 or store > solve or (solve - 1) % (store - 1):
        raise InvalidValueError(
            f"stored grid {store} is not a stride subsampling of the {solve}-node solve grid; "
            f"available: {', '.join(map(str, stored_sizes(solve)))}")
    return (solve - 1) // (store - 1)


def stored_sizes(solve: int) -> list[int]:
    """Stored grids reachable by stride from ``solve`` nodes (the FNO protocol)."""
    return sorted((solve - 1) // r + 1 for r in range(1, solve) if (solve - 1) % r == 0)


def config_name(params: dict[str, Any]) -> str:
    """``fno_s<store>``, then ``_solve<S>`` when S is not FNO's 421, then ``_<backend>`` for a
    backend other than ``fd`` (``params`` has a ``backend`` entry only then)."""
    name = f"fno_s{params['store']}"
    if params["solve"] != FNO_SOLVE:
        name = f"{name}_solve{params['solve']}"
    return f"{name}_{params['backend']}" if "backend" in params else name


def backend_and_options(card: Card) -> tuple[elliptic_backends.Backend, dict[str, Any]]:
    """The card's elliptic backend (``solver.backend``, default fd) and the ``[solver]`` settings
    it takes (of face_mean, method, rtol); unknown backends raise, listing the known ones."""
    solver = card.get("solver")
    backend = elliptic_backends.get(solver.get("backend", elliptic_backends.DEFAULT))
    return backend, {k: solver[k] for k in backend.options if k in solver}


def _check_backend(card: Card) -> None:
    """Known backend, installed, and no backend-specific setting it would silently ignore."""
    backend, _ = backend_and_options(card)
    for key, neutral in BACKEND_SPECIFIC.items():
        value = card.get(f"solver.{key}", neutral)
        if key not in backend.options and value != neutral:
            raise InvalidValueError(
                f"solver.{key} = {value!r} applies only to the {', '.join(elliptic_backends.taking(key))} "
                f"backend; backend {backend.name!r} does not use it (leave it at {neutral!r})")
    backend.check()


def _store(card: Card, text: str) -> dict[str, Any]:
    return {"grid.store": [parse_int("store", s, 2, MAX_SOLVE) for s in parse_list(text)]}


OVERRIDES = {
    **spine_overrides("fno_s85,fno_s141"),
    "solve": Override("solve grid: nodes per axis including the boundary (FNO: 421)",
                      lambda c, t: {"grid.solve": parse_int("solve", t, 3, MAX_SOLVE)}),
    "store": Override("stored grids (nodes per axis), each a stride subsampling of the solve grid, "
                      "e.g. 85,141,211", _store),
    "solver": Override("linear solver: auto, ldl, direct or amg",
                       lambda c, t: {"solver.method": parse_choice("solver", t, sorted(fv.SOLVERS) + ["auto"])}),
    "backend": Override(f"elliptic solver backend: {', '.join(elliptic_backends.names())} "
                        "(fd = FNO's 5-point scheme, the default)",
                        lambda c, t: {"solver.backend": str(t)}),
    "face_mean": Override("face coefficient of the fd backend: arithmetic (FNO) or harmonic",
                          lambda c, t: {"solver.face_mean": parse_choice("face_mean", t, list(FACE_MEANS))}),
    "a_pos": Override("coefficient where g >= 0 (FNO: 12)",
                      lambda c, t: {"coefficient.positive": parse_float("a_pos", t, 1e-12, 1e12)}),
    "a_neg": Override("coefficient where g < 0 (FNO paper: 3; the public demo.m: 4)",
                      lambda c, t: {"coefficient.negative": parse_float("a_neg", t, 1e-12, 1e12)}),
}


@functools.lru_cache(maxsize=8)
def _grf(s: int, alpha: float, tau: float) -> NeumannGRF:
    return NeumannGRF(s, alpha=alpha, tau=tau, points="nodes")


@FAMILIES.register("darcy")
class Darcy(Family):
    name = "darcy"
    overrides = OVERRIDES
    tiny = {"solve": "41", "store": "21,11", "n_train": "3", "n_test": "2", "n_val": "1",
            "samples_per_shard": "2"}

    # --- card -------------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        solve = int(card.get("grid.solve"))
        if not 3 <= solve <= MAX_SOLVE:
            raise InvalidValueError(f"grid.solve={solve} is out of range [3, {MAX_SOLVE}]")
        stores = card.get("grid.store")
        if not stores:
            raise InvalidValueError("grid.store is empty")
        for s in stores:
            stride(solve, int(s))
        if card.get("grid.subsample", "stride") not in SUBSAMPLE:
            raise InvalidValueError(f"grid.subsample must be one of {', '.join(SUBSAMPLE)}")
        if card.get("solver.face_mean") not in FACE_MEANS:
            raise UnknownNameError("face mean", card.get("solver.face_mean"), FACE_MEANS)
        _check_backend(card)
        for key in ("coefficient.positive", "coefficient.negative"):
            if not float(card.get(key)) > 0:
                raise InvalidValueError(f"{key} must be > 0 (the equation must stay elliptic)")
        if float(card.get("field.alpha")) <= 1.0 or float(card.get("field.tau")) <= 0:
            raise InvalidValueError("field.alpha must be > 1 (= d/2) and field.tau > 0")
        if card.get("seeding.mode") != "independent":
            raise InvalidValueError("seeding.mode must be 'independent' (the only mode of this family)")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        solve = int(card.get("grid.solve"))
        backend = card.get("solver.backend", elliptic_backends.DEFAULT)
        # the default backend adds nothing: configs (and content keys) of fd cards stay as they were
        extra = {} if backend == elliptic_backends.DEFAULT else {"backend": backend}
        out = []
        for s in dict.fromkeys(int(v) for v in card.get("grid.store")):
            p = {"solve": solve, "store": s, "stride": stride(solve, s), **extra}
            out.append(ConfigSpec(config_name(p), p))
        return out

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        solver = dict(card.get("solver"))
        if solver.get("backend") == elliptic_backends.DEFAULT:
            del solver["backend"]  # fd: the key of datasets generated before backends existed
        blob = {
            "generator_version": GENERATOR_VERSION,
            "params": config.params,
            "subsample": card.get("grid.subsample", "stride"),
            "seeding": card.get("seeding"),
            "field": card.get("field"),
            "coefficient": card.get("coefficient"),
            "forcing": card.get("forcing"),
            "solver": solver,
        }
        return content_hash(blob)

    # --- schema -----------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        pos, neg = float(card.get("coefficient.positive")), float(card.get("coefficient.negative"))
        return {
            "a": VariableSpec(("x", "y"), "float64", "input",
                              f"coefficient a = psi(g): {pos:g} where g >= 0, {neg:g} where g < 0"),
            "u": VariableSpec(("x", "y"), "float64", "target",
                              "solution u of -div(a grad u) = f, u = 0 on the boundary"),
            "residual": VariableSpec((), "float64", "diagnostic",
                                     "relative residual |f - A u| / |f| of the solve-grid system"),
        }

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        p = config.params
        x = node_coords(p["solve"])[:: p["stride"]]
        label = f"node coordinate i/(store-1), boundary included (every {p['stride']}th of the {p['solve']} solve nodes)"
        return {"x": Coordinate(x, "x " + label), "y": Coordinate(x.copy(), "y " + label)}

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        p = config.params
        solver = card.get("solver")
        backend, options = backend_and_options(card)
        return {
            "grid_solve": p["solve"],
            "grid_store": p["store"],
            "subsample": f"{card.get('grid.subsample', 'stride')}: every {p['stride']}th node of the solve grid",
            "grf": ("g ~ N(0, tau^(2 alpha-2) (-Laplacian_Neumann + tau^2 I)^(-alpha)), mean mode removed; "
                    "g = sum_k tau^(alpha-1) (pi^2 |k|^2 + tau^2)^(-alpha/2) xi_k phi_k, k1,k2 = 0..solve-1, "
                    "phi_k = products of sqrt(2) cos(pi k x) (1 for k = 0), evaluated at the solve nodes"),
            "alpha": float(card.get("field.alpha")),
            "tau": float(card.get("field.tau")),
            "a_positive": float(card.get("coefficient.positive")),
            "a_negative": float(card.get("coefficient.negative")),
            "forcing": float(card.get("forcing.value")),
            "solver": backend.describe(p["solve"], **options),
            "solver_backend": backend.name,
            "solver_library": backend.library(),
            "solver_rtol": solver["rtol"],
            "orientation": "arrays indexed [sample, x, y]: u[s, i, j] = u(x[i], y[j])",
            "generator_version": GENERATOR_VERSION,
        }

    # --- generation -------------------------------------------------------------------------
    @staticmethod
    def seed_key(params: dict[str, Any]) -> str:
        """Seeds depend on the solve grid only: every stored resolution sees the same samples."""
        return f"darcy_solve{params['solve']}"

    def coefficient(self, card: Card, params: dict[str, Any], split: str, index: int):
        """(g, a = ψ(g)) of one sample on the solve grid, from its own seed."""
        S = params["solve"]
        ss = sample_seedseq(int(card.get("seeding.master_seed")), self.seed_key(params), split, index)
        grf = _grf(S, float(card.get("field.alpha")), float(card.get("field.tau")))
        g = grf.sample(np.random.Generator(np.random.PCG64(ss)))
        return g, psi(g, card.get("coefficient.positive"), card.get("coefficient.negative"))

    def sample_full(self, card: Card, params: dict[str, Any], split: str, index: int):
        """(g, a, u, info) of one sample on the solve grid; info: the backend's
        :class:`~pdeforge.generators.elliptic_backends.BackendInfo`."""
        g, a = self.coefficient(card, params, split, index)
        backend, options = backend_and_options(card)
        u, info = elliptic_backends.solve(backend.name, a, float(card.get("forcing.value")), **options)
        return g, a, u, info

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        """Samples start..stop−1: coefficients drawn per sample, solved by the card's backend in
        batches of :data:`SOLVE_BATCH`, stored at every ``stride``-th node."""
        p = config.params
        r, s = p["stride"], p["store"]
        m = stop - start
        out = {"a": np.empty((m, s, s)), "u": np.empty((m, s, s)), "residual": np.empty(m)}
        backend, options = backend_and_options(card)
        f = float(card.get("forcing.value"))
        for lo in range(start, stop, SOLVE_BATCH):
            hi = min(lo + SOLVE_BATCH, stop)
            a = np.stack([self.coefficient(card, p, split, i)[1] for i in range(lo, hi)])
            u, infos = elliptic_backends.solve_batch(backend.name, a, f, **options)
            rows = slice(lo - start, hi - start)
            out["a"][rows] = a[:, ::r, ::r]
            out["u"][rows] = u[:, ::r, ::r]
            out["residual"][rows] = [info.residual for info in infos]
        return out
