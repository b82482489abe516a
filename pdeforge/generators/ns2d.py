"""The ``ns2d`` family: FNO's 2-D Navier–Stokes on the torus as a dataset (card ``ns2d.toml``).

Configs, overrides, stored variables and per-sample generation around the pseudo-spectral
solver :class:`pdeforge.generators.navier_stokes.NS2D` (the numerics, the initial field and the
forcing are documented there, with the stored variables).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from pdeforge.datasets.cards import Card, parse_choice, parse_float, parse_int, parse_list
from pdeforge.datasets.family import (
    FAMILIES, ConfigSpec, Coordinate, Family, Override, VariableSpec, content_hash, spine_overrides,
)
from pdeforge.datasets.seeding import sample_seedseq
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.generators.navier_stokes import (
    DTYPES, FNO_PROTOCOL, GENERATOR_VERSION, MAX_SOLVE, NS2D, SCHEMES, forcing, grf_std, sample_w0,
)


# --- card and overrides ---------------------------------------------------------------------


def fmt_nu(nu: float) -> str:
    m, e = f"{nu:.0e}".split("e")
    return f"{m}e{int(e)}" if float(f"{m}e{e}") == nu else repr(nu)


def config_name(p: dict[str, Any]) -> str:
    name = f"nu{fmt_nu(p['nu'])}_T{p['T']:g}_s{p['store']}"
    return name if p["solve"] == p["store"] else f"{name}_solve{p['solve']}"


def steps_per_frame(dt: float, frame_dt: float) -> int:
    m = round(frame_dt / dt)
    if m < 1 or abs(m * dt - frame_dt) > 1e-9 * frame_dt:
        raise InvalidValueError(f"solver.dt={dt} does not divide time.frame_dt={frame_dt}")
    return m


def _floats(key: str, lo: float):
    return lambda c, t: {key: [parse_float(key, s, lo, 1e12) for s in parse_list(t)]}


def _protocol(card: Card, text: str) -> dict[str, Any]:
    choice = parse_choice("protocol", text, ["fno", "default"])
    return dict(FNO_PROTOCOL) if choice == "fno" else {}


OVERRIDES = {
    **spine_overrides("nu1e-3_T50_s64_solve128"),
    "protocol": Override("fno: FNO's solver settings (solve 256, dt 1e-4, scheme euler; GPU); "
                         "default: the card's values", _protocol),
    "solve": Override("solve grid points per axis (default 128, FNO 256)",
                      lambda c, t: {"grid.solve": parse_int("solve", t, 4, MAX_SOLVE)}),
    "store": Override("stored grids (points per axis), each dividing the solve grid, e.g. 64",
                      lambda c, t: {"grid.store": [parse_int("store", s, 2, MAX_SOLVE) for s in parse_list(t)]}),
    "dt": Override("time step (must divide time.frame_dt)",
                   lambda c, t: {"solver.dt": parse_float("dt", t, 1e-9, 1.0)}),
    "scheme": Override("explicit scheme of the advection term: heun (2nd order) or euler (FNO)",
                       lambda c, t: {"solver.scheme": parse_choice("scheme", t, list(SCHEMES))}),
    "device": Override("torch device, e.g. cpu or cuda",
                       lambda c, t: {"solver.device": str(t)}),
    "batch": Override("trajectories integrated together (batch dim)",
                      lambda c, t: {"solver.batch": parse_int("batch", t, 1, 1_000_000)}),
    "viscosities": Override("viscosities, one config each, e.g. 1e-3,1e-4", _floats("physics.viscosities", 1e-12)),
    "final_times": Override("final time of each viscosity, e.g. 50,30", _floats("physics.final_times", 1e-12)),
}


@functools.lru_cache(maxsize=8)
def _std(n: int, alpha: float, tau: float, sigma: float | None) -> np.ndarray:
    return grf_std(n, alpha, tau, sigma)


def _sigma(card: Card) -> float | None:
    s = card.get("field.sigma", "auto")
    return None if s == "auto" else float(s)


@FAMILIES.register("ns2d")
class NavierStokes2D(Family):
    name = "ns2d"
    overrides = OVERRIDES
    tiny = {"solve": "32", "store": "32,16", "viscosities": "1e-3", "final_times": "2", "dt": "0.01",
            "n_train": "3", "n_test": "1", "n_val": "1", "samples_per_shard": "2"}

    # --- card -------------------------------------------------------------------------------
    def validate(self, card: Card) -> None:
        solve = int(card.get("grid.solve"))
        if not (4 <= solve <= MAX_SOLVE and solve % 2 == 0):
            raise InvalidValueError(f"grid.solve={solve} must be even and in [4, {MAX_SOLVE}]")
        stores = card.get("grid.store")
        if not stores:
            raise InvalidValueError("grid.store is empty")
        for s in stores:
            if int(s) < 2 or solve % int(s):
                raise InvalidValueError(f"stored grid {s} does not divide the solve grid {solve}")
        nus, Ts = card.get("physics.viscosities"), card.get("physics.final_times")
        if not nus or len(nus) != len(Ts):
            raise InvalidValueError("physics.viscosities and physics.final_times need one entry each per config")
        fdt = float(card.get("time.frame_dt"))
        for nu, T in zip(nus, Ts):
            if not float(nu) > 0:
                raise InvalidValueError(f"viscosity {nu} must be > 0")
            k = round(float(T) / fdt)
            if k < 1 or abs(k * fdt - float(T)) > 1e-9 * fdt:
                raise InvalidValueError(f"final time {T} is not a positive multiple of time.frame_dt={fdt}")
        steps_per_frame(float(card.get("solver.dt")), fdt)
        if card.get("solver.scheme") not in SCHEMES:
            raise UnknownNameError("time scheme", card.get("solver.scheme"), SCHEMES)
        if card.get("solver.dtype") not in DTYPES:
            raise UnknownNameError("dtype", card.get("solver.dtype"), list(DTYPES))
        if float(card.get("field.alpha")) <= 1.0 or float(card.get("field.tau")) <= 0:
            raise InvalidValueError("field.alpha must be > 1 (= d/2) and field.tau > 0")
        if card.get("seeding.mode") != "independent":
            raise InvalidValueError("seeding.mode must be 'independent' (the only mode of this family)")

    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        solve = int(card.get("grid.solve"))
        out = []
        for nu, T in zip(card.get("physics.viscosities"), card.get("physics.final_times")):
            for s in dict.fromkeys(int(v) for v in card.get("grid.store")):
                p = {"nu": float(nu), "T": float(T), "solve": solve, "store": s, "stride": solve // s}
                out.append(ConfigSpec(config_name(p), p))
        return out

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        solver = {k: v for k, v in card.get("solver").items() if k not in ("batch", "device")}
        blob = {
            "generator_version": GENERATOR_VERSION,
            "params": config.params,
            "seeding": card.get("seeding"),
            "field": card.get("field"),
            "forcing": card.get("forcing"),
            "time": card.get("time"),
            "solver": solver,
        }
        return content_hash(blob)

    # --- schema -----------------------------------------------------------------------------
    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        return {
            "w": VariableSpec(("t", "x", "y"), "float64", "target",
                              "vorticity w = curl u at the frame times; frame 0 is the initial field w0"),
            "cfl": VariableSpec((), "float64", "diagnostic",
                                "max over the frames of dt * N_solve * (max|u1| + max|u2|)"),
        }

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        p = config.params
        x = np.arange(p["store"], dtype=float) / p["store"]
        fdt = float(card.get("time.frame_dt"))
        t = fdt * np.arange(round(p["T"] / fdt) + 1, dtype=float)
        label = f"periodic grid coordinate i/{p['store']} (every {p['stride']}th of the {p['solve']} solve points)"
        return {"t": Coordinate(t, "time of the frame"),
                "x": Coordinate(x, "x " + label), "y": Coordinate(x.copy(), "y " + label)}

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        p = config.params
        s = card.get("solver")
        sigma = _sigma(card)
        alpha, tau = float(card.get("field.alpha")), float(card.get("field.tau"))
        return {
            "viscosity": p["nu"],
            "final_time": p["T"],
            "frame_dt": float(card.get("time.frame_dt")),
            "grid_solve": p["solve"],
            "grid_store": p["store"],
            "subsample": f"stride: every {p['stride']}th point of the periodic solve grid",
            "forcing": (f"f(x, y) = {float(card.get('forcing.amplitude')):g} (sin(2 pi (x + y)) + cos(2 pi (x + y)))"),
            "forcing_amplitude": float(card.get("forcing.amplitude")),
            "initial_field": ("w0 ~ N(0, sigma^2 (-Laplacian_periodic + tau^2 I)^(-alpha)), mean mode removed: "
                              "Fourier coefficients on exp(2 pi i k.x) have variance "
                              "sigma^2 (4 pi^2 |k|^2 + tau^2)^(-alpha); stored as frame 0 of w"),
            "alpha": alpha,
            "tau": tau,
            "sigma": tau ** (alpha - 1.0) if sigma is None else sigma,
            "solver": (f"pseudo-spectral {p['solve']}x{p['solve']}, 2/3-rule dealiasing of u.grad w, "
                       f"Crank-Nicolson diffusion, explicit advection ({s['scheme']}), dt = {s['dt']:g}, "
                       f"torch {s['dtype']}"),
            "time_scheme": s["scheme"],
            "dt": float(s["dt"]),
            "orientation": "arrays indexed [sample, t, x, y]: w[s, n, i, j] = w(t[n], x[i], y[j]); "
                           "u = (d psi/dy, -d psi/dx), -Laplacian psi = w",
            "generator_version": GENERATOR_VERSION,
        }

    # --- generation -------------------------------------------------------------------------
    @staticmethod
    def seed_key(params: dict[str, Any]) -> str:
        """Seeds depend on the solve grid only: all viscosities and stored grids share w0."""
        return f"ns2d_solve{params['solve']}"

    def initial_fields(self, card: Card, params: dict[str, Any], split: str, indices) -> np.ndarray:
        n = params["solve"]
        std = _std(n, float(card.get("field.alpha")), float(card.get("field.tau")), _sigma(card))
        master = int(card.get("seeding.master_seed"))
        out = np.empty((len(indices), n, n))
        for row, i in enumerate(indices):
            ss = sample_seedseq(master, self.seed_key(params), split, int(i))
            out[row] = sample_w0(n, np.random.Generator(np.random.PCG64(ss)), std)
        return out

    def solver(self, card: Card, params: dict[str, Any]) -> NS2D:
        n = params["solve"]
        s = card.get("solver")
        return NS2D(n, params["nu"], float(s["dt"]), forcing(n, float(card.get("forcing.amplitude"))),
                    scheme=s["scheme"], device=s.get("device", "cpu"), dtype=DTYPES[s["dtype"]])

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        p = config.params
        r = p["stride"]
        fdt = float(card.get("time.frame_dt"))
        n_frames = round(p["T"] / fdt)
        spf = steps_per_frame(float(card.get("solver.dt")), fdt)
        solver = self.solver(card, p)
        # MKL's CPU FFTs round differently for different batch sizes and thread counts: on CPU
        # one trajectory at a time on one thread keeps every sample bit-identical to its
        # regeneration (batching gains nothing there; parallelism comes from worker processes)
        cpu = solver.device.type == "cpu"
        batch = 1 if cpu else int(card.get("solver.batch", 1))
        m = stop - start
        out = {"w": np.empty((m, n_frames + 1, p["store"], p["store"])), "cfl": np.empty(m)}
        threads = torch.get_num_threads()
        if cpu:
            torch.set_num_threads(1)
        try:
            for b0 in range(0, m, batch):
                idx = range(start + b0, min(stop, start + b0 + batch))
                w0 = self.initial_fields(card, p, split, idx)
                frames, cfl = solver.run(w0, n_frames, spf, with_cfl=True)
                out["w"][b0:b0 + len(idx)] = frames[:, :, ::r, ::r].cpu().numpy().astype(np.float64)
                out["cfl"][b0:b0 + len(idx)] = cfl.cpu().numpy()
        finally:
            if cpu:
                torch.set_num_threads(threads)
        return out
