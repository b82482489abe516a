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
     "test_set": {"n_samples": ..., "indices_sha256": ...},
     "pdeforge_version": ..., "scored_at": <UTC ISO time>}

``test_set`` (:func:`pdeforge.leaderboard.score.test_set_of`) is the identity of the test
split the entry was scored on; entries written before it was recorded get it from the
sample coordinate of their ``scores.nc`` (:attr:`Entry.test_set`).  Entries are compared
(one table, one ranking) only within the same dataset, config and test set.

:meth:`Entry.validate` re-checks a stored entry the way :func:`~pdeforge.leaderboard.submit.
submit` checked it (the same metadata validator) plus its consistency with ``scores.nc``;
the renderer and ``reproduce`` call it, so a hand-edited ``meta.json`` is refused, naming
the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdeforge.datasets import store
from pdeforge.leaderboard.errors import BoardError

__all__ = ["ENTRY_FORMAT", "Entry", "read_entry", "list_entries", "entries_dir",
           "require_board"]

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

    @property
    def meta_path(self) -> Path:
        return self.path / META

    @property
    def test_set(self) -> dict[str, Any]:
        """``{"n_samples", "indices_sha256"}`` of the test split the entry was scored on."""
        recorded = self.meta.get("test_set")
        if isinstance(recorded, dict) and recorded.get("indices_sha256"):
            return recorded
        from pdeforge.leaderboard.score import test_set_of

        return test_set_of(self.scores())

    def validate(self) -> "Entry":
        """Re-validate the stored metadata and its agreement with ``scores.nc``.

        The submission is checked by :func:`pdeforge.leaderboard.metadata.validate_metadata`
        (as at submit, with the entry's ``scored_at`` date as "today"; the ``[training]``
        table is re-checked by ``reproduce --retrain``, which needs it); then the scores'
        ``model``, ``dataset``, ``config`` and ``content_key`` attributes and their test set
        must equal ``meta.json``'s.  Raises :class:`BoardError` naming ``meta.json``.
        """
        import datetime as dt

        from pdeforge.errors import PdeforgeError
        from pdeforge.leaderboard.score import test_set_of
        from pdeforge.leaderboard.metadata import validate_metadata

        where = self.meta_path
        sub = self.meta.get("submission")
        if not isinstance(sub, dict):
            raise BoardError(f"{where}: 'submission' is not a table")
        raw = {k: v for k, v in sub.items()
               if k != "training" and not (k in ("paper", "code", "notes") and v == "")}
        try:
            scored = dt.datetime.fromisoformat(str(self.meta.get("scored_at"))).date()
        except ValueError:
            raise BoardError(f"{where}: 'scored_at' is not an ISO time") from None
        problems = []
        try:
            validate_metadata(raw, label=where, dataset=self.dataset, config=self.config,
                              today=scored, today_is="the entry was scored")
        except PdeforgeError as exc:
            problems.append(str(exc).removeprefix(f"{where}: "))
        scores = self.scores()
        for key, want in (("model", sub.get("model")), ("dataset", self.dataset),
                          ("config", self.config), ("content_key", self.meta["content_key"])):
            got = scores.attrs.get(key)
            if got != want:
                problems.append(f"{key} {want!r} differs from the {key} {got!r} the scores "
                                f"({self.scores_path.name}) were computed for")
        recorded = self.meta.get("test_set")
        if recorded is not None and recorded != test_set_of(scores):
            actual = test_set_of(scores)
            problems.append(f"test set {recorded!r} differs from the scores' test set "
                            f"({actual['n_samples']} samples, indices sha256 "
                            f"{actual['indices_sha256'][:12]}…)")
        if problems:
            raise BoardError(f"{where}: invalid stored metadata (hand-edited?): "
                             + "; ".join(problems))
        return self

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


def require_board(board_dir) -> Path:
    """``board_dir`` when it is a board folder (holds ``entries/``), else :class:`BoardError`."""
    board = Path(board_dir)
    if not board.is_dir():
        raise BoardError(f"{board}: no such leaderboard folder (pass --board DIR)")
    if not entries_dir(board).is_dir():
        raise BoardError(f"{board}: not a leaderboard folder (it has no entries/ folder)")
    return board


def list_entries(board_dir) -> list[Entry]:
    """All entries of a board, sorted by (dataset, config, slug)."""
    base = entries_dir(board_dir)
    if not base.is_dir():
        return []
    return [read_entry(p.parent) for p in sorted(base.glob(f"*/*/*/{META}"))]
