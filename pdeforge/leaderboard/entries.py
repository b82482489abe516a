"""Leaderboard entries on disk (read side), shared by render, reproduce and claims.

Layout of a board directory::

    <board>/entries/<dataset>/<config>/<slug>/meta.json        metadata, hashes, versions
    <board>/entries/<dataset>/<config>/<slug>/scores.nc        per-sample scores
    <board>/entries/<dataset>/<config>/<slug>/predictions.nc   only when smaller than 2 MB
    <board>/LEADERBOARD.md, <board>/index.html, <board>/plots/*.png   (rendered)

``meta.json`` (format ``pdeforge-entry/1``)::

    {"format": "pdeforge-entry/1", "slug": ..., "dataset": ..., "config": ...,
     "split": "test", "content_key": <config manifest's content_key>,
     "submission": {model, authors, paper, code, parameters, train_time_hours, hardware,
                    train_split, date, notes},
     "predictions": {"sha256": ..., "bytes": ..., "file": "predictions.nc" | null,
                     "name": <original file name>},
     "scores": {"file": "scores.nc", "sha256": ..., "metrics": [...]},
     "pdeforge_version": ..., "scored_at": <UTC ISO time>}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdeforge.datasets import store
from pdeforge.leaderboard.errors import BoardError

__all__ = ["ENTRY_FORMAT", "Entry", "read_entry", "list_entries", "entries_dir"]

ENTRY_FORMAT = "pdeforge-entry/1"
META = "meta.json"
SCORES = "scores.nc"
PREDICTIONS = "predictions.nc"


@dataclass
class Entry:
    path: Path
    meta: dict[str, Any]
    _scores: Any = field(default=None, repr=False)

    @property
    def dataset(self) -> str:
        return self.meta["dataset"]

    @property
    def config(self) -> str:
        return self.meta["config"]

    @property
    def slug(self) -> str:
        return self.meta["slug"]

    @property
    def model(self) -> str:
        return self.meta["submission"]["model"]

    @property
    def submission(self) -> dict[str, Any]:
        return self.meta["submission"]

    @property
    def scores_path(self) -> Path:
        return self.path / self.meta["scores"]["file"]

    @property
    def predictions_path(self) -> Path | None:
        name = self.meta["predictions"].get("file")
        return self.path / name if name else None

    def scores(self, check: bool = True):
        """The stored scores (checked against the sha256 in meta.json unless ``check=False``)."""
        if self._scores is None:
            from pdeforge.leaderboard.score import load_scores

            if check:
                self.check_scores_hash()
            self._scores = load_scores(self.scores_path)
        return self._scores

    def check_scores_hash(self) -> None:
        path = self.scores_path
        if not path.is_file():
            raise BoardError(f"{self.path}: scores file {path.name} is missing")
        want = self.meta["scores"].get("sha256")
        if want and store.file_sha256(path) != want:
            raise BoardError(f"{path}: sha256 differs from meta.json (the stored scores were "
                             "altered); re-submit, or run `pdeforge reproduce` on the entry")


def entries_dir(board_dir) -> Path:
    return Path(board_dir) / "entries"


def read_entry(entry_dir) -> Entry:
    """Read ``meta.json`` of one entry; raises :class:`BoardError` when missing or malformed."""
    entry_dir = Path(entry_dir)
    path = entry_dir / META
    if not path.is_file():
        raise BoardError(f"{entry_dir}: not a leaderboard entry (no {META})")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BoardError(f"{path}: unreadable: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != ENTRY_FORMAT:
        raise BoardError(f"{path}: not a {ENTRY_FORMAT} file")
    for key in ("slug", "dataset", "config", "content_key", "submission", "predictions", "scores"):
        if key not in meta:
            raise BoardError(f"{path}: missing key {key!r}")
    return Entry(entry_dir, meta)


def list_entries(board_dir) -> list[Entry]:
    """All entries of a board, sorted by (dataset, config, slug)."""
    base = entries_dir(board_dir)
    if not base.is_dir():
        return []
    return [read_entry(p.parent) for p in sorted(base.glob(f"*/*/*/{META}"))]
