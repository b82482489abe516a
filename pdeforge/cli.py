"""The ``pdeforge`` command line: a thin layer over the library.

    pdeforge list                           datasets, configs, sizes, and what is on disk
    pdeforge generate NAME [key=value ...]  generate (resumes; no-op when done unless --force)
    pdeforge info PATH|NAME                 schema, attributes and manifest summary
    pdeforge verify NAME|PATH [--regenerate N]
    pdeforge check PATH ...                 validate shard files against the format spec
    pdeforge plot NAME [config=C] [split=S] [n=3]

Card values are overridden by name (``grid=128 n_train=100 configs=cubic0.1,poisson``);
run options may be given the same way (``workers=2 root=/data scheduler=tcp://…``), which is
what ``make dataset name=condiff …`` passes through.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pdeforge.errors import PdeforgeError

RUN_OPTIONS = {"workers", "root", "scheduler", "force", "progress"}
#: modules that contribute subcommands via ``add_commands(subparsers)``
EXTRA_COMMANDS: list[str] = ["pdeforge.leaderboard.commands", "pdeforge.baselines.commands"]


def _split_kv(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise PdeforgeError(f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _truthy(text: str) -> bool:
    return str(text).lower() in ("1", "true", "yes", "on")


def cmd_list(args) -> int:
    from pdeforge.datasets import store
    from pdeforge.datasets.cards import card_names
    from pdeforge.datasets.runner import effective_card

    root = store.resolve_root(args.root)
    for name in card_names():
        card, family = effective_card(name)
        splits = family.splits(card)
        print(f"{name}: {card.get('dataset.title', '')}")
        print(f"  splits {', '.join(f'{k}={v}' for k, v in splits.items())}; root {root / name}")
        for config in family.configs(card):
            per_sample = 0
            coords = family.coords(card, config)
            for spec in family.variables(card, config).values():
                size = 1
                for d in spec.dims:
                    size *= len(coords[d].values)
                per_sample += size * (8 if spec.dtype.endswith("64") else 4)
            total = per_sample * sum(splits.values())
            cdir = store.config_dir(root, name, config.name)
            manifest = store.read_manifest(cdir)
            state = "not generated"
            if manifest:
                have = sum(s["stop"] - s["start"] for sp in manifest["splits"].values() for s in sp["shards"])
                want = sum(sp["n_samples"] for sp in manifest["splits"].values())
                state = "complete" if manifest.get("complete") else f"partial {have}/{want}"
            print(f"  {config.name:<24} {total / 2**20:8.1f} MiB   {state}")
    return 0


def cmd_generate(args) -> int:
    from pdeforge.datasets.runner import generate_dataset

    kv = _split_kv(args.overrides)
    opts = {k: kv.pop(k) for k in list(kv) if k in RUN_OPTIONS}
    workers = args.workers if args.workers is not None else (int(opts["workers"]) if "workers" in opts else None)
    generate_dataset(
        args.name, kv,
        root=args.root or opts.get("root"),
        workers=workers,
        scheduler=args.scheduler or opts.get("scheduler"),
        force=args.force or _truthy(opts.get("force", "0")),
        progress=not args.no_progress and _truthy(opts.get("progress", "1")),
    )
    return 0


def cmd_info(args) -> int:
    import json

    from pdeforge.datasets import store

    target = Path(args.target)
    if target.suffix == ".nc":
        import xarray as xr

        from pdeforge.datasets.schema import check_shard

        with xr.open_dataset(target, engine="h5netcdf") as ds:
            print(ds)
            problems = check_shard(target)
            print("format check:", "OK" if not problems else "; ".join(problems))
        return 0
    dirs = [target] if (target / store.MANIFEST).is_file() else store.find_config_dirs(store.resolve_root(args.root), args.target)
    if not dirs:
        from pdeforge.datasets.runner import effective_card

        card, family = effective_card(args.target)
        print(f"{card.name}: not generated under {store.resolve_root(args.root)}; card:")
        print(json.dumps(card.data, indent=1))
        return 0
    for cdir in dirs:
        m = store.read_manifest(cdir)
        print(f"{m['dataset']}/{m['config']}  ({cdir})")
        print(f"  card sha256 {m['card_sha256'][:16]}…  content key {m['content_key'][:16]}…  complete: {m.get('complete')}")
        for split, info in m["splits"].items():
            size = sum(s["bytes"] for s in info["shards"])
            have = sum(s["stop"] - s["start"] for s in info["shards"])
            print(f"  {split:<5} {have}/{info['n_samples']} samples in {len(info['shards'])} shards, {size / 2**20:.1f} MiB")
        print(f"  packages: {', '.join(f'{k} {v}' for k, v in m['packages'].items())}")
        if m["splits"] and any(i["shards"] for i in m["splits"].values()):
            first = next(i["shards"][0] for i in m["splits"].values() if i["shards"])
            import xarray as xr

            with xr.open_dataset(cdir / first["file"], engine="h5netcdf") as ds:
                for name, var in ds.data_vars.items():
                    print(f"  {name:<14} {str(var.dims):<32} {var.dtype}  {var.attrs.get('role')}: {var.attrs.get('long_name')}")
    return 0


def cmd_verify(args) -> int:
    from pdeforge.datasets.verify import verify

    problems = verify(args.target, root=args.root, regenerate=args.regenerate, seed=args.seed)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


def cmd_check(args) -> int:
    from pdeforge.datasets.schema import check_shard

    files = []
    for t in args.paths:
        p = Path(t)
        files.extend(sorted(p.rglob("*.nc")) if p.is_dir() else [p])
    bad = 0
    for f in files:
        problems = check_shard(f)
        bad += bool(problems)
        print(f"{f}: OK" if not problems else "\n".join(problems))
    print(f"{len(files) - bad} of {len(files)} shards valid")
    return 1 if bad or not files else 0


def cmd_plot(args) -> int:
    from pdeforge.datasets import store
    from pdeforge.datasets.plot import plot_samples
    from pdeforge.datasets.store import open_split

    kv = _split_kv(args.options)
    root = store.resolve_root(args.root or kv.pop("root", None))
    config = kv.pop("config", None)
    if config is None:
        dirs = store.find_config_dirs(root, args.name)
        if not dirs:
            raise PdeforgeError(f"nothing generated for {args.name!r} under {root}")
        config = dirs[0].name
    split = kv.pop("split", "train")
    n = int(kv.pop("n", 3))
    ds = open_split(args.name, config=config, split=split, root=root)
    out = Path(args.out) if args.out else root / args.name / "plots" / f"{config}_{split}.png"
    plot_samples(ds, out, n=n, title=f"{args.name} {config} {split}")
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
    s.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    s.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    s.add_argument("--force", action="store_true", help="regenerate even if present")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(fn=cmd_generate)

    s = sub.add_parser("info", help="schema, attributes and manifest summary")
    s.add_argument("target", metavar="PATH|NAME")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("verify", help="recompute checksums; --regenerate N re-derives N samples")
    s.add_argument("target", metavar="NAME|PATH")
    s.add_argument("--regenerate", type=int, default=0, metavar="N")
    s.add_argument("--seed", type=int, default=None, help="seed for choosing the samples")
    s.set_defaults(fn=cmd_verify)

    s = sub.add_parser("check", help="validate shard files against the format spec")
    s.add_argument("paths", nargs="+")
    s.set_defaults(fn=cmd_check)

    s = sub.add_parser("plot", help="PNG of a few samples")
    s.add_argument("name")
    s.add_argument("options", nargs="*", metavar="key=value", help="config=, split=, n=")
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
    # allow --root after the subcommand too
    args, rest = parser.parse_known_args(argv)
    if rest:
        extra = argparse.ArgumentParser(add_help=False)
        extra.add_argument("--root")
        more, unknown = extra.parse_known_args(rest)
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
