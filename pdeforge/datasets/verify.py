"""``pdeforge verify``: prove that the files on disk are the data the manifest describes.

Checks, per shard: the file exists, its sha256 and size match the manifest, it passes the
format checker (:func:`pdeforge.datasets.schema.check_shard`), and the content hash of every
variable matches. With ``regenerate=N`` it also picks N random samples, regenerates each from
its seeds and compares every variable bit for bit with what is stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pdeforge.datasets import schema, store
from pdeforge.datasets.cards import Card
from pdeforge.errors import StoreError
from pdeforge.datasets.family import get_family


def _config_dirs(name_or_path, root) -> list[Path]:
    path = Path(str(name_or_path))
    if (path / store.MANIFEST).is_file():
        return [path]
    if path.is_dir():
        found = sorted(p.parent for p in path.glob(f"*/{store.MANIFEST}"))
        if found:
            return found
    dirs = store.find_config_dirs(store.resolve_root(root), str(name_or_path))
    if not dirs:
        raise StoreError(f"nothing generated for {name_or_path!r} under {store.resolve_root(root)}")
    return dirs


def _read_sample(path: Path, row: int) -> dict[str, np.ndarray]:
    import h5py

    out = {}
    with h5py.File(path, "r") as fh:
        for name, ds in fh.items():
            if isinstance(ds, h5py.Dataset) and ds.ndim >= 1 and schema._dims(ds)[:1] == ("sample",) and name != "sample":
                out[name] = ds[row]
    return out


def verify(name_or_path, root=None, regenerate: int = 0, seed: int | None = None, log=print) -> list[str]:
    """Returns the list of problems (empty when everything checks out)."""
    problems: list[str] = []
    candidates = []  # (cdir, manifest, split, shard record)
    n_shards = 0
    for cdir in _config_dirs(name_or_path, root):
        manifest = store.read_manifest(cdir)
        for split, info in manifest["splits"].items():
            have = sum(s["stop"] - s["start"] for s in info["shards"])
            if have != info["n_samples"]:
                problems.append(f"{cdir}: split {split!r} has {have} of {info['n_samples']} samples "
                                "(incomplete: re-run generate to resume)")
            for rec in info["shards"]:
                n_shards += 1
                path = cdir / rec["file"]
                if not path.is_file():
                    problems.append(f"{path}: missing")
                    continue
                if path.stat().st_size != rec["bytes"]:
                    problems.append(f"{path}: size {path.stat().st_size} bytes, manifest says {rec['bytes']} (truncated?)")
                if store.file_sha256(path) != rec["sha256"]:
                    problems.append(f"{path}: sha256 differs from the manifest (file altered or corrupt)")
                hashes: dict[str, str] = {}  # of the variables the checker reads anyway

                def record(name, values, hashes=hashes, wanted=rec["variables"]):
                    if name in wanted:
                        hashes[name] = store.array_hash(values)

                bad = schema.check_shard(path, visit=record)
                problems.extend(bad)
                if bad:
                    continue
                rest = [var for var in rec["variables"] if var not in hashes]
                if rest:
                    import h5py

                    with h5py.File(path, "r") as fh:
                        for var in rest:
                            if var in fh:
                                hashes[var] = store.array_hash(fh[var][()])
                for var, digest in rec["variables"].items():
                    if var not in hashes:
                        problems.append(f"{path}: variable {var!r} missing")
                    elif hashes[var] != digest:
                        problems.append(f"{path}: content hash of {var!r} differs from the manifest")
                candidates.append((cdir, manifest, split, rec))
    if regenerate and candidates:
        rng = np.random.default_rng(seed)
        weights = np.array([c[3]["stop"] - c[3]["start"] for c in candidates], dtype=float)
        picks = rng.choice(len(candidates), size=regenerate, p=weights / weights.sum())
        for i in picks:
            cdir, manifest, split, rec = candidates[i]
            index = int(rng.integers(rec["start"], rec["stop"]))
            card = Card(manifest["dataset"], manifest["card"], manifest.get("overrides", {}))
            family = get_family(card.generator)
            config = family.config(card, manifest["config"])
            stored = _read_sample(cdir / rec["file"], index - rec["start"])
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
