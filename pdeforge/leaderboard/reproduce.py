"""Re-score a stored leaderboard entry and compare with its stored scores, bit for bit.

:func:`reproduce` checks, in order: the predictions file is the one that was scored (its
sha256 equals ``meta.json``'s), the dataset under the data root is the version the entry was
scored on (same ``content_key``), the stored ``scores.nc`` still has the sha256 recorded at
submission, and re-scoring the predictions gives *exactly* the stored values (every metric
and coordinate compared bitwise, NaN included).  Retraining the model is not supported yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdeforge.datasets import store
from pdeforge.errors import PdeforgeError
from pdeforge.leaderboard.entries import read_entry
from pdeforge.leaderboard.errors import BoardError, NotSupportedError

__all__ = ["ReproduceReport", "reproduce", "compare_scores"]


@dataclass
class ReproduceReport:
    entry: Path
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, bool(ok), detail))
        return bool(ok)

    def __str__(self) -> str:
        lines = [f"{self.entry}: {'REPRODUCED' if self.ok else 'NOT REPRODUCED'}"]
        for name, ok, detail in self.checks:
            lines.append(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))
        return "\n".join(lines)


def _bits(a: np.ndarray) -> np.ndarray:
    """A view for bitwise comparison (NaN == NaN when the bit patterns agree)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        return a.view(f"u{a.dtype.itemsize}")
    return a


def compare_scores(stored, fresh) -> list[str]:
    """Differences between two scores Datasets (empty = identical, bit for bit)."""
    problems = []
    a_vars, b_vars = set(stored.data_vars), set(fresh.data_vars)
    if a_vars != b_vars:
        problems.append(f"metrics differ: stored {sorted(a_vars)}, re-scored {sorted(b_vars)}")
    for name in sorted(set(stored.variables) & set(fresh.variables)):
        a, b = stored[name], fresh[name]
        if a.dims != b.dims or a.shape != b.shape:
            problems.append(f"{name}: dims/shape {a.dims}{a.shape} vs {b.dims}{b.shape}")
            continue
        x, y = np.asarray(a.values), np.asarray(b.values)
        if x.dtype.kind in "OUS" or y.dtype.kind in "OUS":
            same = x.astype(str).tolist() == y.astype(str).tolist()
        else:
            same = x.dtype == y.dtype and np.array_equal(_bits(x), _bits(y))
        if not same:
            detail = ""
            if x.dtype.kind == "f" and y.dtype.kind == "f":
                diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
                x64, y64 = x.astype(np.float64), y.astype(np.float64)
                n = int(np.count_nonzero(_bits(x64) != _bits(y64)))
                big = np.nanmax(diff, initial=0)
                detail = f" ({n} of {x.size} values differ, max |diff| {big:.3e})"
            problems.append(f"{name}: stored values differ from the re-scored ones{detail}")
    missing = sorted(set(fresh.coords) - set(stored.coords))
    if missing:
        problems.append(f"stored scores lack coordinate(s) {', '.join(missing)}")
    return problems


def reproduce(entry_dir, predictions=None, root=None, *, retrain: bool = False) -> ReproduceReport:
    """Re-score the entry's predictions and compare with its stored scores (see module doc).

    ``predictions``: path of the predictions file when it is not stored in the entry (files
    of 2 MB or more are only referenced by sha256).  ``root``: data root holding the dataset.
    Returns a :class:`ReproduceReport` (``report.ok``); raises
    :class:`~pdeforge.errors.PdeforgeError` subclasses when the check cannot be run at all.
    """
    from pdeforge.leaderboard.predictions import load_predictions
    from pdeforge.leaderboard.score import load_scores, score_predictions

    if retrain:
        raise NotSupportedError(
            "reproduce --retrain is not implemented yet: pdeforge has no trainer to re-train "
            "a submitted model from its metadata; only re-scoring the stored predictions is "
            "supported (run without --retrain)")
    entry = read_entry(entry_dir)
    report = ReproduceReport(Path(entry_dir))
    pred_path = Path(predictions) if predictions else entry.predictions_path
    if pred_path is None:
        raise BoardError(
            f"{entry.path}: the predictions file ({entry.meta['predictions']['bytes']} bytes) is "
            f"not stored in the entry; pass --predictions PATH to the file with sha256 "
            f"{entry.meta['predictions']['sha256']}")
    if not pred_path.is_file():
        raise BoardError(f"{pred_path}: predictions file not found")
    want = entry.meta["predictions"]["sha256"]
    got = store.file_sha256(pred_path)
    if not report.add("predictions sha256", got == want,
                      f"{pred_path.name} {got[:12]}…" if got == want else
                      f"{pred_path} has sha256 {got[:12]}…, the entry was scored on {want[:12]}…"):
        return report

    try:
        pred, ref = load_predictions(pred_path, entry.dataset, root)
    except PdeforgeError as exc:
        report.add("dataset and predictions valid", False, str(exc))
        return report
    same_data = ref.content_key == entry.meta["content_key"]
    if not report.add("dataset version", same_data,
                      f"content key {ref.content_key[:12]}… under {ref.cdir}" if same_data else
                      f"data under {ref.cdir} has content key {ref.content_key[:12]}…, the entry "
                      f"was scored on {entry.meta['content_key'][:12]}…"):
        return report

    path = entry.scores_path
    if not path.is_file():
        report.add("stored scores", False, f"{path} is missing")
        return report
    recorded = entry.meta["scores"].get("sha256", "")
    actual = store.file_sha256(path)
    report.add("scores.nc sha256", actual == recorded,
               "matches meta.json" if actual == recorded else
               f"{actual[:12]}… differs from meta.json's {recorded[:12]}… (file altered)")
    stored = load_scores(path)
    fresh = score_predictions(pred, ref, entry.meta["scores"].get("metrics"),
                              predictions_sha256=got)
    problems = compare_scores(stored, fresh)
    import pdeforge

    note = ""
    if entry.meta.get("pdeforge_version") != pdeforge.__version__:
        note = (f" (scored with pdeforge {entry.meta.get('pdeforge_version')}, "
                f"re-scored with {pdeforge.__version__})")
    report.add("re-scored values identical", not problems,
               (f"{len(fresh.data_vars)} metrics × {fresh.sizes['sample']} samples bit for bit"
                if not problems else "; ".join(problems)) + note)
    return report
