"""The ``pdeforge train`` subcommand.

    pdeforge train NAME config=C model=M [key=value ...]

``NAME`` is the dataset (e.g. ``condiff``); the keys are the fields of
:class:`pdeforge.baselines.train.TrainConfig`:

    config= model= preset=default|full epochs= batch_size= lr= weight_decay=
    schedule=cosine|onecycle loss=rel_l2|mse seed= device=auto|cpu|cuda amp=auto|true|false
    num_workers= root= out= (or out_dir=) resolution= n_train= eval_batch_size= label=
    progress=true|false
    online=1 [buffer=512 buffer_min= warmup=0 workers=1 fresh_per_step= chunk=1 online_start=0
              max_restarts=2 window= scheduler=tcp://HOST:PORT]    (or --scheduler tcp://HOST:PORT)

``online=1`` trains on samples the solvers stream into a bounded in-memory buffer (nothing is
stored; val and test are the stored splits): see :mod:`pdeforge.baselines.online` for the
buffer, the reserved seed stream, the schedules and what is deterministic. Data-parallel
training: ``torchrun --nproc-per-node N -m pdeforge train ...`` (:mod:`pdeforge.baselines.distributed`;
``batch_size`` is the global batch).

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
#: online-training keys (``online=1`` turns them on): CLI spelling -> TrainConfig.online key
ONLINE_CLI_KEYS = {"buffer": "buffer", "buffer_min": "buffer_min", "warmup": "warmup",
                   "workers": "workers", "scheduler": "scheduler", "fresh_per_step": "fresh_per_step",
                   "chunk": "chunk", "online_start": "start", "max_restarts": "max_restarts",
                   "window": "window"}
ONLINE_NULLABLE = ("buffer_min", "fresh_per_step", "window")


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


def _online_options(kv: dict[str, str], scheduler: str | None) -> dict[str, Any] | None:
    """Pop ``online=`` and the online keys from ``kv``: the online settings, or None (offline)."""
    from pdeforge.errors import InvalidValueError
    from pdeforge.options import parse_bool

    on = parse_bool("online", kv.pop("online")) if "online" in kv else False
    given = {k: kv.pop(k) for k in list(kv) if k in ONLINE_CLI_KEYS}
    if scheduler:
        if "scheduler" in given:
            raise InvalidValueError("--scheduler and scheduler= set the same address; give it once")
        given["scheduler"] = scheduler
    if not on:
        if given:
            raise InvalidValueError(f"{', '.join(k + '=' for k in given)} "
                                    f"{'is an online setting' if len(given) == 1 else 'are online settings'}; "
                                    "add online=1 (or drop them)")
        return None
    out: dict[str, Any] = {}
    for key, text in given.items():
        if key == "scheduler":
            out["scheduler"] = text.strip() or None
        elif key in ONLINE_NULLABLE and text.strip().lower() in _NONE:
            out[ONLINE_CLI_KEYS[key]] = None
        else:
            try:
                out[ONLINE_CLI_KEYS[key]] = int(text)
            except ValueError:
                raise InvalidValueError(f"{key}={text!r}: expected an integer"
                                        f"{' or none' if key in ONLINE_NULLABLE else ''}") from None
    return out


def parse_train_options(name: str, items: list[str], root: str | None = None,
                        scheduler: str | None = None):
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

    values: dict[str, Any] = {"dataset": name}
    online = _online_options(kv, scheduler)

    fields = _fields()
    settable = {k for k in fields if k not in ("dataset", "model_config", "online")}
    model = kv.get("model", TrainConfig.model).lower()
    if model not in list_models():
        raise UnknownNameError("model", model, list_models())
    model_keys = list(get_model_class(model).config_keys())

    if root is not None:
        values["root"] = root
    overrides: dict[str, Any] = {}
    valid = (sorted(settable | set(ALIASES) | {"online"} | set(ONLINE_CLI_KEYS))
             + [f"model.{k}" for k in model_keys] + model_keys)
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
    cfg = TrainConfig(**values, online=online)
    try:
        return cfg.validate()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, PdeforgeError):
            raise
        raise InvalidValueError(str(exc)) from None


def cmd_train(args) -> int:
    from pdeforge.baselines.train import train

    cfg = parse_train_options(args.name, args.options, root=getattr(args, "root", None),
                              scheduler=getattr(args, "scheduler", None))
    result = train(cfg)
    run = result.run
    if not run:  # a DDP rank other than 0: rank 0 reports and writes the files
        return 0
    speed = f"{run['speedup']:.1f}x" if run["speedup"] else "n/a"
    print(f"{run['dataset']}/{run['config']}  {run['model_label']}  {run['parameters']:,} parameters  "
          f"on {run['hardware']}", file=sys.stdout)
    print(f"  best val rel-L2 {run['best_val_rel_l2']:.4g} (epoch {run['best_epoch']}/{run['epochs']}), "
          f"test rel-L2 {run['test_rel_l2']:.4g}")
    print(f"  training {run['train_wall_seconds']:.1f} s; inference "
          f"{run['inference_seconds_per_sample'] * 1e3:.3g} ms/sample; solver "
          f"{(run['solver_seconds_per_sample'] or 0) * 1e3:.3g} ms/sample; speed-up {speed}")
    if run.get("online"):
        o = run["online"]
        print(f"  online: {o['samples_generated']} fresh samples generated ({o['generated_per_second'] or 0:.1f}/s), "
              f"{o['samples_consumed']} drawn ({o['consumed_per_second'] or 0:.1f}/s), "
              f"{o['draws_per_sample'] or 0:.2f} draws per sample; "
              f"{o['bytes_not_on_disk'] / 2**20:.1f} MiB never touched disk")
    if run.get("distributed"):
        d = run["distributed"]
        print(f"  DDP: {d['world_size']} ranks ({d['backend']}), global batch {d['global_batch_size']}")
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
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="online=1: solve the streamed samples on this Dask cluster (same as scheduler=)")
    s.set_defaults(fn=cmd_train)
