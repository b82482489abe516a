r"""Time-dependent diffusion: the heat equation with ConDiff coefficients, and 2D FitzHugh–Nagumo.

One family (``diffusion``) with two kinds of configuration (card ``kinds.enabled``):

heat — ``heat_<covariance><variance>_grid<n>``
---------------------------------------------
∂t u = ∇·(k ∇u) + f on (0,1)², u = 0 on ∂Ω, u(0) = 0, t ∈ [0, T].

* **Coefficient and source.** Exactly ConDiff's: k = exp(g), g a Gaussian random field on the
  (n+1)² coefficient points drawn by the ConDiff family's rejection sampler (card ``[field]``,
  same keys and contrast bands as the ConDiff card), f[i, j] ~ N(0, 1) i.i.d. at the unknowns.
* **Initial condition: u0 = 0** (card ``heat.initial = "zero"``). With f constant in time,
  u(t) = (I − e^{−At}) A^{-1} f rises from 0 to the ConDiff solution A^{-1} f of the same (k, f):
  the stored series are the transient of the ConDiff problem (fine scales settle first, the
  smooth modes on the time scale 1/(2π² k)).
* **Space.** The ConDiff 5-point finite-volume matrix A (:func:`pdeforge.generators.fv.condiff_matrix`),
  unknowns at ((i+1)h, (j+1)h), h = 1/(n+1): the semi-discrete system is u' = −A u + f.
* **Time.** Crank–Nicolson, dt = T / ((frames − 1) · steps_per_frame)::

      (I + dt/2 A) u^{m+1} = (I − dt/2 A) u^m + dt f

  with Rannacher start-up (card ``heat.startup_half_steps``, default 4): the first
  ``startup_half_steps`` steps are backward-Euler steps of size dt/2,
  (I + dt/2 A) u^{m+½} = u^m + dt/2 f — the same matrix, so one sparse LU (SuperLU, MMD
  ordering) per sample serves every step. The white-noise source makes the stiff modes of
  u − A^{-1} f large (λ dt up to ~10³ here), which plain CN would carry along as undamped
  (−1)^m oscillations; the implicit-Euler start damps them (measured on a variance-1.0 sample:
  plain CN at dt = 2e-3 is off by 5 % of max |u| in the first frame, the Rannacher start by
  0.4 %). Second order in time either way (``tests/test_diffusion.py`` measures the orders in
  time and space on an exact eigenmode). Default T = 0.2, 21 frames, 10 steps per frame
  (dt = 1e-3): halving dt changes the frames by < 0.1 % of max |u| (first frame; 1e-6 relative
  at T), and u(T) is about 1 % (L2) from the steady ConDiff solution A^{-1} f.

Stored (after ``sample``): ``k`` (x_node, y_node) input, ``f`` (x, y) input, ``u`` (t, x, y)
target (frame 0 is u0), ``contrast`` () param, ``n_candidates`` () diagnostic.

diff_react — ``diff_react_grid<n>``
-----------------------------------
PDEBench's 2D diffusion–reaction (FitzHugh–Nagumo) problem on [−1, 1]², zero flux on ∂Ω::

    u_t = Du Δu + u − u³ − k − v,     v_t = Dv Δv + u − v,

Du = 1e-3, Dv = 5e-3, k = 5e-3, t ∈ [0, 5], 101 frames, 128² cells, u(0), v(0) ~ N(0, 1)
i.i.d. per cell — the PDEBench protocol. The shipped card stores 64² cells (4× cheaper on a CPU);
``dr_grid=128`` gives the protocol grid (card ``[diff_react]``).

* **Space.** Cell-centred finite volumes, centres x_i = −1 + (i+½)h, h = 2/n; the 5-point
  Laplacian L with zero flux through the boundary faces (the ghost value equals the cell value).
  L is diagonalised by the orthonormal DCT-II: eigenvalues μ_pq = −(4/h²)(sin²(πp/2n) +
  sin²(πq/2n)), so the implicit solves are two FFT-size transforms (scipy.fft), exact up to
  rounding (tested against a sparse solve with the assembled FV matrix).
* **Time.** IMEX SBDF2 (implicit diffusion, explicit reaction extrapolated to second order)::

      (3 w^{m+1} − 4 w^m + w^{m−1}) / (2dt) = D L w^{m+1} + 2 R(w^m) − R(w^{m−1}),

  started by one IMEX-Euler step; dt = 5 / ((frames − 1) · steps_per_frame). Default
  dt = 2.5e-3 (20 steps per frame): halving it changes the frames by at most ~3e-4 (max abs,
  against amplitudes 0.6–2.5; measured 2.4e-4 at 32² and 64², the largest change in the first
  frames, where the cubic reaction acts on the N(0, 1) noise), and the change shrinks 4× per
  halving (second order; ``tests/test_diffusion.py``). dt = 5e-3 would give ~3e-3. BDF2's damping of the grid-scale modes suits the
  white-noise initial data (CN would not damp them).

Stored: ``u``, ``v`` (t, x, y), float32 by default (card ``diff_react.dtype``; PDEBench stores
float32) — at 128² and 101 frames one sample is 13 MB in float32.

Cost (CPU seconds per sample, one core of a busy 2-core machine, shipped card): heat at
64², 21 frames, 200 CN steps: 0.04 s (one SuperLU factorisation + 200 triangular solves);
diff_react at 64², 101 frames, 2000 SBDF2 steps: 0.77 s; at the PDEBench 128²: 3.1 s.

Seeds: sample i of (config, split) draws from :func:`~pdeforge.datasets.seeding.sample_seedseq`
(heat: spawned into a field stream and a source stream as in ConDiff), so reruns and any worker
count give bit-identical files.

Left out: the ``resolution=`` rule of the loader uses the card's single ``dataset.domain``
((0,1)², the heat domain), so it does not apply to diff_react configs; PDEBench's own
solver (scipy ``solve_ivp`` on a finite-volume grid) is not reproduced bit for bit.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.fft as sfft
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeforge.datasets.cards import Card, parse_choice, parse_float, parse_int, parse_list
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators import fv
from pdeforge.datasets.family import (
    FAMILIES, ConfigSpec, Coordinate, Family, Override, VariableSpec, content_hash, spine_overrides,
)

#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
KINDS = ("heat", "diff_react")
COVARIANCES = ("cubic", "exponential", "gaussian")


# --- heat: Crank–Nicolson on the ConDiff FV matrix ----------------------------------------------


def _splu(M: sp.spmatrix):
    """SuperLU of a symmetric matrix (MMD on A + Aᵀ, symmetric mode), as fv's direct solver."""
    return spla.splu(sp.csc_matrix(M), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                     options={"SymmetricMode": True})


def heat_rollout(A: sp.spmatrix, u0: np.ndarray, f: np.ndarray, dt: float, steps_per_frame: int,
                 n_frames: int, startup_half_steps: int = 4) -> np.ndarray:
    """Frames u(j · steps_per_frame · dt), j = 0..n_frames−1, of u' = −A u + f.

    Crank–Nicolson with ``startup_half_steps`` backward-Euler half steps first (Rannacher);
    ``u0``, ``f``: arrays of any shape with ``A.shape[0]`` entries. Returns (n_frames, *u0.shape).
    """
    shape = np.shape(u0)
    u = np.asarray(u0, dtype=float).reshape(-1).copy()
    fvec = np.asarray(f, dtype=float).reshape(-1)
    N = A.shape[0]
    if u.size != N or fvec.size != N:
        raise ValueError(f"u0 and f need {N} entries, got {u.size} and {fvec.size}")
    if startup_half_steps < 0 or startup_half_steps % 2:
        raise ValueError("startup_half_steps must be an even number >= 0")
    lu = _splu(sp.identity(N, format="csr") + (0.5 * dt) * A)
    A = sp.csr_matrix(A)
    out = np.empty((n_frames, N))
    out[0] = u
    half = 0  # half steps done
    for frame in range(1, n_frames):
        for _ in range(steps_per_frame):
            if half < startup_half_steps:  # two implicit-Euler half steps = one step of dt
                u = lu.solve(u + (0.5 * dt) * fvec)
                u = lu.solve(u + (0.5 * dt) * fvec)
                half += 2
            else:
                u = lu.solve(u - (0.5 * dt) * (A @ u) + dt * fvec)
        out[frame] = u
    return out.reshape((n_frames, *shape))


# --- diff_react: FitzHugh–Nagumo, IMEX SBDF2 with a DCT-diagonal Neumann Laplacian --------------


def cell_centres(n: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """The n cell centres lo + (i + ½) h, h = (hi − lo)/n."""
    return lo + (np.arange(n, dtype=float) + 0.5) * ((hi - lo) / n)


def neumann_laplacian(n: int, h: float) -> sp.csr_matrix:
    """Cell-centred 5-point FV Laplacian with zero flux through the boundary, (n², n²), C order."""
    e = np.ones(n)
    D = sp.diags([e[:-1], -2.0 * e, e[:-1]], [-1, 0, 1], format="lil")
    D[0, 0] = D[n - 1, n - 1] = -1.0  # a boundary face carries no flux
    D = sp.csr_matrix(D) / h**2
    eye = sp.identity(n, format="csr")
    return sp.csr_matrix(sp.kron(D, eye) + sp.kron(eye, D))


def neumann_eigenvalues(n: int, h: float) -> np.ndarray:
    """Eigenvalues μ[p, q] of :func:`neumann_laplacian` on the DCT-II modes (p along x)."""
    m = -(4.0 / h**2) * np.sin(np.pi * np.arange(n) / (2 * n)) ** 2
    return m[:, None] + m[None, :]


def _dct(w):
    return sfft.dctn(w, type=2, norm="ortho", axes=(-2, -1))


def _idct(w):
    return sfft.idctn(w, type=2, norm="ortho", axes=(-2, -1))


def fhn_reaction(w: np.ndarray, k: float) -> np.ndarray:
    """R(u, v) = (u − u³ − k − v, u − v) for w = stack(u, v)."""
    u, v = w[0], w[1]
    return np.stack([u - u**3 - k - v, u - v])


def fhn_rollout(u0: np.ndarray, v0: np.ndarray, h: float, du: float, dv: float, k: float, dt: float,
                steps_per_frame: int, n_frames: int, reaction: bool = True) -> np.ndarray:
    """Frames (n_frames, 2, n, n) of (u, v), IMEX SBDF2 (one IMEX-Euler start step).

    ``reaction=False`` drops R (pure diffusion, for the conservation test).
    """
    n = u0.shape[0]
    mu = neumann_eigenvalues(n, h)
    D = np.array([du, dv])[:, None, None]
    euler = 1.0 / (1.0 - dt * D * mu)          # (I − dt D L)^{-1} on the modes
    bdf2 = 1.0 / (3.0 - 2.0 * dt * D * mu)     # (3I − 2 dt D L)^{-1}
    react = (lambda w: fhn_reaction(w, k)) if reaction else (lambda w: np.zeros_like(w))
    w = np.stack([np.asarray(u0, dtype=float), np.asarray(v0, dtype=float)])
    out = np.empty((n_frames, 2, n, n))
    out[0] = w
    w_old = r_old = None
    for frame in range(1, n_frames):
        for _ in range(steps_per_frame):
            r = react(w)
            if w_old is None:
                w_new = _idct(euler * _dct(w + dt * r))
            else:
                w_new = _idct(bdf2 * _dct(4.0 * w - w_old + (2.0 * dt) * (2.0 * r - r_old)))
            w_old, r_old, w = w, r, w_new
        out[frame] = w
    return out


# --- card -------------------------------------------------------------------------------------


def heat_name(p: dict[str, Any]) -> str:
    return f"heat_{p['covariance']}{p['variance']!r}_grid{p['grid']}"


def _ints(key: str, path: str, lo: int, hi: int):
    return lambda card, text: {path: [parse_int(key, g, lo, hi) for g in parse_list(text)]}


def _int(key: str, path: str, lo: int, hi: int):
    return lambda card, text: {path: parse_int(key, text, lo, hi)}


def _kinds(card: Card, text: str) -> dict[str, Any]:
    return {"kinds.enabled": [parse_choice("kinds", k, list(KINDS)) for k in parse_list(text)]}


OVERRIDES = {
    **spine_overrides("diff_react_grid128"),
    "kinds": Override("which kinds: heat, diff_react or both (heat,diff_react)", _kinds),
    "heat_grid": Override("heat grids (unknowns per direction), e.g. 64", _ints("heat_grid", "heat.grid", 3, 1024)),
    "dr_grid": Override("diff_react grids (cells per direction), e.g. 128", _ints("dr_grid", "diff_react.grid", 2, 2048)),
    "heat_frames": Override("heat frames stored (t = 0 included)", _int("heat_frames", "heat.frames", 2, 100000)),
    "dr_frames": Override("diff_react frames stored (t = 0 included)", _int("dr_frames", "diff_react.frames", 2, 100000)),
    "heat_steps": Override("heat time steps per frame", _int("heat_steps", "heat.steps_per_frame", 1, 100000)),
    "dr_steps": Override("diff_react time steps per frame", _int("dr_steps", "diff_react.steps_per_frame", 1, 100000)),
    "heat_t_final": Override("heat final time T",
                             lambda c, t: {"heat.t_final": parse_float("heat_t_final", t, 1e-12, 1e6)}),
    "dr_t_final": Override("diff_react final time",
                           lambda c, t: {"diff_react.t_final": parse_float("dr_t_final", t, 1e-12, 1e6)}),
    "covariances": Override("heat coefficient covariances, e.g. cubic,gaussian",
                            lambda c, t: {"field.covariances": [parse_choice("covariances", x, list(COVARIANCES))
                                                                for x in parse_list(t)]}),
    "variances": Override("heat log-coefficient variances, e.g. 0.1,1.0",
                          lambda c, t: {"field.variances": [parse_float("variances", x, 1e-6, 100.0)
                                                            for x in parse_list(t)]}),
}


@functools.lru_cache(maxsize=1)
def _condiff():
    from pdeforge.generators.condiff import ConDiff

    return ConDiff()


def _band(card: Card, variance: float):
    from pdeforge.generators.condiff import _band as band

    return band(card, variance)


def _times(t_final: float, frames: int) -> np.ndarray:
    return np.linspace(0.0, float(t_final), int(frames))


@FAMILIES.register("diffusion")
class Diffusion(Family):
    name = "diffusion"
    overrides = OVERRIDES
    tiny = {"heat_grid": "15", "dr_grid": "16", "heat_frames": "5", "dr_frames": "5", "dr_t_final": "0.2",
            "variances": "0.1", "n_train": "3", "n_test": "1", "n_val": "1", "samples_per_shard": "2"}

    # --- card -------------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        kinds = card.get("kinds.enabled")
        if not kinds:
            raise InvalidValueError("kinds.enabled is empty")
        for k in kinds:
            if k not in KINDS:
                raise UnknownNameError("kind", k, KINDS)
        if card.get("seeding.mode") != "independent":
            raise InvalidValueError("seeding.mode must be 'independent' (the only mode of this family)")
        if "heat" in kinds:
            for c in card.get("field.covariances"):
                if c not in COVARIANCES:
                    raise UnknownNameError("covariance", c, COVARIANCES)
            for v in card.get("field.variances"):
                _band(card, v)
            if card.get("heat.initial") != "zero":
                raise InvalidValueError("heat.initial must be 'zero'")
            if card.get("heat.scheme") != "crank_nicolson":
                raise InvalidValueError("heat.scheme must be 'crank_nicolson'")
            s = int(card.get("heat.startup_half_steps"))
            if s < 0 or s % 2:
                raise InvalidValueError("heat.startup_half_steps must be an even number >= 0")
        if "diff_react" in kinds:
            if card.get("diff_react.scheme") != "imex_sbdf2":
                raise InvalidValueError("diff_react.scheme must be 'imex_sbdf2'")
            if card.get("diff_react.dtype") not in ("float32", "float64"):
                raise InvalidValueError("diff_react.dtype must be float32 or float64")
            for key in ("Du", "Dv"):
                if not float(card.get(f"diff_react.{key}")) >= 0:
                    raise InvalidValueError(f"diff_react.{key} must be >= 0")
            lo, hi = card.get("diff_react.domain")
            if not float(hi) > float(lo):
                raise InvalidValueError("diff_react.domain must be [lo, hi] with hi > lo")
        for kind in kinds:
            if not card.get(f"{kind}.grid"):
                raise InvalidValueError(f"{kind}.grid is empty")
            if int(card.get(f"{kind}.frames")) < 2 or int(card.get(f"{kind}.steps_per_frame")) < 1:
                raise InvalidValueError(f"{kind}: need frames >= 2 and steps_per_frame >= 1")
            if not float(card.get(f"{kind}.t_final")) > 0:
                raise InvalidValueError(f"{kind}.t_final must be > 0")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        out = []
        kinds = card.get("kinds.enabled")
        if "heat" in kinds:
            for cov in card.get("field.covariances"):
                for n in card.get("heat.grid"):
                    for var in card.get("field.variances"):
                        p = {"kind": "heat", "covariance": cov, "variance": float(var), "grid": int(n)}
                        out.append(ConfigSpec(heat_name(p), p))
        if "diff_react" in kinds:
            for n in card.get("diff_react.grid"):
                p = {"kind": "diff_react", "grid": int(n)}
                out.append(ConfigSpec(f"diff_react_grid{int(n)}", p))
        return out

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        kind = config.params["kind"]
        blob = {
            "generator_version": GENERATOR_VERSION,
            "params": config.params,
            "seeding": card.get("seeding"),
            kind: {k: v for k, v in card.get(kind).items() if k != "grid"},
        }
        if kind == "heat":
            blob["field"] = {k: v for k, v in card.get("field").items() if k not in ("covariances", "variances")}
            blob["rhs"] = card.get("rhs")
        return content_hash(blob)

    # --- schema -----------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        if config.params["kind"] == "heat":
            return {
                "k": VariableSpec(("x_node", "y_node"), "float64", "input", "diffusion coefficient k = exp(g)"),
                "f": VariableSpec(("x", "y"), "float64", "input", "source f ~ N(0, 1), constant in time"),
                "u": VariableSpec(("t", "x", "y"), "float64", "target",
                                  "solution u of u_t = div(k grad u) + f, u(0) = 0"),
                "contrast": VariableSpec((), "float64", "param", "contrast exp(max g - min g)"),
                "n_candidates": VariableSpec((), "int64", "diagnostic", "random fields drawn for this sample"),
            }
        dtype = card.get("diff_react.dtype")
        return {
            "u": VariableSpec(("t", "x", "y"), dtype, "target", "activator u (FitzHugh-Nagumo)"),
            "v": VariableSpec(("t", "x", "y"), dtype, "target", "inhibitor v (FitzHugh-Nagumo)"),
        }

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        p = config.params
        n = p["grid"]
        kind = p["kind"]
        t = Coordinate(_times(card.get(f"{kind}.t_final"), card.get(f"{kind}.frames")), "time of the frame")
        if kind == "heat":
            return {
                "t": t,
                "x": Coordinate(fv.interior_coords(n), "x of the unknowns, (i+1)h, h = 1/(grid+1)"),
                "y": Coordinate(fv.interior_coords(n), "y of the unknowns, (j+1)h, h = 1/(grid+1)"),
                "x_node": Coordinate(fv.coefficient_coords(n), "x of the coefficient points, (a+1/2)h"),
                "y_node": Coordinate(fv.coefficient_coords(n), "y of the coefficient points, (b+1/2)h"),
            }
        lo, hi = (float(v) for v in card.get("diff_react.domain"))
        c = cell_centres(n, lo, hi)
        return {"t": t, "x": Coordinate(c, "x of the cell centres, lo + (i+1/2)h"),
                "y": Coordinate(c.copy(), "y of the cell centres, lo + (j+1/2)h")}

    def _dt(self, card: Card, kind: str) -> float:
        return float(card.get(f"{kind}.t_final")) / ((int(card.get(f"{kind}.frames")) - 1)
                                                     * int(card.get(f"{kind}.steps_per_frame")))

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        p = config.params
        kind = p["kind"]
        common = {
            "kind": kind,
            "grid": p["grid"],
            "dt": self._dt(card, kind),
            "steps_per_frame": int(card.get(f"{kind}.steps_per_frame")),
            "orientation": "arrays indexed [sample, t, x, y]: u[s, m, i, j] = u(t[m], x[i], y[j])",
            "generator_version": GENERATOR_VERSION,
        }
        if kind == "heat":
            return {
                **common,
                "equation": "u_t = div(k grad u) + f on (0,1)^2, u(0) = 0",
                "boundary_conditions": "u = 0 on the whole boundary (homogeneous Dirichlet)",
                "covariance": p["covariance"],
                "variance": p["variance"],
                "corr_length": card.get("field.corr_length"),
                "contrast_band": list(_band(card, p["variance"])),
                "solver": ("ConDiff 5-point finite volumes; Crank-Nicolson "
                           f"(I + dt/2 A) u+ = (I - dt/2 A) u + dt f after {card.get('heat.startup_half_steps')} "
                           "backward-Euler half steps (Rannacher); one SuperLU factorisation per sample"),
                "inputs": " ".join(card.get("heat.inputs")),
                "targets": " ".join(card.get("heat.targets")),
                "citation": card.get("heat.citation"),
            }
        dr = card.get("diff_react")
        return {
            **common,
            "equation": ("u_t = Du lap u + u - u^3 - k - v, v_t = Dv lap v + u - v on "
                         f"[{dr['domain'][0]}, {dr['domain'][1]}]^2 (FitzHugh-Nagumo)"),
            "boundary_conditions": "zero flux (homogeneous Neumann) for u and v",
            "Du": float(dr["Du"]), "Dv": float(dr["Dv"]), "k": float(dr["k"]),
            "initial_condition": "u(0), v(0) ~ N(0, 1) i.i.d. per cell",
            "solver": ("cell-centred 5-point finite volumes, zero-flux faces; IMEX SBDF2 (implicit "
                       "diffusion diagonalised by the DCT-II, explicit extrapolated reaction), one IMEX-Euler start step"),
            "inputs": " ".join(dr["inputs"]),
            "targets": " ".join(dr["targets"]),
            "citation": dr["citation"],
        }

    # --- generation -------------------------------------------------------------------------
    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        if config.params["kind"] == "heat":
            return self._heat(card, config, split, start, stop)
        return self._diff_react(card, config, split, start, stop)

    def _heat(self, card, config, split, start, stop):
        p = config.params
        n = p["grid"]
        h = card.get("heat")
        frames, spf = int(h["frames"]), int(h["steps_per_frame"])
        dt = self._dt(card, "heat")
        master = int(card.get("seeding.master_seed"))
        m = stop - start
        out = {"k": np.empty((m, n + 1, n + 1)), "f": np.empty((m, n, n)), "u": np.empty((m, frames, n, n)),
               "contrast": np.empty(m), "n_candidates": np.empty(m, dtype=np.int64)}
        for row, index in enumerate(range(start, stop)):
            field_ss, rhs_ss = sample_seedseq(master, config.name, split, index).spawn(2)
            g, drawn = _condiff()._field_independent(card, p, np.random.Generator(np.random.PCG64(field_ss)))
            f = np.random.Generator(np.random.PCG64(rhs_ss)).standard_normal((n, n))
            k = np.exp(g)
            A = fv.condiff_matrix(k)
            out["u"][row] = heat_rollout(A, np.zeros((n, n)), f, dt, spf, frames, int(h["startup_half_steps"]))
            out["k"][row], out["f"][row] = k, f
            out["contrast"][row] = np.exp(g.max() - g.min())
            out["n_candidates"][row] = drawn
        return out

    def _diff_react(self, card, config, split, start, stop):
        n = config.params["grid"]
        dr = card.get("diff_react")
        frames, spf = int(dr["frames"]), int(dr["steps_per_frame"])
        dt = self._dt(card, "diff_react")
        lo, hi = (float(v) for v in dr["domain"])
        h = (hi - lo) / n
        master = int(card.get("seeding.master_seed"))
        m = stop - start
        dtype = np.dtype(dr["dtype"])
        out = {"u": np.empty((m, frames, n, n), dtype), "v": np.empty((m, frames, n, n), dtype)}
        for row, index in enumerate(range(start, stop)):
            rng = np.random.Generator(np.random.PCG64(sample_seedseq(master, config.name, split, index)))
            w0 = rng.standard_normal((2, n, n))
            w = fhn_rollout(w0[0], w0[1], h, float(dr["Du"]), float(dr["Dv"]), float(dr["k"]), dt, spf, frames)
            out["u"][row], out["v"][row] = w[:, 0], w[:, 1]
        return out
