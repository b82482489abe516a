"""Check numbers claimed elsewhere (a paper, a README) against the leaderboard.

Claims file (TOML), one ``[[claim]]`` table per claim::

    [[claim]]
    dataset = "condiff"
    config = "cubic0.1_grid64"
    model = "FNO-64"          # the entry's model name (or its slug)
    metric = "rel_l2"         # any metric stored in the entry's scores
    value = 0.0123            # the claimed number
    tolerance = 0.0005        # absolute; passes when |board - value| <= tolerance
    note = "Table 2 of ..."   # optional

The board's value is the one the leaderboard shows: the mean over test samples of the
per-sample metric (:func:`pdeforge.leaderboard.score.summarize`).  A claim about an entry
that does not exist, or a metric the entry lacks, fails (it is not an error); a malformed
file raises :class:`~pdeforge.leaderboard.errors.ClaimsError`, and a ``board_dir`` that is
not a board folder (missing, or without ``entries/``) a
:class:`~pdeforge.leaderboard.errors.BoardError` (the command's exit status 2, not 1).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pdeforge.leaderboard.entries import list_entries, require_board
from pdeforge.leaderboard.errors import ClaimsError

__all__ = ["Claim", "ClaimResult", "read_claims", "check_claims"]

_FIELDS = {"dataset": str, "config": str, "model": str, "metric": str, "value": float,
           "tolerance": float, "note": str}
_OPTIONAL = {"note"}


@dataclass(frozen=True)
class Claim:
    dataset: str
    config: str
    model: str
    metric: str
    value: float
    tolerance: float
    note: str = ""


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    board_value: float | None
    passed: bool
    reason: str

    def __str__(self) -> str:
        c = self.claim
        head = f"{'PASS' if self.passed else 'FAIL'} {c.dataset}/{c.config} {c.model} {c.metric}"
        return f"{head}: claimed {c.value:.6g} ± {c.tolerance:.3g}; {self.reason}"


def read_claims(path) -> list[Claim]:
    """Parse and check a claims file (all problems reported at once)."""
    path = Path(path)
    if not path.is_file():
        raise ClaimsError(f"{path}: no such claims file")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ClaimsError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"claim"})
    items = data.get("claim")
    problems = []
    if extra:
        problems.append(f"unknown top-level key(s) {', '.join(extra)} (use [[claim]] tables)")
    if not isinstance(items, list) or not items:
        problems.append("no [[claim]] tables")
        items = []
    claims = []
    for i, item in enumerate(items, 1):
        where = f"claim {i}"
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)} "
                            f"(known: {', '.join(_FIELDS)})")
        values = {}
        for key, kind in _FIELDS.items():
            if key not in item:
                if key not in _OPTIONAL:
                    problems.append(f"{where}: missing {key!r}")
                continue
            v = item[key]
            if kind is float:
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                if ok and key == "tolerance" and v < 0:
                    ok = False
                v = float(v) if ok else v
            else:
                ok = isinstance(v, str) and (bool(v.strip()) or key in _OPTIONAL)
            if not ok:
                want = ("a finite number" + (" >= 0" if key == "tolerance" else "")
                        if kind is float else "a non-empty string")
                problems.append(f"{where}: {key!r} must be {want}, got {item[key]!r}")
            else:
                values[key] = v
        if all(k in values for k in _FIELDS if k not in _OPTIONAL):
            claims.append(Claim(**values))
    if problems:
        raise ClaimsError(f"{path}: {len(problems)} problem(s): " + "; ".join(problems))
    return claims


def check_claims(path, board_dir="leaderboard") -> list[ClaimResult]:
    """One :class:`ClaimResult` per claim of ``path``, in file order."""
    from pdeforge.leaderboard.score import summarize

    claims = read_claims(path)
    entries = list_entries(require_board(board_dir))
    cache = {}
    results = []
    for c in claims:
        hits = [e for e in entries if e.dataset == c.dataset and e.config == c.config
                and c.model in (e.model, e.slug)]
        if not hits:
            results.append(ClaimResult(c, None, False,
                                       f"no entry for model {c.model!r} on "
                                       f"{c.dataset}/{c.config} in {board_dir}"))
            continue
        if len(hits) > 1:
            results.append(ClaimResult(c, None, False,
                                       f"{len(hits)} entries match {c.model!r}; name the slug"))
            continue
        entry = hits[0]
        scores = entry.scores()
        if c.metric not in scores.data_vars:
            results.append(ClaimResult(c, None, False,
                                       f"metric {c.metric!r} not in the entry's scores "
                                       f"({', '.join(scores.data_vars)})"))
            continue
        key = (str(entry.path), c.metric)
        if key not in cache:
            table = summarize(scores, by=False, metrics=[c.metric])
            cache[key] = float(table["mean"].iloc[0])
        board = cache[key]
        diff = abs(board - c.value)
        passed = not math.isnan(board) and diff <= c.tolerance
        results.append(ClaimResult(c, board, passed,
                                   f"board {board:.6g} (|diff| {diff:.3g}"
                                   f"{' <= ' if passed else ' > '}tolerance)"))
    return results
