"""``pdeforge verify``: prove that the files on disk are the data the manifest describes.

Checks, per config: the manifest exists (a config directory with shards but no manifest is a
problem, not "OK") and its stored card still hashes to its ``card_sha256``; every split holds
all its samples; per shard: the file exists, its size and sha256 match the manifest, its
identity attributes (dataset, config, split, sample range, content key) match its place, it
passes the format checker (:func:`pdeforge.datasets.schema.check_shard`), and the content hash
of every variable matches; no shard file sits in a split directory without being listed (an
orphan). With ``regenerate=N`` it also picks N *distinct* random samples (all of them when N is
larger), regenerates each from its seeds and compares every variable bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pdeforge.datasets import schema
from pdeforge.datasets.cards import Card
from pdeforge.datasets.family import get_family
from pdeforge.datasets.hashing import array_hash, file_sha256
from pdeforge.datasets.layout import resolve_root
from pdeforge.datasets.manifest import MANIFEST, read_manifest
from pdeforge.datasets.reading import (
    find_config_dirs, manifest_problems, orphan_config_dirs, shard_identity_problems,
)
from pdeforge.errors import InvalidValueError, StoreError


def _config_dirs(name_or_path, root) -> tuple[list[Path], list[Path]]:
    """``(dirs with a manifest, dirs with shards but no manifest)``."""
    path = Path(str(name_or_path))
    if (path / MANIFEST).is_file():
        return [path], []
    if path.is_dir():
        found = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
        lost = [p for p in sorted(path.iterdir()) if p.is_dir() and not (p / MANIFEST).is_file()
                and any(p.glob("*/shard-*.nc"))] if path.is_dir() else []
        if any(path.glob("*/shard-*.nc")) and not found:  # a config dir that lost its manifest
            return [], [path]
        if found or lost:
            return found, lost
    base = resolve_root(root)
    dirs, lost = find_config_dirs(base, str(name_or_path)), orphan_config_dirs(base, str(name_or_path))
    if not dirs and not lost:
        raise StoreError(f"nothing generated for {name_or_path!r} under {base}")
    return dirs, lost


def _read_sample(path: Path, row: int) -> dict[str, np.ndarray]:
    import h5py

    out = {}
    with h5py.File(path, "r") as fh:
        for name, ds in fh.items():
            if isinstance(ds, h5py.Dataset) and ds.ndim >= 1 and schema._dims(ds)[:1] == ("sample",) and name != "sample":
                out[name] = ds[row]
    return out


def _orphans(cdir: Path, listed: set[Path]) -> list[str]:
    return [f"{f}: shard file not listed in the manifest (left by an older run, or copied in); "
            "re-run generate to remove it" for f in sorted(cdir.glob("*/shard-*.nc")) if f not in listed]


def verify(name_or_path, root=None, regenerate: int = 0, seed: int | None = None, log=print) -> list[str]:
    """Returns the list of problems (empty when everything checks out)."""
    if isinstance(regenerate, bool) or int(regenerate) < 0:
        raise InvalidValueError(f"regenerate={regenerate}: must be 0 or more")
    problems: list[str] = []
    candidates = []  # (cdir, manifest, split, shard record)
    n_shards = 0
    dirs, lost = _config_dirs(name_or_path, root)
    for cdir in lost:
        problems.append(f"{cdir}: shard files but no {MANIFEST} (deleted?); the data cannot be verified — "
                        f"regenerate with `pdeforge generate {cdir.parent.name} configs={cdir.name} --force`")
    for cdir in dirs:
        manifest = read_manifest(cdir)
        problems.extend(manifest_problems(manifest))
        listed = {cdir / r.file for s in manifest.splits.values() for r in s.shards}
        problems.extend(_orphans(cdir, listed))
        for split, info in manifest.splits.items():
            if not info.complete:
                problems.append(f"{cdir}: split {split!r} has {info.have} of {info.n_samples} samples "
                                "(incomplete: re-run generate to resume)")
            for rec in info.shards:
                n_shards += 1
                path = cdir / rec.file
                if not path.is_file():
                    problems.append(f"{path}: missing")
                    continue
                if path.stat().st_size != rec.bytes:
                    problems.append(f"{path}: size {path.stat().st_size} bytes, manifest says {rec.bytes} (truncated?)")
                if file_sha256(path) != rec.sha256:
                    problems.append(f"{path}: sha256 differs from the manifest (file altered or corrupt)")
                hashes: dict[str, str] = {}  # of the variables the checker reads anyway

                def record(name, values, hashes=hashes, wanted=rec.variables):
                    if name in wanted:
                        hashes[name] = array_hash(values)

                bad = schema.check_shard(path, visit=record)
                problems.extend(bad)
                if bad:
                    continue
                problems.extend(f"{path}: {p}" for p in shard_identity_problems(path, manifest, split, rec))
                rest = [var for var in rec.variables if var not in hashes]
                if rest:
                    import h5py

                    with h5py.File(path, "r") as fh:
                        for var in rest:
                            if var in fh:
                                hashes[var] = array_hash(fh[var][()])
                for var, digest in rec.variables.items():
                    if var not in hashes:
                        problems.append(f"{path}: variable {var!r} missing")
                    elif hashes[var] != digest:
                        problems.append(f"{path}: content hash of {var!r} differs from the manifest")
                candidates.append((cdir, manifest, split, rec))
    if regenerate and candidates:
        sizes = np.array([c[3].n for c in candidates], dtype=np.int64)
        total = int(sizes.sum())
        n = min(int(regenerate), total)
        if n < regenerate:
            log(f"--regenerate {regenerate}: only {total} samples are stored; regenerating all of them")
        rng = np.random.default_rng(seed)
        bounds = np.cumsum(sizes)
        for g in np.sort(rng.choice(total, size=n, replace=False)):  # distinct samples
            i = int(np.searchsorted(bounds, g, side="right"))
            cdir, manifest, split, rec = candidates[i]
            index = rec.start + int(g - (bounds[i] - sizes[i]))
            card = Card(manifest.dataset, manifest.card, manifest.overrides)
            family = get_family(card.generator)
            config = family.config(card, manifest.config)
            stored = _read_sample(cdir / rec.file, index - rec.start)
            fresh = family.regenerate(card, config, split, index, stored)
            diff = [k for k in stored if k in fresh and not np.array_equal(
                np.asarray(fresh[k], dtype=stored[k].dtype), stored[k])]
            where = f"{cdir.name}/{split}[{index}]"
            if diff:
                problems.append(f"{where}: regenerated sample differs in {', '.join(diff)}")
            else:
                log(f"regenerated {where}: bit-identical ({', '.join(sorted(stored))})")
    log(f"checked {n_shards} shards: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return problems
