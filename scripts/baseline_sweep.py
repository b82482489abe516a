"""Train the baseline models on ConDiff configs and submit them to the leaderboard.

    python scripts/baseline_sweep.py --configs poisson_grid64,cubic0.1_grid64 \\
        --models fno,unet,dilresnet,deeponet,ffn --epochs 30 --preset default

Each run goes through the same path as any submission: ``pdeforge.baselines.train.train``
writes the predictions file (model chosen on val; test read once), and
``pdeforge.leaderboard.submit.submit`` validates and scores it. Runs already submitted are
skipped, so the sweep can be interrupted and resumed.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
    p.add_argument("--root", default=None)
    p.add_argument("--runs", default="runs")
    p.add_argument("--board", default="leaderboard")
    p.add_argument("--authors", default="pdeforge baselines")
    p.add_argument("--notes", default="")
    args = p.parse_args(argv)

    from pdeforge.baselines.train import TrainConfig, train
    from pdeforge.leaderboard.submit import submit

    for config in args.configs.split(","):
        for model in args.models.split(","):
            label = f"{model}-{args.preset}-e{args.epochs}"
            entry = Path(args.board) / "entries" / args.dataset / config / label.lower()
            if entry.exists():
                print(f"skip {config} {label}: already on the board")
                continue
            out = Path(args.runs) / args.dataset / config / label
            cfg = TrainConfig(dataset=args.dataset, config=config, model=model, preset=args.preset,
                              epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                              seed=args.seed, root=args.root, out_dir=str(out), label=label)
            result = train(cfg)
            run = result.run
            meta = out / "meta.toml"
            meta.write_text("\n".join([
                f'model = "{label}"',
                f'authors = ["{args.authors}"]',
                'code = "https://github.com/pdeforge/pdeforge"',
                f"parameters = {int(run['parameters'])}",
                f"train_time_hours = {run['train_time_hours']:.6f}",
                f'hardware = "{run["hardware"]}"',
                'train_split = "train"',
                f"date = {dt.date.today().isoformat()}",
                f'notes = "preset {args.preset}, {args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, '
                f'seed {args.seed}; best val epoch {run["best_epoch"]}. {args.notes}"',
            ]) + "\n")
            submit(result.predictions, meta, args.dataset, board_dir=args.board, root=args.root,
                   slug=label.lower())
            print(f"{config} {label}: val {run['best_val_rel_l2']:.4f} test {run['test_rel_l2']:.4f} "
                  f"({run['train_wall_seconds']:.0f} s, {run['parameters']} params)", flush=True)


if __name__ == "__main__":
    main()
