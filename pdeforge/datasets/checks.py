"""``pdeforge check``: a shard file against the format spec *and*, when it belongs to a generated
config, against its manifest record (size, sha256, identity attributes).

A file outside any config can only be checked for format: the report says its content could
not be verified. A file inside a config directory that the manifest does not list is an
orphan (left by an older run, or copied in) and is reported as such.
"""

from __future__ import annotations

from pathlib import Path

from pdeforge.datasets.reading import record_of, shard_problems
from pdeforge.datasets.schema import check_shard
from pdeforge.errors import CorruptFileError


def check_file(path: str | Path) -> tuple[list[str], str]:
    """``(problems, note)`` for one shard file; ``note`` says how far its content was verified."""
    path = Path(path)
    problems = check_shard(path)
    try:
        found = record_of(path)
    except CorruptFileError as exc:
        return problems + [str(exc)], "manifest unreadable"
    if found is None:
        return problems, "format only: no manifest beside it, content not verified"
    manifest, split, rec = found
    if rec is None:
        return problems + [f"{path}: not listed in {manifest.path} (orphan or copied in)"], "not in the manifest"
    problems += [f"{path}: {p}" for p in shard_problems(path, manifest, split, rec, verify=True)]
    return problems, "format, size, sha256 and identity checked against the manifest"


def shard_files(targets) -> list[Path]:
    files: list[Path] = []
    for t in targets:
        p = Path(t)
        files.extend(sorted(p.rglob("shard-*.nc")) if p.is_dir() else [p])
    return files
