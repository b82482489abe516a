"""What ``pdeforge list`` and ``pdeforge info`` report: sizes a card implies, what is on disk.

Library functions returning plain data/lines; the command line only prints them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pdeforge.datasets.cards import Card, card_names
from pdeforge.datasets.family import Family, effective_card
from pdeforge.datasets.layout import config_dir, resolve_root
from pdeforge.datasets.manifest import Manifest, read_manifest
from pdeforge.datasets.reading import find_config_dirs, missing_manifest_error, orphan_config_dirs


def bytes_per_sample(family: Family, card: Card, config) -> int:
    """Bytes of one sample's stored variables (element counts × 8 for 64-bit, else 4)."""
    coords = family.coords(card, config)
    total = 0
    for spec in family.variables(card, config).values():
        size = 1
        for d in spec.dims:
            size *= len(coords[d].values)
        total += size * (8 if spec.dtype.endswith("64") else 4)
    return total


def disk_state(manifest: Manifest | None) -> str:
    """``not generated`` / ``complete`` / ``partial have/want``."""
    if manifest is None:
        return "not generated"
    return "complete" if manifest.complete else f"partial {manifest.have}/{manifest.n_samples}"


@dataclass(frozen=True)
class ConfigRow:
    name: str
    mib: float
    state: str


def list_dataset(name: str, root=None) -> tuple[Card, dict[str, int], list[ConfigRow]]:
    """The card, its split sizes, and per config: estimated size and on-disk state."""
    root = resolve_root(root)
    card, family = effective_card(name)
    splits = family.splits(card)
    rows = []
    for config in family.configs(card):
        total = bytes_per_sample(family, card, config) * sum(splits.values())
        try:
            state = disk_state(read_manifest(config_dir(root, name, config.name)))
        except Exception as exc:  # noqa: BLE001 - a damaged manifest is a state, not a crash
            state = f"damaged manifest ({exc})"
        rows.append(ConfigRow(config.name, total / 2**20, state))
    return card, splits, rows


def all_datasets() -> list[str]:
    return card_names()


def describe_config(cdir: Path) -> list[str]:
    """Lines summarising one generated config (manifest + the first shard's variables)."""
    m = read_manifest(cdir)
    if m is None:
        raise missing_manifest_error(cdir)
    lines = [f"{m.dataset}/{m.config}  ({cdir})",
             f"  card sha256 {m.card_sha256[:16]}…  content key {m.content_key[:16]}…  complete: {m.complete}"]
    for split in m.splits.values():
        lines.append(f"  {split.name:<5} {split.have}/{split.n_samples} samples in {len(split.shards)} shards, "
                     f"{split.bytes / 2**20:.1f} MiB")
    lines.append(f"  packages: {', '.join(f'{k} {v}' for k, v in m['packages'].items())}")
    first = next((s.shards[0] for s in m.splits.values() if s.shards), None)
    if first is not None:
        import xarray as xr

        with xr.open_dataset(cdir / first.file, engine="h5netcdf") as ds:
            for name, var in ds.data_vars.items():
                lines.append(f"  {name:<14} {str(var.dims):<32} {var.dtype}  "
                             f"{var.attrs.get('role')}: {var.attrs.get('long_name')}")
    return lines


def describe(target: str, root=None) -> list[str]:
    """``pdeforge info`` for a config directory or a dataset name."""
    path = Path(target)
    if (path / "manifest.json").is_file():
        return describe_config(path)
    if path.is_dir() and any(path.glob("*/shard-*.nc")):
        raise missing_manifest_error(path)
    base = resolve_root(root)
    dirs = find_config_dirs(base, target)
    lost = orphan_config_dirs(base, target)
    lines = []
    for d in lost:
        lines.append(f"{d}: shard files but no manifest.json (deleted?) — not verifiable; regenerate with --force")
    if not dirs and not lost:
        card, _ = effective_card(target)  # unknown names list the known datasets
        return [f"{card.name}: not generated under {base}; card:", json.dumps(card.data, indent=1)]
    for d in dirs:
        lines.extend(describe_config(d))
    return lines
