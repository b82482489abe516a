"""``pdeforge solve``: one case with explicit parameters, written in its family's shard schema.

For users who want to look at one flow, and for validation from outside the test suite: the
file is a one-sample shard (split ``solve``, config ``solve``) that ``pdeforge check``,
``pdeforge.open_dataset`` and the loader read like any other (it is not part of a generated
config, so its content is verified for format only). Families that support it implement
``solve_one(card, params, steady=, tol=, t_end_seconds=) -> (card, config, arrays)``.
"""

from __future__ import annotations

from pathlib import Path

from pdeforge.datasets.family import effective_card
from pdeforge.datasets.runner import build_shard
from pdeforge.datasets.store import write_shard
from pdeforge.errors import InvalidValueError

SPLIT = "solve"


def solve_to_file(dataset: str, params: dict[str, str], out: str | Path, *, overrides: dict[str, str] | None = None,
                  steady: bool = False, tol: float | None = None, t_end_seconds: float | None = None) -> Path:
    """Solve one case of ``dataset`` (a card name) with ``params`` and write it to ``out``.

    Keys of ``params`` that are card overrides of the family (``grid=``, ``frames=``, ``h=`` …)
    set the card; the rest are case parameters. ``tol`` (None: the family's default) is the
    steady-state tolerance."""
    from pdeforge.datasets.cards import load_card
    from pdeforge.datasets.family import get_family

    known = get_family(load_card(dataset).generator).overrides
    overrides = dict(overrides or {})
    params = dict(params)
    overrides.update({k: params.pop(k) for k in list(params) if k in known})
    card, family = effective_card(dataset, overrides)
    if not hasattr(family, "solve_one"):
        raise InvalidValueError(f"{dataset}: its family generates from random draws only; "
                                "`pdeforge solve` needs a family with explicit-parameter solves (cavity, tube, dam, cylinder, obstacle)")
    options = {"steady": steady, "t_end_seconds": t_end_seconds, **({} if tol is None else {"tol": float(tol)})}
    card, config, arrays = family.solve_one(card, params, **options)
    ds = build_shard(family, card, config, SPLIT, 0, arrays)
    out = Path(out)
    if out.suffix != ".nc":
        raise InvalidValueError(f"--out {out}: expected a .nc file name")
    write_shard(out, ds)
    return out
