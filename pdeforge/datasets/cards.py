"""Dataset cards: one TOML file per dataset family, the single source of truth.

A card names the generator, the equation, domain, boundary conditions, parameter
distributions, grids, split sizes, the master seed, the solver and its settings, and the
citation of the setup it follows. The command line only overrides *named* card values
(each family declares which names exist, what card entry each one sets, and which values
are allowed); everything else comes from the card.

The *effective* card (after overrides) is serialised as canonical JSON (sorted keys, no
whitespace); its sha256 is the card hash recorded in every shard and manifest.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pdeforge.errors import InvalidValueError, UnknownNameError

CARD_PACKAGE = "pdeforge.datasets"


def card_names() -> list[str]:
    """Names of the cards shipped with the package (``cards/*.toml``)."""
    root = resources.files(CARD_PACKAGE) / "cards"
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


@dataclass(frozen=True)
class Card:
    """A parsed dataset card plus the overrides applied to it."""

    name: str
    data: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, default: Any = ...) -> Any:
        """Value at a dotted path, e.g. ``card.get("splits.train")``."""
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is ...:
                    raise KeyError(f"card {self.name!r} has no entry {path!r}")
                return default
            node = node[part]
        return node

    def canonical_json(self) -> str:
        return json.dumps(self.data, sort_keys=True, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def generator(self) -> str:
        return self.get("dataset.generator")

    def with_values(self, values: dict[str, Any], overrides: dict[str, Any]) -> "Card":
        """A new card with ``values`` (dotted path → value) set; ``overrides`` is the record."""
        data = copy.deepcopy(self.data)
        for path, value in values.items():
            node = data
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return Card(self.name, data, {**self.overrides, **overrides})


def load_card(name_or_path: str | Path) -> Card:
    """Load a shipped card by name, or any card file by path."""
    path = Path(str(name_or_path))
    if path.suffix == ".toml" and path.exists():
        text = path.read_text()
    else:
        name = str(name_or_path)
        if name not in card_names():
            raise UnknownNameError("dataset", name, card_names())
        text = (resources.files(CARD_PACKAGE) / "cards" / f"{name}.toml").read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError(f"card {name_or_path}: invalid TOML: {exc}") from None
    if "dataset" not in data or "name" not in data["dataset"] or "generator" not in data["dataset"]:
        raise InvalidValueError(f"card {name_or_path}: needs [dataset] with name and generator")
    return Card(data["dataset"]["name"], data)


# --- typed parsing of override values -------------------------------------------------------


def parse_int(key: str, text: Any, lo: int | None = None, hi: int | None = None) -> int:
    try:
        value = int(str(text), 10)
    except ValueError:
        raise InvalidValueError(f"{key}={text!r}: expected a whole number") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise InvalidValueError(f"{key}={value} is out of range {rng}")
    return value


def parse_float(key: str, text: Any, lo: float | None = None, hi: float | None = None) -> float:
    try:
        value = float(str(text))
    except ValueError:
        raise InvalidValueError(f"{key}={text!r}: expected a number") from None
    if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InvalidValueError(f"{key}={value} is out of range [{lo}, {hi}]")
    return value


def parse_list(text: Any) -> list[str]:
    if isinstance(text, (list, tuple)):
        return [str(t) for t in text]
    return [t.strip() for t in str(text).split(",") if t.strip()]


def parse_choice(key: str, text: Any, choices: list[str]) -> str:
    value = str(text)
    if value not in choices:
        raise InvalidValueError(f"{key}={value!r}: must be one of {', '.join(choices)}")
    return value
