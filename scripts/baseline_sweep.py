"""Train the baseline models on ConDiff configs and submit them to the leaderboard.

    python scripts/baseline_sweep.py --configs poisson_grid64,cubic0.1_grid64 \\
        --models fno,unet,dilresnet,deeponet,ffn --epochs 30 --preset default
    python scripts/baseline_sweep.py --dataset obstacle --configs all --models deepcfd:full,unet,fno

A model may carry its own preset (``NAME:PRESET``, e.g. ``deepcfd:full``: DeepCFD's own U-Net)
and epoch count (``NAME:PRESET:EPOCHS``); the others take ``--preset`` and ``--epochs``.

Each run goes through the same path as any submission: ``pdeforge.baselines.train.train``
writes the predictions file (model chosen on val; test read once), and
``pdeforge.leaderboard.submit.submit`` validates and scores it. The metadata carries a
``[training]`` table (the run's ``TrainConfig``, all fields but ``root``/``out_dir``/``progress``),
so every entry can be checked with ``pdeforge reproduce ENTRY --retrain``. Runs already
submitted are skipped, so the sweep can be interrupted and resumed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="condiff")
    p.add_argument("--configs", default="poisson_grid64,cubic0.1_grid64,cubic1.0_grid64,cubic2.0_grid64")
    p.add_argument("--models", default="fno,unet,resnet,dilresnet,deeponet,ffn")
    p.add_argument("--preset", default="default")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=None,
                   help="train on the first N training items only (rollout datasets: windows); label gets -nN")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--root", default=None)
    p.add_argument("--runs", default="runs")
    p.add_argument("--board", default="leaderboard")
    p.add_argument("--authors", default="pdeforge baselines")
    p.add_argument("--notes", default="")
    p.add_argument("--no-submit", action="store_true", help="train only; submit in a later call")
    args = p.parse_args(argv)

    from pdeforge.baselines.train import TrainConfig, train
    from pdeforge.contracts.training import training_toml
    from pdeforge.leaderboard.submit import submit

    for config in args.configs.split(","):
        for spec in args.models.split(","):
            model, preset, epochs = (spec.split(":") + [args.preset, str(args.epochs)][spec.count(":"):])[:3]
            epochs = int(epochs)
            label = f"{model}-{preset}-e{epochs}" + (f"-n{args.n_train}" if args.n_train else "")
            entry = Path(args.board) / "entries" / args.dataset / config / label.lower()
            if entry.exists():
                print(f"skip {config} {label}: already on the board")
                continue
            out = Path(args.runs) / args.dataset / config / label
            cfg = TrainConfig(dataset=args.dataset, config=config, model=model, preset=preset,
                              epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                              seed=args.seed, device=args.device, root=args.root, n_train=args.n_train,
                              out_dir=str(out), label=label)
            if (out / "run.json").is_file() and (out / "predictions.nc").is_file():
                run = json.loads((out / "run.json").read_text())
                predictions = out / "predictions.nc"
                print(f"reuse {out}")
            else:
                result = train(cfg)
                run, predictions = result.run, result.predictions
            if args.no_submit:
                print(f"{config} {label}: val {run['best_val_rel_l2']:.4f} test {run['test_rel_l2']:.4f} "
                      f"({run['train_wall_seconds']:.0f} s, {run['parameters']} params)", flush=True)
                continue
            meta = out / "meta.toml"
            speed = (f" Inference {1e3 * run['inference_seconds_per_sample']:.3g} ms/sample vs the solver's "
                     f"{run['solver_seconds_per_sample']:.3g} CPU-s/sample: speed-up {run['speedup']:.0f}x."
                     if run.get("speedup") else "")
            subset = f" on the first {args.n_train} training items" if args.n_train else ""
            notes = (f"preset {preset}, {epochs} epochs{subset}, batch {args.batch_size}, "
                     f"lr {args.lr}, seed {args.seed}; best val epoch {run['best_epoch']}.{speed} "
                     f"{args.notes}").strip()
            meta.write_text("\n".join([
                f"model = {json.dumps(label)}",  # a JSON string is a valid TOML basic string
                f"authors = [{json.dumps(args.authors)}]",
                f"parameters = {int(run['parameters'])}",
                f"train_time_hours = {run['train_time_hours']:.6f}",
                f"hardware = {json.dumps(run['hardware'])}",
                'train_split = "train"',
                f"date = {dt.date.today().isoformat()}",
                f"notes = {json.dumps(notes)}",
                "",
                "# the run's TrainConfig (as recorded in its run.json), for",
                "# `pdeforge reproduce ENTRY --retrain`",
            ]) + "\n" + training_toml(run["train_config"]))
            submit(predictions, meta, args.dataset, board_dir=args.board, root=args.root,
                   slug=label.lower())
            print(f"{config} {label}: val {run['best_val_rel_l2']:.4f} test {run['test_rel_l2']:.4f} "
                  f"({run['train_wall_seconds']:.0f} s, {run['parameters']} params)", flush=True)


if __name__ == "__main__":
    main()
