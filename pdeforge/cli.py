"""The ``pdeforge`` command line: a thin layer over the library.

    pdeforge list                           datasets, configs, sizes, and what is on disk
    pdeforge generate NAME [key=value ...]  generate (resumes; no-op when done unless --force)
    pdeforge info PATH|NAME                 schema, attributes and manifest summary
    pdeforge verify NAME|PATH [--regenerate N]
    pdeforge check PATH ...                 validate shard files against the format spec
    pdeforge plot NAME [config=C] [split=S] [n=3] [pred=PRED.nc]
    pdeforge solve PROBLEM key=value ... --out FILE.nc   one CFD case, explicit parameters

Card values are overridden by name (``grid=128 n_train=100 configs=cubic0.1,poisson``);
run options may be given the same way (``workers=2 root=/data scheduler=tcp://…``), which is
what ``make dataset name=condiff …`` passes through.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pdeforge.errors import InvalidValueError, PdeforgeError
from pdeforge.options import parse_bool, parse_key_values

RUN_OPTIONS = {"workers", "root", "scheduler", "force", "progress"}
#: modules that contribute subcommands via ``add_commands(subparsers)``
EXTRA_COMMANDS: list[str] = ["pdeforge.leaderboard.commands", "pdeforge.baselines.commands"]


def _int_at_least(low: int, words: str):
    """An argparse type: a whole number ≥ ``low`` (``words`` says the bound in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return parse


#: argparse types: a whole number ≥ 1, and ≥ 0
positive_int = _int_at_least(1, "at least 1")
nonnegative_int = _int_at_least(0, "0 or more")


def cmd_list(args) -> int:
    from pdeforge.datasets.layout import resolve_root
    from pdeforge.datasets.summary import all_datasets, list_dataset

    root = resolve_root(args.root)
    for name in all_datasets():
        card, splits, rows = list_dataset(name, root)
        print(f"{name}: {card.get('dataset.title', '')}")
        print(f"  splits {', '.join(f'{k}={v}' for k, v in splits.items())}; root {root / name}")
        for row in rows:
            print(f"  {row.name:<24} {row.mib:8.1f} MiB   {row.state}")
    return 0


def cmd_generate(args) -> int:
    from pdeforge.datasets.runner import generate_dataset

    kv = parse_key_values(args.overrides)
    opts = {k: kv.pop(k) for k in list(kv) if k in RUN_OPTIONS}
    workers = args.workers
    if workers is None and "workers" in opts:
        try:
            workers = positive_int(opts["workers"])
        except argparse.ArgumentTypeError as exc:
            raise InvalidValueError(f"workers={opts['workers']}: {exc}") from None
    generate_dataset(
        args.name, kv,
        root=args.root or opts.get("root"),
        workers=workers,
        scheduler=args.scheduler or opts.get("scheduler"),
        force=args.force or parse_bool("force", opts.get("force", "0")),
        progress=not args.no_progress and parse_bool("progress", opts.get("progress", "1")),
    )
    return 0


def cmd_info(args) -> int:
    target = Path(args.target)
    if target.suffix == ".nc":
        import xarray as xr

        from pdeforge.datasets.checks import check_file

        with xr.open_dataset(target, engine="h5netcdf") as ds:
            print(ds)
        problems, note = check_file(target)
        print("check:", "OK" if not problems else "; ".join(problems), f"({note})")
        return 0
    from pdeforge.datasets.summary import describe

    for line in describe(args.target, args.root):
        print(line)
    return 0


def cmd_verify(args) -> int:
    from pdeforge.datasets.verify import verify

    problems = verify(args.target, root=args.root, regenerate=args.regenerate, seed=args.seed)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


def cmd_check(args) -> int:
    from pdeforge.datasets.checks import check_file, shard_files

    files = shard_files(args.paths)
    bad = 0
    for f in files:
        problems, note = check_file(f)
        bad += bool(problems)
        print(f"{f}: OK ({note})" if not problems else "\n".join(problems))
    print(f"{len(files) - bad} of {len(files)} shards valid")
    return 1 if bad or not files else 0


def cmd_plot(args) -> int:
    from pdeforge.datasets.layout import resolve_root
    from pdeforge.datasets.plot import plot_samples
    from pdeforge.datasets.reading import find_config_dirs
    from pdeforge.datasets.store import open_split

    kv = parse_key_values(args.options)
    known = ["config", "n", "pred", "root", "split"]
    unknown = set(kv) - set(known)
    if unknown:
        from pdeforge.errors import UnknownNameError

        raise UnknownNameError("plot option", sorted(unknown)[0], known)
    root = resolve_root(args.root or kv.pop("root", None))
    pred = kv.pop("pred", None)
    config = kv.pop("config", None)
    if config is None and pred is not None:
        from pdeforge.contracts.predictions import read_predictions

        config = str(read_predictions(pred).attrs.get("config", "")) or None
    if config is None:
        dirs = find_config_dirs(root, args.name)
        if not dirs:
            raise PdeforgeError(f"nothing generated for {args.name!r} under {root}")
        config = dirs[0].name
    split = kv.pop("split", "test" if pred is not None else "train")
    try:
        n = positive_int(kv.pop("n", "3"))
    except argparse.ArgumentTypeError as exc:
        raise InvalidValueError(f"n: {exc}") from None
    ds = open_split(args.name, config=config, split=split, root=root)
    if pred is not None:
        from pdeforge.contracts.predictions import load_predictions
        from pdeforge.datasets.plot_predictions import plot_predictions

        p, _ = load_predictions(pred, args.name, root=root)
        out = Path(args.out) if args.out else Path(pred).with_suffix(".png")
        plot_predictions(ds, p, out, n=n, title=f"{args.name} {config}: {p.attrs.get('model', '')} vs truth")
    else:
        out = Path(args.out) if args.out else root / args.name / "plots" / f"{config}_{split}.png"
        plot_samples(ds, out, n=n, title=f"{args.name} {config} {split}")
    print(f"wrote {out}")
    return 0


#: `pdeforge solve` options of every problem (the family's card overrides, e.g. grid=, frames=,
#: are options too; everything else is a case parameter)
SOLVE_OPTIONS = {"steady", "tol", "t_end"}


def cmd_solve(args) -> int:
    from pdeforge.datasets.cards import parse_float
    from pdeforge.datasets.single import solve_to_file

    kv = parse_key_values(args.params)
    opts = {k: kv.pop(k) for k in list(kv) if k in SOLVE_OPTIONS}
    steady = parse_bool("steady", opts.pop("steady", "0"))
    tol = parse_float("tol", opts.pop("tol"), 1e-15, 1.0) if "tol" in opts else None  # None: the family's
    t_end = opts.pop("t_end", None)
    t_end = parse_float("t_end", t_end, 1e-9, 1e9) if t_end is not None else None
    out = solve_to_file(args.problem, kv, args.out, steady=steady, tol=tol, t_end_seconds=t_end)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdeforge", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", help="data root (default: $PDEFORGE_DATA or ./data)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="datasets, configs and sizes")
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("generate", help="generate a dataset family")
    s.add_argument("name")
    s.add_argument("overrides", nargs="*", metavar="key=value")
    s.set_defaults(kv_dest="overrides")
    s.add_argument("--workers", type=positive_int, help="local worker processes (default: all cores)")
    s.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    s.add_argument("--force", action="store_true", help="regenerate even if present")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(fn=cmd_generate)

    s = sub.add_parser("info", help="schema, attributes and manifest summary")
    s.add_argument("target", metavar="PATH|NAME")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("verify", help="recompute checksums; --regenerate N re-derives N samples")
    s.add_argument("target", metavar="NAME|PATH")
    s.add_argument("--regenerate", type=nonnegative_int, default=0, metavar="N",
                   help="regenerate N distinct random samples (at most all of them) and compare bit for bit")
    s.add_argument("--seed", type=int, default=None, help="seed for choosing the samples")
    s.set_defaults(fn=cmd_verify)

    s = sub.add_parser("solve", help="solve one CFD case with explicit parameters into FILE.nc")
    s.add_argument("problem", metavar="PROBLEM", help="cavity, tube, dam, cylinder or obstacle")
    s.add_argument("params", nargs="*", metavar="key=value",
                   help="case parameters in SI units (e.g. lid_velocity=1 density=1 viscosity=0.01 "
                        "width=1 height=1); t_end= (seconds), steady=1 [tol=1e-6]; card options such as "
                        "grid=, frames=, cfl= (cavity, tube, dam) or h=, steps=, frames= (cylinder); obstacle: shape=square size=0.1 center_x= center_y= rotation= "
                        "(degrees), steady by construction")
    s.set_defaults(kv_dest="params")
    s.add_argument("--out", required=True, metavar="FILE.nc")
    s.set_defaults(fn=cmd_solve)

    s = sub.add_parser("check", help="validate shard files against the format spec")
    s.add_argument("paths", nargs="+")
    s.set_defaults(fn=cmd_check)

    s = sub.add_parser("plot", help="PNG of a few samples")
    s.add_argument("name")
    s.add_argument("options", nargs="*", metavar="key=value", help="config=, split=, n=")
    s.set_defaults(kv_dest="options")
    s.add_argument("--out")
    s.set_defaults(fn=cmd_plot)

    # other areas add their own subcommands (each module: add_commands(subparsers))
    for module in EXTRA_COMMANDS:
        import importlib

        importlib.import_module(module).add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    import signal

    if hasattr(signal, "SIGPIPE"):  # `pdeforge list | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = build_parser()
    # allow --root after the subcommand, and key=value words after options
    # (`pdeforge generate condiff --workers 2 grid=64`)
    args, rest = parser.parse_known_args(argv)
    if rest:
        extra = argparse.ArgumentParser(add_help=False)
        extra.add_argument("--root")
        more, unknown = extra.parse_known_args(rest)
        dest = getattr(args, "kv_dest", None)
        words = [u for u in unknown if "=" in u and not u.startswith("-")]
        if dest is not None and words:
            getattr(args, dest).extend(words)
            unknown = [u for u in unknown if u not in words]
        if unknown:
            parser.error(f"unrecognised arguments: {' '.join(unknown)}")
        args.root = more.root or args.root
    try:
        return args.fn(args)
    except PdeforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
