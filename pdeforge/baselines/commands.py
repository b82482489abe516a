"""The ``pdeforge train`` subcommand.

    pdeforge train NAME config=C model=M [key=value ...]

``NAME`` is the dataset (e.g. ``condiff``); the keys are the fields of
:class:`pdeforge.baselines.train.TrainConfig`:

    config= model= preset=default|full epochs= batch_size= lr= weight_decay=
    schedule=cosine|onecycle loss=rel_l2|mse seed= device=auto|cpu|cuda amp=auto|true|false
    num_workers= root= out= (or out_dir=) resolution= n_train= eval_batch_size= label=
    progress=true|false

Model configuration keys are given with a ``model.`` prefix, or bare when they are not
TrainConfig fields: ``model.width=32 modes=12 dilations="((1,2,1),)"`` (values are Python
literals where they parse as one, else strings). An unknown key is an error that lists the valid
ones; an unknown model lists the registered models. The run goes to ``out`` (default
``runs/<dataset>/<config>/<model>``): ``checkpoint.pt``, ``run.json``, ``predictions.nc`` and a
metadata draft ``submission.toml`` for ``pdeforge submit``.

Full-size recipes
-----------------
These recipes are **proposals of this project**, not settings taken from a paper (the ConDiff
paper's own training protocol is not reproduced here). For orientation only: the original FNO
Darcy-flow experiments trained 500 epochs with batch 20 and Adam at lr 1e-3, halved every 100
epochs.

ConDiff, grid 64 (every ``<covariance><variance>_grid64`` config and ``poisson_grid64``;
1000 train / 100 val / 200 test samples). Every model: ``preset=full``, 500 epochs, batch 32,
AdamW with lr 1e-3 and weight decay 1e-4, per-step cosine schedule, rel-L2 loss; seeds 0, 1, 2
(report mean and spread)::

    pdeforge train condiff config=cubic0.1_grid64 model=fno preset=full epochs=500 batch_size=32 lr=1e-3 seed=0

and the same with ``model=unet``, ``resnet``, ``dilresnet``, ``deeponet``, ``ffn``.

ConDiff, grid 128 (``*_grid128``): as for grid 64 but batch 16 (a 128² sample costs four times
the memory of a 64² one) and 300 epochs (proposal; the larger number of steps per epoch keeps the
step count comparable).

If a high-contrast config (variance 1.0 or 2.0) diverges or stalls, the suggested second try is
``schedule=onecycle`` with the same peak lr (proposal).
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import typing
from typing import Any

__all__ = ["add_commands", "parse_train_options", "cmd_train", "ALIASES"]

#: extra CLI spellings of TrainConfig fields
ALIASES = {"out": "out_dir"}
_NONE = ("none", "null", "")


def _fields() -> dict[str, Any]:
    from pdeforge.baselines.train import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig)}


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _convert(key: str, text: str, hint: Any) -> Any:
    from pdeforge.errors import InvalidValueError
    from pdeforge.options import parse_bool

    args = set(typing.get_args(hint))
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    low = text.strip().lower()
    if key == "amp":
        if low in ("auto", *_NONE):
            return None
        optional, base = False, bool
    if optional and low in _NONE:
        return None
    try:
        if base is bool:
            return parse_bool(key, text)
        if base is int:
            return int(text)
        if base is float:
            return float(text)
    except InvalidValueError:
        raise
    except ValueError:
        kind = {int: "an integer", float: "a number"}[base]
        raise InvalidValueError(f"{key}={text!r}: expected {kind}"
                                f"{' or none' if optional else ''}") from None
    return text


def parse_train_options(name: str, items: list[str], root: str | None = None):
    """``pdeforge train NAME key=value ...`` -> a validated :class:`TrainConfig`.

    The words are split by :func:`pdeforge.options.parse_key_values` (a word without ``=`` or a
    key given twice is an :class:`~pdeforge.errors.InvalidValueError`); booleans are read by
    :func:`pdeforge.options.parse_bool`. Unknown keys raise
    :class:`~pdeforge.errors.UnknownNameError` listing the valid keys (the TrainConfig fields,
    their aliases, and the chosen model's configuration keys); an unknown model raises it
    listing the registered models.
    """
    from pdeforge.baselines.registry import get_model_class, list_models
    from pdeforge.baselines.train import TrainConfig
    from pdeforge.errors import InvalidValueError, PdeforgeError, UnknownNameError
    from pdeforge.options import parse_key_values

    kv = parse_key_values(items)  # refuses words without '=', empty and repeated keys

    fields = _fields()
    settable = {k for k in fields if k not in ("dataset", "model_config")}
    model = kv.get("model", TrainConfig.model).lower()
    if model not in list_models():
        raise UnknownNameError("model", model, list_models())
    model_keys = list(get_model_class(model).config_keys())

    values: dict[str, Any] = {"dataset": name}
    if root is not None:
        values["root"] = root
    overrides: dict[str, Any] = {}
    valid = sorted(settable | set(ALIASES)) + [f"model.{k}" for k in model_keys] + model_keys
    given: dict[tuple[str, str], str] = {}  # (table, field) -> the word's key
    for key, text in kv.items():
        field = ALIASES.get(key, key)
        if field in settable:
            table, value = "train", _convert(key, text, fields[field])
        elif key.startswith("model.") and key[6:] in model_keys:
            table, field, value = "model", key[6:], _literal(text)
        elif key in model_keys:
            table, value = "model", _literal(text)
        else:
            raise UnknownNameError("parameter", key, valid)
        if (table, field) in given:  # two spellings of one key: out= and out_dir=, width= and model.width=
            raise InvalidValueError(f"{given[table, field]}= and {key}= set the same {field!r}; give it once")
        given[table, field] = key
        (values if table == "train" else overrides)[field] = value
    values["model"] = model
    values["model_config"] = overrides
    cfg = TrainConfig(**values)
    try:
        return cfg.validate()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, PdeforgeError):
            raise
        raise InvalidValueError(str(exc)) from None


def cmd_train(args) -> int:
    from pdeforge.baselines.train import train

    cfg = parse_train_options(args.name, args.options, root=getattr(args, "root", None))
    result = train(cfg)
    run = result.run
    speed = f"{run['speedup']:.1f}x" if run["speedup"] else "n/a"
    print(f"{run['dataset']}/{run['config']}  {run['model_label']}  {run['parameters']:,} parameters  "
          f"on {run['hardware']}", file=sys.stdout)
    print(f"  best val rel-L2 {run['best_val_rel_l2']:.4g} (epoch {run['best_epoch']}/{run['epochs']}), "
          f"test rel-L2 {run['test_rel_l2']:.4g}")
    print(f"  training {run['train_wall_seconds']:.1f} s; inference "
          f"{run['inference_seconds_per_sample'] * 1e3:.3g} ms/sample; solver "
          f"{(run['solver_seconds_per_sample'] or 0) * 1e3:.3g} ms/sample; speed-up {speed}")
    print(f"  wrote {result.out_dir}/ (checkpoint.pt, run.json"
          f"{', predictions.nc' if result.predictions else ''}, submission.toml)")
    return 0


def add_commands(subparsers) -> None:
    """Register ``pdeforge train`` (called by :mod:`pdeforge.cli` via ``EXTRA_COMMANDS``)."""
    import argparse

    s = subparsers.add_parser(
        "train", help="train a baseline model; val selects, test is predicted once",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("name", metavar="NAME", help="dataset name, e.g. condiff")
    s.add_argument("options", nargs="*", metavar="key=value",
                   help="config=, model=, preset=, epochs=, batch_size=, lr=, seed=, out=, ... "
                        "and model keys (model.width=32)")
    s.set_defaults(fn=cmd_train)
