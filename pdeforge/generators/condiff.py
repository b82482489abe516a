r"""ConDiff: −∇·(k ∇u) = f on (0,1)², u = 0 on ∂Ω, with log-normal k of controlled contrast.

The setup of Trifonov et al. (2024), "ConDiff: A Challenging Dataset for Neural Solvers of
Partial Differential Equations", reproduced from its description and published generator:

* **Coefficient.** k = exp(g), g a zero-mean Gaussian random field on the (n+1)×(n+1) cell
  centres ((a+½)h, (b+½)h), h = 1/(n+1), with covariance ∈ {cubic, exponential, gaussian},
  variance σ² ∈ {0.1, 0.4, 1.0, 2.0} and correlation length 0.05 (parafields' defaults).
* **Complexity control.** The contrast exp(max g − min g) of a kept field must lie in the band
  of its variance (card ``field.contrast_bands``); candidates are drawn until one does
  (rejection sampling). The contrast and the number of candidates drawn are stored.
* **Right-hand side.** f[i, j] ~ N(0, 1) i.i.d. at the unknowns; Poisson configs have k ≡ 1.
* **Discretisation.** The published 5-point finite-volume scheme
  (:func:`pdeforge.generators.fv.condiff_matrix`): unknowns at ((i+1)h, (j+1)h),
  i, j = 0..n−1; second order on smooth solutions.

Stored variables (dims after ``sample``; axis order = coordinate order, ``u[s, i, j]`` is the
value at ``(x[i], y[j])`` — the published files store u and f column-major and k row-major;
here all three share one orientation):

=============  ====================  =========================================
``k``          (x_node, y_node)      diffusion coefficient (input)
``f``          (x, y)                right-hand side (input)
``u``          (x, y)                solution (target)
``contrast``   ()                    exp(max g − min g) (param)
``n_candidates`` ()                  fields drawn for this sample (diagnostic)
``residual``   ()                    ‖f − A u‖₂ / ‖f‖₂ of the solve (diagnostic)
``field_seed`` ()                    parafields seed (reference mode only)
=============  ====================  =========================================

Seeding modes (card ``seeding.mode``):

* ``independent`` (default): each sample draws from its own
  :func:`~pdeforge.datasets.seeding.sample_seedseq`, spawned into a field stream and a
  right-hand-side stream. Fields come from :class:`~pdeforge.generators.fields.CirculantGRF`,
  drawn in batches so rejection is cheap, with the Gaussian law parafields 1.0.3 actually
  samples (``field.match = "parafields"``: same grid and covariance formula; parafields'
  default backend halves the variance of the k₀ = 0 and k₀ = M₀/2 frequency planes, which
  lowers the pointwise variance by 1–2.5 % — reproduced exactly, tested against parafields'
  contrast distribution). ``match = "nominal"`` samples the covariance formula exactly.
* ``reference``: the published seed stream. One JAX-threefry key (PRNGKey(master_seed)) is
  split once per candidate field and the first word of the sub-key seeds parafields; one
  ``numpy.random.default_rng(master_seed)`` draws the right-hand sides, only for accepted
  fields, as a vector of n² values read column-major. Both streams run on across the diffusion
  configs in the published order (covariance, then grid, then variance; train before test);
  Poisson has its own ``default_rng(master_seed)`` (grid 64 train, test, then grid 128). The
  ``val`` split is not part of the published stream and uses independent seeds, so it never
  shifts train/test.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from pdeforge.datasets.cards import (
    Card, parse_choice, parse_float, parse_int, parse_list,
)
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, PdeforgeError, UnknownNameError
from pdeforge.generators import fv
from pdeforge.datasets.family import (
    FAMILIES, ConfigSpec, Coordinate, Family, Override, VariableSpec, content_hash, spine_overrides,
)

COVARIANCES = ("cubic", "exponential", "gaussian")
MODES = ("independent", "reference")
#: bump when the numerics change the stored values for the same card
GENERATOR_VERSION = 1
#: published order of the reference stream (splits drawn from it)
STREAM_SPLITS = ("train", "test")


def config_name(params: dict[str, Any]) -> str:
    if params["covariance"] == "poisson":
        return f"poisson_grid{params['grid']}"
    return f"{params['covariance']}{params['variance']!r}_grid{params['grid']}"


def _band(card: Card, variance: float) -> tuple[float, float]:
    bands = card.get("field.contrast_bands")
    for key, (lo, hi) in bands.items():
        if float(key) == float(variance):
            return float(lo), float(hi)
    raise InvalidValueError(
        f"no contrast band for variance {variance}; the card defines bands for {', '.join(bands)}"
    )


# --- overrides --------------------------------------------------------------------------------


def _grid(card: Card, text: str) -> dict[str, Any]:
    return {"grid.sizes": [parse_int("grid", g, 8, 2048) for g in parse_list(text)]}


def _covariances(card: Card, text: str) -> dict[str, Any]:
    return {"field.covariances": [parse_choice("covariances", c, list(COVARIANCES)) for c in parse_list(text)]}


def _variances(card: Card, text: str) -> dict[str, Any]:
    values = [parse_float("variances", v, 1e-6, 100.0) for v in parse_list(text)]
    for v in values:
        _band(card, v)
    return {"field.variances": values}


OVERRIDES = {
    **spine_overrides("cubic0.1,poisson or cubic0.1_grid64"),
    "grid": Override("grid sizes (unknowns per direction), e.g. 64 or 64,128", _grid),
    "mode": Override("seeding mode: independent or reference",
                     lambda c, t: {"seeding.mode": parse_choice("mode", t, list(MODES))}),
    "covariances": Override("covariance models, e.g. cubic,gaussian", _covariances),
    "variances": Override("log-field variances, e.g. 0.1,2.0", _variances),
    "solver": Override("linear solver: auto, ldl, direct or amg",
                       lambda c, t: {"solver.method": parse_choice("solver", t, sorted(fv.SOLVERS) + ["auto"])}),
    "poisson": Override("include the k = 1 configs: true or false",
                        lambda c, t: {"poisson.enabled": parse_choice("poisson", t, ["true", "false"]) == "true"}),
}


# --- per-process caches ---------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _grf(n_cells: int, covariance: str, variance: float, corr_length: float, embedding_factor: int,
         match: str, embedding: str):
    from pdeforge.generators.fields import CirculantGRF

    return CirculantGRF((n_cells, n_cells), (1.0, 1.0), covariance=covariance, variance=variance,
                        corr_length=corr_length, embedding_factor=embedding_factor, match=match,
                        embedding=embedding)


@functools.lru_cache(maxsize=32)
def _parafields(n_cells: int, covariance: str, variance: float, corr_length: float):
    from pdeforge.generators.fields import ParafieldsSampler

    return ParafieldsSampler((n_cells, n_cells), covariance, variance, corr_length=corr_length)


@functools.lru_cache(maxsize=4)
def _poisson_system(n: int):
    """The k = 1 matrix of grid ``n`` and its LU factors (shared by every Poisson sample)."""
    import scipy.sparse.linalg as spla

    A = fv.condiff_matrix(np.ones((n + 1, n + 1)))
    return A, spla.splu(A.tocsc())


@FAMILIES.register("condiff")
class ConDiff(Family):
    name = "condiff"
    overrides = OVERRIDES
    tiny = {"grid": "16", "n_train": "3", "n_test": "2", "n_val": "1", "configs": "cubic0.1,poisson",
            "samples_per_shard": "2"}

    # --- card ---------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        for c in card.get("field.covariances"):
            if c not in COVARIANCES:
                raise UnknownNameError("covariance", c, COVARIANCES)
        for v in card.get("field.variances"):
            _band(card, v)
        if card.get("field.match", "parafields") not in ("parafields", "nominal"):
            raise InvalidValueError("field.match must be 'parafields' or 'nominal'")
        if card.get("field.embedding", "auto") not in ("auto", "factor"):
            raise InvalidValueError("field.embedding must be 'auto' or 'factor'")
        if card.get("seeding.mode") not in MODES:
            raise InvalidValueError(f"seeding.mode must be one of {', '.join(MODES)}")
        if not card.get("grid.sizes"):
            raise InvalidValueError("grid.sizes is empty")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        out = []
        for cov in card.get("field.covariances"):
            for n in card.get("grid.sizes"):
                for var in card.get("field.variances"):
                    p = {"covariance": cov, "variance": float(var), "grid": int(n)}
                    out.append(ConfigSpec(config_name(p), p))
        if card.get("poisson.enabled", True):
            for n in card.get("grid.sizes"):
                p = {"covariance": "poisson", "variance": 0.0, "grid": int(n)}
                out.append(ConfigSpec(config_name(p), p))
        return out

    def _select(self, configs: list[ConfigSpec], wanted: list[str]) -> list[ConfigSpec]:
        """Exact names, or a name without its grid suffix (``cubic0.1`` = every grid)."""
        names = {c.name for c in configs}
        bases = {c.name.rsplit("_grid", 1)[0] for c in configs}
        for w in wanted:
            if w not in names and w not in bases:
                raise UnknownNameError("config", w, names | bases)
        return [c for c in configs if c.name in wanted or c.name.rsplit("_grid", 1)[0] in wanted]

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        if self.sequential(card):
            blob: Any = {k: v for k, v in card.data.items() if k not in ("storage", "select")}
            blob["__config__"] = config.name
        else:
            blob = {
                "generator_version": GENERATOR_VERSION,
                "params": config.params,
                "seeding": card.get("seeding"),
                "field": {k: v for k, v in card.get("field").items()
                          if k not in ("covariances", "variances")},
                "rhs": card.get("rhs"),
                "solver": card.get("solver"),
            }
        return content_hash(blob)

    # --- schema ---------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        out = {
            "k": VariableSpec(("x_node", "y_node"), "float64", "input", "diffusion coefficient k = exp(g)"),
            "f": VariableSpec(("x", "y"), "float64", "input", "right-hand side f ~ N(0, 1)"),
            "u": VariableSpec(("x", "y"), "float64", "target", "solution u of -div(k grad u) = f"),
            "contrast": VariableSpec((), "float64", "param", "contrast exp(max g - min g)"),
            "n_candidates": VariableSpec((), "int64", "diagnostic", "random fields drawn for this sample"),
            "residual": VariableSpec((), "float64", "diagnostic", "relative residual |f - A u| / |f|"),
        }
        if self.sequential(card):
            out["field_seed"] = VariableSpec((), "int64", "param", "parafields seed of the kept field")
        return out

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        n = config.params["grid"]
        return {
            "x": Coordinate(fv.interior_coords(n), "x of the unknowns, (i+1)h, h = 1/(grid+1)"),
            "y": Coordinate(fv.interior_coords(n), "y of the unknowns, (j+1)h, h = 1/(grid+1)"),
            "x_node": Coordinate(fv.coefficient_coords(n), "x of the coefficient points, (a+1/2)h"),
            "y_node": Coordinate(fv.coefficient_coords(n), "y of the coefficient points, (b+1/2)h"),
        }

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        p = config.params
        solver = card.get("solver")
        return {
            "covariance": p["covariance"],
            "variance": p["variance"],
            "grid": p["grid"],
            "corr_length": card.get("field.corr_length"),
            "contrast_band": list(_band(card, p["variance"])) if p["covariance"] != "poisson" else [1.0, 1.0],
            "solver": f"5-point finite volume; linear solver {solver['method']} (auto = sparse LDL^T up to 384^2 unknowns, pyamg SA-preconditioned CG above; direct = SuperLU)",
            "solver_rtol": solver["rtol"],
            "orientation": "arrays indexed [sample, x, y]: u[s, i, j] = u(x[i], y[j]); k on (x_node, y_node)",
            "generator_version": GENERATOR_VERSION,
        }

    # --- generation ------------------------------------------------------------------------
    def sequential(self, card: Card) -> bool:
        return card.get("seeding.mode") == "reference"

    def stream_splits(self, card: Card) -> tuple[str, ...]:
        return STREAM_SPLITS if self.sequential(card) else ()

    def _solve(self, card: Card, k: np.ndarray, f: np.ndarray, poisson: bool):
        if poisson:
            n = f.shape[0]
            A, lu = _poisson_system(n)
            u = lu.solve(f.reshape(-1)).reshape(n, n)
            r = np.linalg.norm(f.reshape(-1) - A @ u.reshape(-1)) / max(np.linalg.norm(f), 1e-300)
            return u, float(r)
        u, info = fv.solve_condiff(k, f, method=card.get("solver.method"), rtol=card.get("solver.rtol"))
        return u, float(info.residual)

    def _field_independent(self, card: Card, params: dict, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """First field in the band drawn from ``rng`` (output independent of batch sizes)."""
        from pdeforge.generators.fields import contrast

        n = params["grid"]
        lo, hi = _band(card, params["variance"])
        grf = _grf(n + 1, params["covariance"], params["variance"],
                   float(card.get("field.corr_length")), int(card.get("field.embedding_factor")),
                   card.get("field.match", "parafields"), card.get("field.embedding", "auto"))
        limit = int(card.get("field.max_candidates"))
        drawn, batch = 0, 4
        while drawn < limit:
            g = grf.sample(rng, batch)
            c = contrast(g)
            ok = np.flatnonzero((c >= lo) & (c <= hi))
            if ok.size:
                return g[ok[0]], drawn + int(ok[0]) + 1
            drawn += batch
            batch = min(2 * batch, 128)
        raise PdeforgeError(
            f"no field with contrast in [{lo}, {hi}] after {limit} candidates "
            f"({params['covariance']}, variance {params['variance']}, grid {n}); "
            "the band may be unreachable for these settings"
        )

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        p = config.params
        n = p["grid"]
        poisson = p["covariance"] == "poisson"
        master = int(card.get("seeding.master_seed"))
        m = stop - start
        out = {
            "k": np.empty((m, n + 1, n + 1)), "f": np.empty((m, n, n)), "u": np.empty((m, n, n)),
            "contrast": np.empty(m), "n_candidates": np.empty(m, dtype=np.int64), "residual": np.empty(m),
        }
        for row, index in enumerate(range(start, stop)):
            field_ss, rhs_ss = sample_seedseq(master, config.name, split, index).spawn(2)
            if poisson:
                g, drawn = np.zeros((n + 1, n + 1)), 0
            else:
                g, drawn = self._field_independent(card, p, np.random.Generator(np.random.PCG64(field_ss)))
            f = np.random.Generator(np.random.PCG64(rhs_ss)).standard_normal((n, n))
            k = np.exp(g)
            u, res = self._solve(card, k, f, poisson)
            out["k"][row], out["f"][row], out["u"][row] = k, f, u
            out["contrast"][row] = np.exp(g.max() - g.min())
            out["n_candidates"][row], out["residual"][row] = drawn, res
        if self.sequential(card):  # val split of reference mode: no parafields seed
            out["field_seed"] = np.full(m, -1, dtype=np.int64)
        return out

    def stream(self, card: Card) -> Iterator[tuple[str, str, int, dict[str, np.ndarray]]]:
        """The published order: one key stream and one RHS generator over all diffusion configs."""
        from pdeforge.generators.fields import contrast
        from pdeforge.generators.threefry import KeyStream

        master = int(card.get("seeding.master_seed"))
        splits = self.splits(card)
        configs = self._all_configs(card)
        keys = KeyStream(master)
        rhs = np.random.default_rng(master)
        corr = float(card.get("field.corr_length"))
        limit = int(card.get("field.max_candidates"))
        for config in [c for c in configs if c.params["covariance"] != "poisson"]:
            p = config.params
            n = p["grid"]
            lo, hi = _band(card, p["variance"])
            sampler = _parafields(n + 1, p["covariance"], p["variance"], corr)
            for split in STREAM_SPLITS:
                for index in range(splits.get(split, 0)):
                    for drawn in range(1, limit + 1):
                        seed = next(keys)
                        g = sampler.field(seed)
                        c = float(contrast(g))
                        if lo <= c <= hi:
                            break
                    else:
                        raise PdeforgeError(f"{config.name}: no field in band after {limit} candidates")
                    f = rhs.normal(size=n * n).reshape((n, n), order="F")
                    yield config.name, split, index, self._pack(card, g, f, drawn, seed, False)
        poisson_rhs = np.random.default_rng(master)
        for config in [c for c in configs if c.params["covariance"] == "poisson"]:
            n = config.params["grid"]
            for split in STREAM_SPLITS:
                for index in range(splits.get(split, 0)):
                    f = poisson_rhs.normal(size=n * n).reshape((n, n), order="F")
                    yield config.name, split, index, self._pack(card, np.zeros((n + 1, n + 1)), f, 0, -1, True)

    def _pack(self, card, g, f, drawn, seed, poisson) -> dict[str, np.ndarray]:
        k = np.exp(g)
        u, res = self._solve(card, k, f, poisson)
        return {"k": k, "f": f, "u": u, "contrast": np.exp(g.max() - g.min()),
                "n_candidates": np.int64(drawn), "residual": res, "field_seed": np.int64(seed)}

    def regenerate(self, card: Card, config: ConfigSpec, split: str, index: int,
                   stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not (self.sequential(card) and split in STREAM_SPLITS):
            return super().regenerate(card, config, split, index, stored)
        # Reference stream: k from its stored parafields seed, u from the stored (k, f).
        p = config.params
        poisson = p["covariance"] == "poisson"
        n = p["grid"]
        if poisson:
            g = np.zeros((n + 1, n + 1))
        else:
            sampler = _parafields(n + 1, p["covariance"], p["variance"], float(card.get("field.corr_length")))
            g = sampler.field(int(stored["field_seed"]))
        out = self._pack(card, g, np.asarray(stored["f"]), int(stored["n_candidates"]),
                         int(stored["field_seed"]), poisson)
        return out
