r"""Darcy flow, the PDEBench setup: −∇·(a ∇u) = β on (0,1)², u = 0 on ∂Ω, a ∈ {1, 0.1}.

Takamoto et al. (2022), "PDEBench: An Extensive Benchmark for Scientific Machine Learning",
2D Darcy flow (files ``2D_DarcyFlow_beta{β}_Train.hdf5``, β ∈ {0.01, 0.1, 1, 10, 100}), learnt
from the published generator ``pdebench/data_gen/data_gen_NLE/ReactionDiffusionEq/
reaction_diffusion_2D_multi_solution_Hydra.py`` with ``config/multi/config_2D.yaml``,
``../utils.py`` and ``../Data_Merge.py`` of the PDEBench repository. Everything is dimensionless.

* **Grid.** N × N cells of side h = 1/N (card ``grid.cells``, PDEBench: N = 128); a and u live
  at the cell centres ``x_i = (i + ½)/N``, i = 0..N−1 (PDEBench's ``x-coordinate``).
* **Coefficient** (:func:`draw_bumps`, :func:`bump_sum`, :func:`expected_threshold`). K = 5
  Gaussian bumps (card ``coefficient.n_bumps``) with centres c_k ~ U([0,1)²) and widths
  s_k ~ U(0, s_max], s_max = 0.5 (``coefficient.width_max``; PDEBench's ``stds`` =
  0.5 (x_R − x_L) U), which enter as a squared length::

      g(x) = Σ_k exp(−|x − c_k|² / s_k),      a(x) = a_high (= 1) if g(x) > t else a_low (= 0.1)

  evaluated at the cell centres. PDEBench's threshold t is ``nu.mean()`` over the whole batch
  array (200 samples × N² points per run). That couples the samples of a batch, so here t is,
  by default (``coefficient.threshold = "expected"``), the limit of that batch mean for an
  infinite batch, E[mean_ij g(x_i, y_j)] = K / s_max ∫₀^{s_max} m(s)² ds with
  m(s) = mean_i F(x_i, s), F(x, s) = ∫₀¹ exp(−(x − c)²/s) dc = ½√(πs) [erf((1−x)/√s) + erf(x/√s)]
  (the x and y integrals factor; computed once per grid by adaptive quadrature). A PDEBench
  batch of 200 scatters around this value by about 1.5 % (one standard deviation).
  ``"sample_mean"`` thresholds each sample at its own spatial mean of g instead (every sample
  then has both phases, in about equal parts).
* **Equation and discretisation** (:func:`darcy_matrix`). Cell-centred finite volumes for
  −∇·(a∇u) = β, u = 0 on ∂Ω. Interior face between cells P, Q: flux a_f (u_P − u_Q)/h with
  a_f the **arithmetic mean** (a_P + a_Q)/2 as in PDEBench (``solver.face_mean``; ``"harmonic"``
  available). Boundary face of cell P: flux w a_P u_P / h with the cell's own coefficient (what
  PDEBench's zero-gradient ghost copy of ``nu`` gives) and ``solver.boundary``:

  - ``"face"`` (default), w = 2: u = 0 on the boundary faces x = 0, 1, half a cell from the
    centre — the stated problem on (0,1)²; second order for smooth a
    (``tests/test_darcy_pdebench.py``).
  - ``"ghost"``, w = 1: u = 0 at the ghost-cell centres −h/2 and 1 + h/2, which is what
    PDEBench's ``bc_2D(mode="Neumann")`` does (it zeroes the ghost cells; the name notwithstanding
    it is a Dirichlet closure). Its fixed point is exactly the steady state of PDEBench's
    semi-discrete scheme, but it puts the boundary O(h) outside (0,1)², so it is only first order.

  Row of cell (i, j), unknowns numbered ``i N + j`` (C order of ``u[i, j]``, axis 0 = x)::

      [ (a_e + a_w + a_n + a_s) u_ij − a_e u_{i+1,j} − a_w u_{i−1,j} − a_n u_{i,j+1} − a_s u_{i,j−1} ] / h² = β

  with the boundary faces' a_f = w a_P and their neighbour dropped. The SPD system is solved
  directly (:func:`pdeforge.generators.fv.solve`, card ``solver.method``).
  Accuracy for the two-valued coefficient (jumps on curves that cut through cells, contrast 10):
  about first order and irregular, since the cell-sampled interface moves by up to a cell. For a
  three-bump test coefficient the relative max errors against P1-FEM at 1025² nodes (exact
  discontinuous a, degree-4 quadrature) at N = 64, 128, 256, 512 were 6.3e-2, 3.5e-2, 1.2e-2,
  7.4e-3 (arithmetic) and 2.7e-2, 3.9e-2, 4.1e-3, 2.3e-3 (harmonic); at PDEBench's 128² the
  discretisation error is a few per cent either way.
* **Steady solve instead of a pseudo-time march — the deliberate difference.** PDEBench marches
  ∂_t u − ∇·(a∇u) = β with the scheme above (ghost closure, explicit midpoint steps,
  dt = CFL · h²/(2 max a), CFL = 0.25) from a random initial state (``init_multi_2DRand``:
  a mean level in [0.1, 10] plus random Fourier modes) to t = 2, saving every 0.25, and stores
  the second-to-last frame (t = 1.75; ``Data_Merge.py`` keeps ``[:, -2]``) as ``tensor``. That
  frame is the steady state plus a remainder of the initial state decaying like e^{−λ₁ t}, λ₁ the
  smallest eigenvalue of the discrete operator. For 20 coefficients of this family at 64² cells
  λ₁ ranged from 1.9 (a = 0.1 almost everywhere) to 11.2, i.e. e^{−1.75 λ₁} from 3.5e-2 to
  3e-9: in low-coefficient samples a few per cent of an O(1–10) initial state survive, which is
  not small against the steady u ≲ 0.01 of β = 0.01. Here the steady problem is solved
  directly, so u has no remainder and is linear in β: u(β) = β u(1). Samples of all β configs
  share their seeds, hence their coefficients, like PDEBench's β files, whose coefficients
  depend only on the run's ``init_key`` (``run_DarcyFlow2D.sh``: keys 2020–2069, 200 samples
  each, 10000 per β).

Stored variables (``u[s, i, j] = u(x[i], y[j])``; x = array axis 0):

=============  ==========  ===============================================================
``a``          (x, y)      coefficient at the cell centres, a_high or a_low (input)
``u``          (x, y)      steady solution at the cell centres (target)
``beta``       ()          forcing β of the config (param; a constant channel if wanted)
``threshold``  ()          the t that g was compared with (diagnostic)
``residual``   ()          ‖b − A u‖₂/‖b‖₂ of the linear solve (diagnostic)
=============  ==========  ===============================================================
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import integrate, special

from pdeforge.datasets.cards import Card, parse_choice, parse_float, parse_int, parse_list
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators import fv
from pdeforge.datasets.family import (
    FAMILIES, ConfigSpec, Coordinate, Family, Override, VariableSpec, content_hash, spine_overrides,
)
from pdeforge.generators.darcy_fd import FACE_MEANS, face_coefficients

#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
#: PDEBench's grid; config names carry the grid only when it differs from this
PDEBENCH_CELLS = 128
MAX_CELLS = 4096
THRESHOLDS = ("expected", "sample_mean")
#: boundary closure → weight w of the boundary-face coefficient w·a_P (see module docstring)
BOUNDARY_WEIGHTS = {"face": 2.0, "ghost": 1.0}


# --- coefficient --------------------------------------------------------------------------


def cell_centres(n: int) -> np.ndarray:
    """The n cell centres ``(i + ½)/n``, i = 0..n−1, of one axis of the unit square."""
    if n < 1:
        raise ValueError(f"need at least 1 cell, got {n}")
    return (np.arange(n, dtype=float) + 0.5) / n


def draw_bumps(rng: np.random.Generator, n_bumps: int = 5, width_max: float = 0.5):
    """Centres ``(K, 2)`` ~ U([0,1)²) and widths ``(K,)`` ~ U(0, width_max], in that order.

    Widths are drawn as ``width_max (1 − U)``, U ~ U[0, 1), so they are never exactly 0.
    """
    centres = rng.random((n_bumps, 2))
    widths = width_max * (1.0 - rng.random(n_bumps))
    return centres, widths


def bump_sum(centres: np.ndarray, widths: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """g[i, j] = Σ_k exp(−((x_i − cx_k)² + (y_j − cy_k)²)/s_k) on the tensor grid x × y.

    The exponential factors into an x and a y part, so the sum is one (K, nx)ᵀ (K, ny) product.
    """
    s = np.asarray(widths, dtype=float)[:, None]
    ex = np.exp(-((np.asarray(x)[None, :] - centres[:, 0:1]) ** 2) / s)
    ey = np.exp(-((np.asarray(y)[None, :] - centres[:, 1:2]) ** 2) / s)
    return ex.T @ ey


def bump_line_integral(x: np.ndarray, s: float) -> np.ndarray:
    """F(x, s) = ∫₀¹ exp(−(x − c)²/s) dc = ½√(πs) [erf((1 − x)/√s) + erf(x/√s)]."""
    r = math.sqrt(s)
    return 0.5 * math.sqrt(math.pi) * r * (special.erf((1.0 - x) / r) + special.erf(x / r))


@functools.lru_cache(maxsize=32)
def expected_threshold(n: int, n_bumps: int = 5, width_max: float = 0.5) -> float:
    """E[mean over the n × n cell centres of g]: the infinite-batch limit of PDEBench's threshold.

    = K / s_max ∫₀^{s_max} m(s)² ds, m(s) = mean_i F(x_i, s) (:func:`bump_line_integral`).
    """
    x = cell_centres(n)
    value, _ = integrate.quad(lambda s: bump_line_integral(x, s).mean() ** 2, 0.0, width_max,
                              epsabs=0.0, epsrel=1e-12, limit=200)
    return n_bumps * value / width_max


def threshold_coefficient(g: np.ndarray, t: float, high: float = 1.0, low: float = 0.1) -> np.ndarray:
    """``high`` where g > t, ``low`` elsewhere (PDEBench: ``where(nu > mean, 1, 0.1)``)."""
    return np.where(np.asarray(g) > t, float(high), float(low))


# --- discretisation ------------------------------------------------------------------------


def _check_cells(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"a must be a square (N, N) array of cell values with N >= 2, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() <= 0:
        raise ValueError("a must be finite and strictly positive")
    return a


def darcy_matrix(a: np.ndarray, mean: str = "arithmetic", boundary: str = "face") -> sp.csr_matrix:
    """Cell-centred FV matrix of −∇·(a∇u), u = 0 on ∂Ω, on the N × N cells (module docstring).

    ``a``: (N, N) cell-centre values, axis 0 = x. Returns the SPD CSR matrix over the N² cells,
    numbered ``i N + j``, multiplied by 1/h² = N².
    """
    a = _check_cells(a)
    if boundary not in BOUNDARY_WEIGHTS:
        raise UnknownNameError("boundary closure", boundary, BOUNDARY_WEIGHTS)
    ax, ay = face_coefficients(a, mean)  # interior faces: (N−1, N) in x, (N, N−1) in y
    wall = BOUNDARY_WEIGHTS[boundary] * a
    west = np.concatenate([wall[:1, :], ax], axis=0)
    east = np.concatenate([ax, wall[-1:, :]], axis=0)
    south = np.concatenate([wall[:, :1], ay], axis=1)
    north = np.concatenate([ay, wall[:, -1:]], axis=1)
    scale = float(a.shape[0] ** 2)
    return fv.five_point_matrix(scale * west, scale * east, scale * south, scale * north)


def solve_cells(a: np.ndarray, f: float | np.ndarray = 1.0, mean: str = "arithmetic",
                boundary: str = "face", method: str = "auto",
                rtol: float = 1e-10) -> tuple[np.ndarray, fv.SolveInfo]:
    """Solve −∇·(a∇u) = f on the N × N cells; returns u at the cell centres and the solve info.

    ``f``: a scalar (β) or (N, N) values at the cell centres.
    """
    a = _check_cells(a)
    n = a.shape[0]
    if np.ndim(f) == 0:
        b = np.full(n * n, float(f))
    else:
        f = np.asarray(f, dtype=float)
        if f.shape != a.shape:
            raise ValueError(f"f must be a scalar or have the shape of a {a.shape}, got {f.shape}")
        b = f.ravel()
    x, info = fv.solve(darcy_matrix(a, mean, boundary), b, method=method, rtol=rtol)
    return x.reshape(n, n), info


# --- card and overrides ---------------------------------------------------------------------


def config_name(params: dict[str, Any]) -> str:
    """``beta1.0`` on PDEBench's 128² grid, ``beta1.0_grid64`` on any other."""
    name = f"beta{float(params['beta'])!r}"
    return name if params["grid"] == PDEBENCH_CELLS else f"{name}_grid{params['grid']}"


def _betas(card: Card, text: str) -> dict[str, Any]:
    return {"forcing.betas": [parse_float("betas", b, 1e-300, 1e300) for b in parse_list(text)]}


OVERRIDES = {
    **spine_overrides("beta0.01,beta100.0"),
    "grid": Override("cells per axis (PDEBench: 128)",
                     lambda c, t: {"grid.cells": parse_int("grid", t, 2, MAX_CELLS)}),
    "betas": Override("forcing values, one config each, e.g. 0.01,0.1,1.0,10.0,100.0", _betas),
    "threshold": Override("coefficient threshold: expected (PDEBench's batch mean, infinite-batch "
                          "limit) or sample_mean",
                          lambda c, t: {"coefficient.threshold": parse_choice("threshold", t, list(THRESHOLDS))}),
    "boundary": Override("u = 0 on the boundary faces (face) or at PDEBench's ghost-cell centres (ghost)",
                         lambda c, t: {"solver.boundary": parse_choice("boundary", t, list(BOUNDARY_WEIGHTS))}),
    "face_mean": Override("interior face coefficient: arithmetic (PDEBench) or harmonic",
                          lambda c, t: {"solver.face_mean": parse_choice("face_mean", t, list(FACE_MEANS))}),
    "solver": Override("linear solver: auto, ldl, direct or amg",
                       lambda c, t: {"solver.method": parse_choice("solver", t, sorted(fv.SOLVERS) + ["auto"])}),
}


@FAMILIES.register("darcy_pdebench")
class DarcyPDEBench(Family):
    name = "darcy_pdebench"
    overrides = OVERRIDES
    tiny = {"grid": "16", "n_train": "3", "n_test": "2", "n_val": "1",
            "configs": "beta0.01_grid16,beta100.0_grid16", "samples_per_shard": "2"}

    # --- card -------------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        cells = int(card.get("grid.cells"))
        if not 2 <= cells <= MAX_CELLS:
            raise InvalidValueError(f"grid.cells={cells} is out of range [2, {MAX_CELLS}]")
        betas = card.get("forcing.betas")
        if not betas or not all(math.isfinite(float(b)) and float(b) > 0 for b in betas):
            raise InvalidValueError("forcing.betas must be a non-empty list of finite numbers > 0")
        for key in ("coefficient.high", "coefficient.low", "coefficient.width_max"):
            if not float(card.get(key)) > 0:
                raise InvalidValueError(f"{key} must be > 0")
        if int(card.get("coefficient.n_bumps")) < 1:
            raise InvalidValueError("coefficient.n_bumps must be >= 1")
        for key, choices in (("coefficient.threshold", THRESHOLDS), ("solver.boundary", BOUNDARY_WEIGHTS),
                             ("solver.face_mean", FACE_MEANS)):
            parse_choice(key, card.get(key), list(choices))
        if card.get("seeding.mode") != "independent":
            raise InvalidValueError("seeding.mode must be 'independent' (the only mode of this family)")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        cells = int(card.get("grid.cells"))
        out = []
        for beta in dict.fromkeys(float(b) for b in card.get("forcing.betas")):
            p = {"beta": beta, "grid": cells}
            out.append(ConfigSpec(config_name(p), p))
        return out

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        """Everything that fixes a config's samples; not the other βs, split sizes or storage."""
        blob = {
            "generator_version": GENERATOR_VERSION,
            "params": config.params,
            "seeding": card.get("seeding"),
            "coefficient": card.get("coefficient"),
            "solver": card.get("solver"),
        }
        return content_hash(blob)

    # --- schema -----------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        hi, lo = float(card.get("coefficient.high")), float(card.get("coefficient.low"))
        return {
            "a": VariableSpec(("x", "y"), "float64", "input",
                              f"coefficient a: {hi:g} where the bump sum g > threshold, {lo:g} elsewhere"),
            "u": VariableSpec(("x", "y"), "float64", "target",
                              "steady solution u of -div(a grad u) = beta, u = 0 on the boundary"),
            "beta": VariableSpec((), "float64", "param", "constant forcing beta"),
            "threshold": VariableSpec((), "float64", "diagnostic", "threshold t the bump sum g was compared with"),
            "residual": VariableSpec((), "float64", "diagnostic", "relative residual |b - A u| / |b| of the solve"),
        }

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        n = config.params["grid"]
        x = cell_centres(n)
        label = f"cell-centre coordinate (i + 1/2)/{n}"
        return {"x": Coordinate(x, "x " + label), "y": Coordinate(x.copy(), "y " + label)}

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        p, c, solver = config.params, card.get("coefficient"), card.get("solver")
        n = p["grid"]
        threshold = (f"expected = {expected_threshold(n, int(c['n_bumps']), float(c['width_max'])):.15g} "
                     "(infinite-batch limit of PDEBench's batch mean of g)"
                     if c["threshold"] == "expected" else "sample_mean: each sample's spatial mean of g")
        return {
            "grid_cells": n,
            "beta": p["beta"],
            "coefficient": (f"a = {float(c['high']):g} where g > t, {float(c['low']):g} elsewhere; "
                            f"g = sum of {int(c['n_bumps'])} bumps exp(-|x - c_k|^2 / s_k), "
                            f"c_k ~ U([0,1)^2), s_k ~ U(0, {float(c['width_max']):g}], at the cell centres"),
            "threshold_mode": c["threshold"],
            "threshold_rule": threshold,
            "solver": (f"cell-centred finite volumes on {n}x{n} cells, {solver['face_mean']} mean on interior "
                       f"faces, boundary closure '{solver['boundary']}' (u = 0 "
                       + ("on the boundary faces" if solver["boundary"] == "face" else "at the ghost-cell centres")
                       + f"); steady problem solved directly, linear solver {solver['method']}"),
            "solver_rtol": solver["rtol"],
            "pdebench_difference": ("PDEBench marches du/dt - div(a grad u) = beta from a random initial state "
                                    "and stores the t = 1.75 frame; here the steady problem is solved directly"),
            "orientation": "arrays indexed [sample, x, y]: u[s, i, j] = u(x[i], y[j])",
            "generator_version": GENERATOR_VERSION,
        }

    # --- generation -------------------------------------------------------------------------
    @staticmethod
    def seed_key(params: dict[str, Any]) -> str:
        """Seeds depend on the grid only: every β config sees the same coefficients."""
        return f"darcy_pdebench_grid{params['grid']}"

    def sample_coefficient(self, card: Card, params: dict[str, Any], split: str, index: int):
        """(g, t, a) of one sample: bump sum, threshold and coefficient at the cell centres."""
        c = card.get("coefficient")
        n, k, wmax = params["grid"], int(c["n_bumps"]), float(c["width_max"])
        ss = sample_seedseq(int(card.get("seeding.master_seed")), self.seed_key(params), split, index)
        centres, widths = draw_bumps(np.random.Generator(np.random.PCG64(ss)), k, wmax)
        x = cell_centres(n)
        g = bump_sum(centres, widths, x, x)
        t = expected_threshold(n, k, wmax) if c["threshold"] == "expected" else float(g.mean())
        return g, t, threshold_coefficient(g, t, c["high"], c["low"])

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        p, solver = config.params, card.get("solver")
        n, m = p["grid"], stop - start
        out = {"a": np.empty((m, n, n)), "u": np.empty((m, n, n)), "beta": np.full(m, p["beta"]),
               "threshold": np.empty(m), "residual": np.empty(m)}
        for row, index in enumerate(range(start, stop)):
            _, t, a = self.sample_coefficient(card, p, split, index)
            u, info = solve_cells(a, p["beta"], mean=solver["face_mean"], boundary=solver["boundary"],
                                  method=solver["method"], rtol=float(solver["rtol"]))
            out["a"][row], out["u"][row] = a, u
            out["threshold"][row], out["residual"][row] = t, info.residual
        return out
