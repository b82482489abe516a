"""The manifest of one generated config (``<root>/<dataset>/<config>/manifest.json``), typed.

Format ``pdeforge-manifest/1`` (JSON, sorted keys)::

    format, dataset, config            what this directory holds
    card, card_sha256, overrides       the effective card (canonical JSON → sha256) and the
                                       command-line overrides it came from
    content_key                        sha256 of everything that fixes sample content
    samples_per_shard                  S: shard N holds samples [N·S, min((N+1)·S, n))
    splits.<split>.n_samples           how many samples the split should hold
    splits.<split>.shards[]            per written shard: file (``<split>/shard-NNNNN.nc``), start,
                                       stop, bytes, sha256 (of the file), variables (content hash
                                       per variable), written_at, generate_cpu_seconds,
                                       write_seconds
    complete                           every split holds all its samples
    packages, hardware                 versions and machine of the run
    created_at, updated_at             UTC timestamps

:class:`Manifest` is the typed read-only view every reader uses (:func:`read_manifest`):
``m.split("train").have``, ``m.shards("test")``, ``m.complete`` instead of repeating the
sample-count idiom over the raw JSON; ``m.data`` is the JSON as read (a ``Mapping`` view, so
``m["splits"]`` keeps working). :class:`ManifestWriter` keeps one config's manifest while the
runner writes shards and rewrites it atomically after each one.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pdeforge import atomic
from pdeforge.errors import CorruptFileError, StoreError, UnknownNameError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "pdeforge-manifest/1"
#: recorded in every manifest: the packages whose versions can change the stored numbers
PACKAGES = ("pdeforge", "numpy", "scipy", "parafields", "pyamg", "qdldl", "scikit-fem", "gmsh", "torch", "h5py",
            "h5netcdf", "xarray")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.nc"


def shard_ranges(n: int, per_shard: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in shards of ``per_shard`` samples."""
    return [(s, min(s + per_shard, n)) for s in range(0, n, per_shard)]


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    out["python"] = platform.python_version()
    return out


def hardware() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "system": platform.platform(),
    }


# --- typed view --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardRecord:
    """One written shard as the manifest records it (``file`` is relative to the config dir)."""

    file: str
    start: int
    stop: int
    bytes: int
    sha256: str
    variables: Mapping[str, str]
    generate_cpu_seconds: float | None = None

    @classmethod
    def from_json(cls, rec: Mapping[str, Any]) -> "ShardRecord":
        return cls(str(rec["file"]), int(rec["start"]), int(rec["stop"]), int(rec["bytes"]),
                   str(rec["sha256"]), dict(rec.get("variables", {})), rec.get("generate_cpu_seconds"))

    @property
    def n(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class SplitRecord:
    name: str
    n_samples: int
    shards: tuple[ShardRecord, ...]

    @property
    def have(self) -> int:
        """Samples written so far."""
        return sum(s.n for s in self.shards)

    @property
    def complete(self) -> bool:
        return self.have == self.n_samples

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)


class Manifest(Mapping):
    """Read-only typed view of one config's manifest (see the module docstring)."""

    def __init__(self, cdir: Path, data: dict[str, Any]):
        self.cdir, self.data = Path(cdir), data
        self.path = self.cdir / MANIFEST
        try:
            self.splits: dict[str, SplitRecord] = {
                name: SplitRecord(name, int(info["n_samples"]),
                                  tuple(sorted((ShardRecord.from_json(r) for r in info["shards"]),
                                               key=lambda r: r.start)))
                for name, info in data["splits"].items()
            }
            self.dataset, self.config = str(data["dataset"]), str(data["config"])
            self.content_key, self.card_sha256 = str(data["content_key"]), str(data["card_sha256"])
            self.samples_per_shard = int(data["samples_per_shard"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(self.path, f"malformed manifest ({type(exc).__name__}: {exc})") from None

    # Mapping over the JSON as read
    def __getitem__(self, key):
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    # typed accessors
    @property
    def card(self) -> dict[str, Any]:
        return self.data["card"]

    @property
    def overrides(self) -> dict[str, Any]:
        return self.data.get("overrides", {})

    @property
    def complete(self) -> bool:
        """Every split holds all its samples (recomputed, not the stored flag)."""
        return all(s.complete for s in self.splits.values())

    @property
    def n_samples(self) -> int:
        return sum(s.n_samples for s in self.splits.values())

    @property
    def have(self) -> int:
        return sum(s.have for s in self.splits.values())

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.splits.values())

    def split(self, name: str) -> SplitRecord:
        if name not in self.splits:
            raise UnknownNameError("split", name, self.splits)
        return self.splits[name]

    def shards(self, split: str) -> tuple[ShardRecord, ...]:
        return self.split(split).shards

    def card_text_matches(self) -> bool:
        """The stored card's canonical JSON hashes to the stored ``card_sha256``."""
        text = json.dumps(self.card, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest() == self.card_sha256

    def generate_cpu_seconds(self, split: str | None = None) -> float:
        splits = [self.split(split)] if split else list(self.splits.values())
        return sum(float(r.generate_cpu_seconds or 0.0) for s in splits for r in s.shards)


def read_manifest(cdir: str | Path) -> Manifest | None:
    """The manifest of ``cdir``, or ``None`` when it has none; a damaged one raises
    :class:`~pdeforge.errors.CorruptFileError`."""
    path = Path(cdir) / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptFileError(path, f"unreadable manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise CorruptFileError(path, f"not a {MANIFEST_FORMAT} file")
    return Manifest(Path(cdir), data)


# --- writing -----------------------------------------------------------------------------------


@dataclass
class ManifestWriter:
    """Keeps one config's manifest and rewrites it atomically after every shard."""

    cdir: Path
    data: dict[str, Any]

    @classmethod
    def open(cls, cdir: Path, *, dataset: str, config: str, card, content_key: str,
             splits: dict[str, int], per_shard: int, force: bool = False) -> "ManifestWriter":
        old = None if force else read_manifest(cdir)
        old = old.data if old is not None else None
        if old is not None and old.get("content_key") != content_key:
            raise StoreError(
                f"{cdir} holds {config!r} generated with different settings "
                f"(content key {old.get('content_key', '?')[:12]} vs {content_key[:12]}); "
                "pass --force to regenerate it, or choose another --root"
            )
        data = {
            "format": MANIFEST_FORMAT,
            "dataset": dataset,
            "config": config,
            "card": json.loads(card.canonical_json()),
            "card_sha256": card.sha256,
            "overrides": card.overrides,
            "content_key": content_key,
            "samples_per_shard": per_shard,
            "packages": package_versions(),
            "hardware": hardware(),
            "created_at": old.get("created_at", now()) if old else now(),
            "splits": {},
        }
        old_splits = (old or {}).get("splits", {})
        for split, n in splits.items():
            keep = []
            if old and old.get("samples_per_shard") == per_shard:
                wanted = set(shard_ranges(n, per_shard))
                keep = [s for s in old_splits.get(split, {}).get("shards", [])
                        if (s["start"], s["stop"]) in wanted]
            data["splits"][split] = {"n_samples": n, "shards": keep}
        return cls(cdir, data)

    def done(self, split: str, start: int, stop: int) -> bool:
        """True when shard [start, stop) is recorded and its file has the recorded size."""
        for rec in self.data["splits"][split]["shards"]:
            if (rec["start"], rec["stop"]) == (start, stop):
                path = self.cdir / rec["file"]
                return path.is_file() and path.stat().st_size == rec["bytes"]
        return False

    def listed_files(self) -> set[Path]:
        return {self.cdir / rec["file"] for sp in self.data["splits"].values() for rec in sp["shards"]}

    def add(self, split: str, record: dict[str, Any]) -> None:
        shards = [s for s in self.data["splits"][split]["shards"]
                  if (s["start"], s["stop"]) != (record["start"], record["stop"])]
        shards.append(record)
        shards.sort(key=lambda s: s["start"])
        self.data["splits"][split]["shards"] = shards
        self.save()

    def save(self) -> None:
        self.data["updated_at"] = now()
        self.data["complete"] = all(
            sum(s["stop"] - s["start"] for s in sp["shards"]) == sp["n_samples"]
            for sp in self.data["splits"].values()
        )
        atomic.write_json(self.cdir / MANIFEST, self.data)
