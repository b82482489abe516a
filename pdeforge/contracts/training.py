"""The ``[training]`` table of a leaderboard submission: the run's ``TrainConfig`` as TOML.

A submission trained with pdeforge's trainer may carry the run's configuration, so that
``pdeforge reproduce ENTRY --retrain`` can train it again.  The table holds every
``TrainConfig`` field except :data:`TRAINING_EXCLUDED` (where a run happens is not part of
what it is).  :func:`training_toml` writes it (the trainer's submission draft and
``scripts/baseline_sweep.py`` use it); the board validates it against ``TrainConfig``
(:func:`pdeforge.leaderboard.submit.validate_training`).  This module imports neither the
trainer nor the board.
"""

from __future__ import annotations

import re

__all__ = ["TRAINING_EXCLUDED", "ONLINE_EXCLUDED", "toml_value", "training_toml"]

#: TrainConfig fields that describe where a run happens, not what it is: never recorded
TRAINING_EXCLUDED = ("out_dir", "root", "progress")
#: online settings that describe where a run happens: never recorded (a retrain uses local workers)
ONLINE_EXCLUDED = ("scheduler",)


def toml_value(v) -> str:
    """A Python value (bool, int, float, str, list, dict) as a TOML value."""
    import json
    import math

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        items = [f"{k if re.match(r'^[A-Za-z0-9_-]+$', str(k)) else json.dumps(str(k))} = "
                 f"{toml_value(x)}" for k, x in v.items() if x is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as TOML")


def training_toml(cfg) -> str:
    """The ``[training]`` table of a TrainConfig (or its dict) as TOML text.

    Every field but ``TRAINING_EXCLUDED`` is written; fields that are ``None`` are left out
    (TOML has no null; they default to ``None`` again): an offline run has no ``online`` key,
    an online run an inline ``online = { ... }`` table of its settings (seed-stream start,
    buffer, schedule, ...; without ``ONLINE_EXCLUDED``).  Append it to a metadata file after
    all top-level keys.
    """
    import dataclasses

    d = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    if isinstance(d.get("online"), dict):  # a Dask address is where the run happened
        d["online"] = {k: v for k, v in d["online"].items() if k not in ONLINE_EXCLUDED}
    lines = ["[training]"]
    for key, value in d.items():
        if key in TRAINING_EXCLUDED or value is None:
            continue
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"
