"""The Family contract: what a dataset family provides to the spine (cards → samples → shards).

A family turns an effective card into named configurations, declares the variables it
writes (dims, dtype, role, units) and their coordinates, and generates any range of samples
of a (config, split) from per-sample seeds. It lives in the data layer beside the cards and the
shard schema, so the runner, verify and the loader import it without importing any generator,
and generator modules import it (one direction only).

Adding a dataset = one card ``pdeforge/datasets/cards/<name>.toml`` whose ``dataset.generator``
is ``G`` + one module ``pdeforge/generators/G.py`` that subclasses :class:`Family` and registers
it as ``@FAMILIES.register("G")``. :func:`get_family` imports that module on first use (so
generating ConDiff never imports torch for Navier–Stokes); no list needs editing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pdeforge.datasets.cards import Card, card_names, load_card, parse_int, parse_list
from pdeforge.datasets.schema import ROLES
from pdeforge.errors import InvalidValueError, UnknownNameError
from pdeforge.registry import Registry



@dataclass(frozen=True)
class VariableSpec:
    """A stored variable; ``dims`` exclude the leading ``sample`` dim."""

    dims: tuple[str, ...]
    dtype: str
    role: str
    long_name: str
    units: str = "1"

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} not in {ROLES}")


@dataclass(frozen=True)
class Coordinate:
    values: np.ndarray
    long_name: str
    units: str = "1"


@dataclass(frozen=True)
class ConfigSpec:
    """One configuration of a family, e.g. ``cubic0.1_grid64``; ``params`` is JSON-able."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Override:
    """A card value the command line may set by name: ``parse(card, text) -> {path: value}``."""

    help: str
    parse: Callable[[Card, str], dict[str, Any]]


def _split_size(split: str):
    return lambda card, text: {f"splits.{split}": parse_int(f"n_{split}", text, 0, 10_000_000)}


def _config_list(card: Card, text: str) -> dict[str, Any]:
    names = parse_list(text)
    if not names:
        raise InvalidValueError("configs= is empty; name at least one config (omit configs= for all)")
    return {"select.configs": names}


def spine_overrides(configs_example: str) -> dict[str, Override]:
    """The overrides every family has: split sizes, config selection, seed, shard size."""
    return {
        "n_train": Override("training samples per config", _split_size("train")),
        "n_test": Override("test samples per config", _split_size("test")),
        "n_val": Override("validation samples per config", _split_size("val")),
        "configs": Override(f"which configs to write, e.g. {configs_example}", _config_list),
        "seed": Override("master seed",
                         lambda card, text: {"seeding.master_seed": parse_int("seed", text, 0, 2**63 - 1)}),
        "samples_per_shard": Override("samples per shard file", lambda card, text: {
            "storage.samples_per_shard": parse_int("samples_per_shard", text, 1, 100000)}),
    }


def content_hash(blob: dict[str, Any]) -> str:
    """The content key of a JSON-serialisable description: sha256 of its sorted-key JSON."""
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


class Family:
    """Base class of dataset families. Subclasses set ``name`` and implement the hooks."""

    name: str = ""
    #: the card values the command line may set, by name
    overrides: dict[str, Override] = {}
    #: overrides giving the smallest dataset that still runs every code path of the family
    #: (every split, more than one shard per split, more than one config where the family has
    #: several kinds): the contract test (tests/test_family_contract.py) generates it for every
    #: registered family — tiny → check → verify → open → loader → 1-vs-2-worker identity
    tiny: dict[str, str] = {}

    # --- card handling ----------------------------------------------------------------------
    def apply_overrides(self, card: Card, values: dict[str, str]) -> Card:
        """Validate ``name=value`` overrides and return the effective card."""
        paths: dict[str, Any] = {}
        for key, text in values.items():
            if key not in self.overrides:
                raise UnknownNameError("parameter", key, self.overrides)
            paths.update(self.overrides[key].parse(card, text))
        out = card.with_values(paths, dict(values))
        self.validate(out)
        wanted = out.get("select.configs", None)
        if wanted:  # unknown config names fail here, listing the known ones
            self._select(self._all_configs(out), wanted)
        return out

    def validate(self, card: Card) -> None:
        """Raise :class:`~pdeforge.errors.InvalidValueError` for out-of-range card values."""

    # --- configurations and schema --------------------------------------------------------
    def _all_configs(self, card: Card) -> list[ConfigSpec]:
        """Every configuration the card defines, in the card's order."""
        raise NotImplementedError

    def _select(self, configs: list[ConfigSpec], wanted: list[str]) -> list[ConfigSpec]:
        """The configs named in ``wanted`` (card ``select.configs``); unknown names list the known."""
        names = [c.name for c in configs]
        for w in wanted:
            if w not in names:
                raise UnknownNameError("config", w, names)
        return [c for c in configs if c.name in wanted]

    def configs(self, card: Card) -> list[ConfigSpec]:
        """The configs to generate: all of them, or those the card's ``select.configs`` names."""
        configs = self._all_configs(card)
        wanted = card.get("select.configs", None)
        return self._select(configs, wanted) if wanted else configs

    def config(self, card: Card, name: str) -> ConfigSpec:
        by_name = {c.name: c for c in self.configs(card)}
        if name not in by_name:
            raise UnknownNameError("config", name, by_name)
        return by_name[name]

    def splits(self, card: Card) -> dict[str, int]:
        return {k: int(v) for k, v in card.get("splits").items() if int(v) > 0}

    def variables(self, card: Card, config: ConfigSpec) -> dict[str, VariableSpec]:
        raise NotImplementedError

    def coords(self, card: Card, config: ConfigSpec) -> dict[str, Coordinate]:
        raise NotImplementedError

    def attrs(self, card: Card, config: ConfigSpec) -> dict[str, Any]:
        """Config-level attributes written into every shard (equation, solver, …)."""
        return {}

    def content_key(self, card: Card, config: ConfigSpec) -> str:
        """sha256 of everything that fixes the content of this config's samples.

        Split sizes are excluded for families with per-sample seeds, so growing a split keeps
        the existing samples valid.
        """
        blob = {k: v for k, v in card.data.items() if k not in ("splits", "storage")}
        blob["__config__"] = {"name": config.name, "params": config.params}
        return content_hash(blob)

    # --- generation ------------------------------------------------------------------------
    def sequential(self, card: Card) -> bool:
        """True when samples come from one ordered stream (see :meth:`stream`)."""
        return False

    def stream_splits(self, card: Card) -> tuple[str, ...]:
        """The splits that :meth:`stream` produces when :meth:`sequential` is true (the runner
        replays the stream for these and generates the others per sample)."""
        return tuple(self.splits(card)) if self.sequential(card) else ()

    def generate(self, card: Card, config: ConfigSpec, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
        """Samples ``start..stop-1`` of (config, split) as arrays with a leading sample axis."""
        raise NotImplementedError

    def stream(self, card: Card) -> Iterator[tuple[str, str, int, dict[str, np.ndarray]]]:
        """Ordered stream of (config, split, index, sample) for sequential seeding modes."""
        raise NotImplementedError

    def regenerate(self, card: Card, config: ConfigSpec, split: str, index: int,
                   stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Recompute one stored sample from its seeds (``stored`` holds what was written)."""
        with single_threaded_numerics():
            batch = self.generate(card, config, split, index, index + 1)
        return {k: v[0] for k, v in batch.items()}


def single_threaded_numerics():
    """Context: BLAS/OpenMP thread pools limited to one thread (``threadpoolctl``).

    Every sample is generated under it — in the serial runner, in pool and Dask workers, and when
    ``verify`` regenerates one — because a multi-threaded BLAS splits reductions (e.g. the dot
    products of AMG-CG) by thread count, so the rounding, hence the stored bits, would depend on
    the machine. Parallelism comes from workers, one sample stream each."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


FAMILIES: Registry[type[Family]] = Registry("dataset family")

#: the package whose module ``G`` defines the family of cards with ``dataset.generator = G``
GENERATOR_PACKAGE = "pdeforge.generators"


def known_generators() -> list[str]:
    """Generator names: those already registered and those the shipped cards name."""
    names = set(FAMILIES.names())
    for card in card_names():
        try:
            names.add(load_card(card).generator)
        except Exception:  # noqa: BLE001 - a broken card must not hide the others
            continue
    return sorted(names)


def get_family(name: str) -> Family:
    """An instance of the family registered as ``name`` (its module
    ``pdeforge.generators.<name>`` is imported on first use)."""
    if name not in FAMILIES:
        import importlib
        import importlib.util

        module = f"{GENERATOR_PACKAGE}.{name}"
        if name.isidentifier() and importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    if name not in FAMILIES:
        raise UnknownNameError("dataset family", name, known_generators())
    family = FAMILIES.get(name)
    return family() if isinstance(family, type) else family


def effective_card(name: str, overrides: dict[str, str] | None = None) -> tuple[Card, Family]:
    """The shipped card ``name`` with ``overrides`` (``{key: text}``) applied, and its family."""
    card = load_card(name)
    family = get_family(card.generator)
    return family.apply_overrides(card, dict(overrides or {})), family
