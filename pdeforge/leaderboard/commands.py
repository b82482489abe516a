"""Leaderboard subcommands of the ``pdeforge`` command line.

    pdeforge score PRED --dataset NAME [--out SCORES.nc] [--metrics a,b] [--by PARAM|none]
    pdeforge submit PRED --meta META.toml --dataset NAME [--board DIR] [--slug S] [--force]
                    [--allow-exact]
    pdeforge leaderboard [--board DIR]                 render LEADERBOARD.md, index.html, plots
    pdeforge reproduce ENTRY [--predictions PRED]      re-score, compare bit for bit
    pdeforge reproduce ENTRY --retrain [--out DIR]     retrain from [training], compare
    pdeforge check-claims FILE [--board DIR]

For time-series targets ``score`` also prints the error against rollout step (mean
``rel_l2`` per step over the test samples with its 95 % bootstrap interval, and the cumulative
mean; :func:`pdeforge.leaderboard.score.rollout_curve`).

The data root is the global ``--root`` (or ``$PDEFORGE_DATA``, default ``./data``).
Invalid input raises :class:`~pdeforge.errors.PdeforgeError` subclasses (printed by the CLI,
exit status 2); ``reproduce`` and ``check-claims`` exit 1 when a check fails.
``reproduce --retrain`` exits 0 when its checks pass and the 95 % bootstrap interval of the
paired ``rel_l2`` difference (retrained - stored, per test sample) contains 0, else 1; an
entry without a recorded ``[training]`` table is an error (status 2).
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_BOARD = "leaderboard"


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _print_summary(table, file=None) -> None:
    from pdeforge.leaderboard.render import _num

    file = file or sys.stdout
    width = max([11] + [len(m) + 1 for m in table.metric])
    for row in table.itertuples():
        where = ("" if row.by == "all"
                 else f"  [{row.by} {row.group}: {_num(row.lo)}–{_num(row.hi)}]")
        print(f"  {row.metric:<{width}} {_num(row.mean):>10}  95% CI [{_num(row.ci_lo)}, "
              f"{_num(row.ci_hi)}]  n={row.n}{where}", file=file)


#: ``pdeforge score`` prints at most this many rows of the rollout curve (evenly spaced steps)
ROLLOUT_ROWS = 25


def _print_rollout(scores, file=None) -> None:
    """The error-against-step table of time-series scores (``rollout_curve``)."""
    from pdeforge.leaderboard.render import _num
    from pdeforge.leaderboard.score import rollout_curve

    file = file or sys.stdout
    if "rel_l2" not in scores.data_vars or "t" not in scores["rel_l2"].dims:
        return
    table = rollout_curve(scores, "rel_l2")
    step = table[table.metric == "rel_l2"].reset_index(drop=True)
    cum = table[table.metric == "cum_rel_l2"].reset_index(drop=True)
    n = len(step)
    rows = (range(n) if n <= ROLLOUT_ROWS
            else sorted({round(i * (n - 1) / (ROLLOUT_ROWS - 1)) for i in range(ROLLOUT_ROWS)}))
    start = int(scores.attrs.get("rollout_start", 0))
    print(f"error against rollout step (rel_l2; mean over {int(step.n.iloc[0])} test samples of "
          f"the per-sample mean over fields, 95% CI; frames from index {start} on are scored"
          + (f"; {len(rows)} of {n} steps shown" if len(rows) < n else "") + "):", file=file)
    print(f"  {'step':>5} {'t':>10} {'rel_l2':>10}  {'95% CI':<24} {'cum. mean':>10}", file=file)
    for i in rows:
        r, c = step.iloc[i], cum.iloc[i]
        ci = f"[{_num(r.ci_lo)}, {_num(r.ci_hi)}]"
        print(f"  {int(r.step):>5} {_num(float(r.t)):>10} {_num(r['mean']):>10}  {ci:<24} "
              f"{_num(c['mean']):>10}", file=file)


def cmd_score(args) -> int:
    import warnings

    from pdeforge.leaderboard.score import RolloutStartWarning, score, summarize

    pred = Path(args.predictions)
    out = Path(args.out) if args.out else pred.with_name(pred.stem + ".scores.nc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RolloutStartWarning)
        scores = score(pred, args.dataset, root=args.root, metrics=_split(args.metrics), out=out)
    for w in caught:
        if issubclass(w.category, RolloutStartWarning):
            print(f"note: {w.message}")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    by = None
    if args.by is not None:
        by = False if args.by.lower() in ("none", "") else _split(args.by)
    from pdeforge.leaderboard.score import ROUND_OFF_REL_L2, round_off_level

    table = summarize(scores, by=by)
    print(f"{scores.attrs['dataset']}/{scores.attrs['config']}  model {scores.attrs['model']!r}  "
          f"({scores.sizes['sample']} test samples)")
    _print_summary(table)
    _print_rollout(scores)
    exact = round_off_level(scores)
    if exact is not None:
        print(f"note: mean rel_l2 {exact:.3g} is at round-off (below {ROUND_OFF_REL_L2:g}): "
              "these are the stored truth, not a model's predictions; `pdeforge submit` "
              "refuses them without --allow-exact")
    print(f"wrote per-sample scores to {out}")
    return 0


def cmd_submit(args) -> int:
    from pdeforge.leaderboard.entries import read_entry
    from pdeforge.leaderboard.score import summarize
    from pdeforge.leaderboard.submit import submit

    entry_dir = submit(args.predictions, args.meta, args.dataset, board_dir=args.board,
                       root=args.root, slug=args.slug, overwrite=args.force,
                       allow_exact=args.allow_exact)
    entry = read_entry(entry_dir)
    print(f"stored entry {entry_dir}")
    _print_summary(summarize(entry.scores(), by=False, metrics=["rel_l2"]))
    print(f"run `pdeforge leaderboard --board {args.board}` to update the pages")
    return 0


def cmd_leaderboard(args) -> int:
    from pdeforge.leaderboard.render import render

    out = render(args.board, root=args.root)
    print(f"rendered {out['entries']} entries: {out['markdown']}, {out['html']}, "
          f"{len(out['plots'])} plots")
    return 0


def cmd_reproduce(args) -> int:
    from pdeforge.leaderboard.reproduce import reproduce

    if args.out is not None and not args.retrain:
        from pdeforge.errors import InvalidValueError

        raise InvalidValueError("--out is only used with --retrain")
    report = reproduce(args.entry, predictions=args.predictions, root=args.root,
                       retrain=args.retrain, out_dir=args.out,
                       progress=args.retrain and sys.stderr.isatty())
    print(report)
    return 0 if report.ok else 1


def cmd_check_claims(args) -> int:
    from pdeforge.leaderboard.claims import check_claims

    results = check_claims(args.file, board_dir=args.board)
    for r in results:
        print(r)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} of {len(results)} claims pass")
    return 1 if failed else 0


def add_commands(sub) -> None:
    """Register the leaderboard subcommands on the ``pdeforge`` subparsers."""
    s = sub.add_parser("score", help="validate and score a predictions file")
    s.add_argument("predictions", metavar="PRED")
    s.add_argument("--dataset", required=True, metavar="NAME")
    s.add_argument("--out", help="per-sample scores netCDF (default: PRED.scores.nc)")
    s.add_argument("--metrics", help="comma-separated metric names (default: all)")
    s.add_argument("--by", help="grouping parameter(s), comma-separated, or 'none' "
                                "(default: every per-sample param, e.g. contrast)")
    s.set_defaults(fn=cmd_score)

    s = sub.add_parser("submit", help="score a submission and store it as a leaderboard entry")
    s.add_argument("predictions", metavar="PRED")
    s.add_argument("--meta", required=True, metavar="META.toml")
    s.add_argument("--dataset", required=True, metavar="NAME")
    s.add_argument("--board", default=DEFAULT_BOARD, metavar="DIR")
    s.add_argument("--slug", help="entry directory name (default: from the model name)")
    s.add_argument("--force", action="store_true", help="replace an existing entry")
    s.add_argument("--allow-exact", action="store_true",
                   help="store an entry whose mean rel_l2 is at round-off (below 1e-6: the "
                        "stored truth, e.g. a solver baseline); it is flagged on the board")
    s.set_defaults(fn=cmd_submit)

    s = sub.add_parser("leaderboard", help="render LEADERBOARD.md, index.html and plots")
    s.add_argument("--board", default=DEFAULT_BOARD, metavar="DIR")
    s.set_defaults(fn=cmd_leaderboard)

    s = sub.add_parser("reproduce", help="re-score a stored entry and compare bit for bit, "
                                         "or retrain it (--retrain) and compare statistically")
    s.add_argument("entry", metavar="ENTRY")
    s.add_argument("--predictions", metavar="PRED",
                   help="the predictions file when it is not stored in the entry")
    s.add_argument("--retrain", action="store_true",
                   help="train the model again from the entry's [training] table and compare "
                        "the new scores with the stored ones (exit 0 when the 95%% interval of "
                        "the paired rel_l2 difference contains 0, else 1)")
    s.add_argument("--out", metavar="DIR", help="with --retrain: keep the new run (checkpoint, "
                                                "predictions, run.json) in DIR")
    s.set_defaults(fn=cmd_reproduce)

    s = sub.add_parser("check-claims", help="check claimed numbers against the board")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--board", default=DEFAULT_BOARD, metavar="DIR")
    s.set_defaults(fn=cmd_check_claims)
