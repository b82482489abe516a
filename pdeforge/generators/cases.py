r"""Case parameters of the CFD families: subset ranges, seeded draws in a Reynolds band, Re spans.

A CFD card (cavity, tube, dam, cylinder) has ``[subsets.<name>]`` tables that map a parameter to
``[low, high, "log" | "linear"]`` and a ``[reynolds]`` band ``min``/``max``. A case takes the
card's ``problem.base`` values and replaces each varied parameter ``q`` by a draw

* ``"log"``: ``exp(log lo + u (log hi − log lo))``, ``"linear"``: ``lo + u (hi − lo)``,
  ``u ~ U[0, 1)`` from the case's own generator,

in a fixed parameter order (the family's, not the card table's, so a sample never depends on
how its card was serialised). A draw whose Reynolds number falls outside the band (or that
``accept`` refuses, e.g. a body touching a wall) is redrawn from the same stream, so draws stay
deterministic. :func:`reynolds_span` gives the Re interval a subset's cases can take: Re at the
corners of its parameter box (Re is monotone in every parameter of these problems), clipped to
the band.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from pdeforge.datasets.cards import Card
from pdeforge.errors import InvalidValueError, UnknownNameError

SCALES = ("log", "linear")
MAX_DRAWS = 10_000

Range = tuple[float, float, str]


def subset_ranges(card: Card, subset: str) -> dict[str, Range]:
    """``{parameter: (low, high, scale)}`` of the card's ``[subsets.<subset>]``."""
    raw = card.get(f"subsets.{subset}", None)
    if raw is None:
        raise UnknownNameError("subset", subset, card.get("subsets"))
    return {k: (float(v[0]), float(v[1]), str(v[2])) for k, v in raw.items()}


def base_params(card: Card) -> dict[str, float]:
    """The card's ``problem.base`` values as floats."""
    return {k: float(v) for k, v in card.get("problem.base").items()}


def reynolds_band(card: Card) -> tuple[float, float]:
    return float(card.get("reynolds.min")), float(card.get("reynolds.max"))


def validate_subsets(card: Card, known_subsets: Iterable[str], params: Iterable[str], what: str) -> None:
    """Every subset is known, every varied parameter is one of ``params`` with 0 < low <= high."""
    known_subsets, params = tuple(known_subsets), tuple(params)
    for subset in card.get("subsets"):
        if subset not in known_subsets:
            raise UnknownNameError("subset", subset, known_subsets)
        for name, (lo, hi, scale) in subset_ranges(card, subset).items():
            if name not in params:
                raise UnknownNameError(f"{what} parameter", name, params)
            if scale not in SCALES:
                raise UnknownNameError("range scale", scale, SCALES)
            if not (0 < lo <= hi):
                raise InvalidValueError(f"subsets.{subset}.{name}: need 0 < low <= high, got {lo}, {hi}")
    lo, hi = reynolds_band(card)
    if lo > hi:
        raise InvalidValueError("reynolds.min > reynolds.max")


def draw(u: float, lo: float, hi: float, scale: str) -> float:
    """The value at quantile ``u`` of the range (module docstring)."""
    if scale == "log":
        return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    return lo + u * (hi - lo)


def draw_params(base: dict[str, float], ranges: dict[str, Range], order: Iterable[str],
                reynolds: Callable[[dict[str, float]], float], band: tuple[float, float],
                rng: np.random.Generator, accept: Callable[[dict[str, float]], bool] | None = None,
                subset: str = "") -> dict[str, float]:
    """One case's parameters: ``base`` with the ``ranges`` parameters drawn in ``order``, redrawn
    until ``band[0] <= reynolds(p) <= band[1]`` (and ``accept(p)``)."""
    order = [q for q in order if q in ranges]
    for _ in range(MAX_DRAWS):
        p = dict(base)
        for name in order:
            p[name] = draw(rng.random(), *ranges[name])
        if band[0] <= reynolds(p) <= band[1] and (accept is None or accept(p)):
            return p
    raise InvalidValueError(f"subset {subset!r}: no draw in {MAX_DRAWS} has Re in [{band[0]:g}, {band[1]:g}]"
                            f"{' and is accepted' if accept else ''}; widen [reynolds] or the ranges")


def reynolds_span(base: dict[str, float], ranges: dict[str, Range],
                  reynolds: Callable[[dict[str, float]], float], band: tuple[float, float]) -> tuple[float, float]:
    """Re at the corners of the parameter box, clipped to the band (module docstring)."""
    names = list(ranges)
    values = []
    for corner in range(2 ** len(names)):
        p = dict(base)
        for bit, name in enumerate(names):
            p[name] = ranges[name][(corner >> bit) & 1]
        values.append(reynolds(p))
    return max(min(values), band[0]), min(max(values), band[1])
