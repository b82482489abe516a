"""Submission metadata: the fields a board entry's ``meta.toml`` / ``meta.json`` holds, their
limits, and the one validator used at submit, when rendering and when reproducing an entry
(so a hand-edited ``meta.json`` is refused everywhere the same way).
"""

from __future__ import annotations

import datetime as _dt
import re
import tomllib
from pathlib import Path
from typing import Any

from pdeforge.contracts.training import TRAINING_EXCLUDED
from pdeforge.leaderboard.errors import MetadataError

#: key -> (required, description)
META_FIELDS: dict[str, tuple[bool, str]] = {
    "model": (True, "a non-empty string"),
    "authors": (True, "a non-empty list of non-empty strings"),
    "paper": (False, "an http(s) URL"),
    "code": (False, "an http(s) URL"),
    "parameters": (True, "an integer >= 0"),
    "train_time_hours": (True, "a number >= 0"),
    "hardware": (True, "a non-empty string"),
    "train_split": (True, "split name(s) joined by '+', e.g. 'train' or 'train+val' ('online': "
                          "the streamed seed stream of an online run)"),
    "date": (True, "a date YYYY-MM-DD"),
    "notes": (False, "a string"),
    "training": (False, "a table of TrainConfig fields (the run's training configuration)"),
}

#: longest accepted value of each free-text field, in characters (each author for "authors")
TEXT_LIMITS = {"model": 100, "hardware": 200, "authors": 200, "paper": 500, "code": 500,
               "notes": 2000}
MAX_AUTHORS = 100
#: author names that are placeholders, compared after lower-casing and dropping everything
#: but letters, digits and spaces ("<Your Name>" -> "your name")
PLACEHOLDER_AUTHORS = frozenset({
    "", "fill in", "fillin", "fill me in", "todo", "tbd", "tba", "xxx", "anonymous", "anon",
    "unknown", "n a", "na", "none", "nobody", "name", "your name", "author", "authors",
    "a author", "b author", "first author", "john doe", "jane doe", "someone", "me",
})

#: [training] keys that must be given (the rest default to TrainConfig's values)
_TRAINING_REQUIRED = ("dataset", "config")
#: [training] keys whose TrainConfig default is None (stored as null in meta.json)
_TRAINING_NULLABLE = ("amp", "resolution", "n_train", "eval_batch_size", "label", "online")
#: the pseudo split of an online run's training samples (the reserved seed stream; never stored)
ONLINE_SPLIT = "online"
#: expected TOML value types of the [training] keys (None allowed where the default is None)
_TRAINING_TYPES: dict[str, tuple[str, Any]] = {
    "dataset": ("a string", str), "config": ("a string", str), "model": ("a string", str),
    "preset": ("a string", str), "model_config": ("a table", dict),
    "epochs": ("an integer", int), "batch_size": ("an integer", int),
    "lr": ("a number", (int, float)), "weight_decay": ("a number", (int, float)),
    "schedule": ("a string", str), "loss": ("a string", str), "seed": ("an integer", int),
    "device": ("a string", str), "amp": ("a boolean", bool), "num_workers": ("an integer", int),
    "resolution": ("an integer", int), "n_train": ("an integer", int),
    "eval_batch_size": ("an integer", int), "label": ("a string", str),
    "online": ("a table", dict),
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def read_metadata(path) -> dict[str, Any]:
    """Parse the metadata TOML (syntax only)."""
    path = Path(path)
    if not path.is_file():
        raise MetadataError(path, "no such metadata file")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(path, f"not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(path, f"cannot be read: {exc}") from None


def _nonempty_str(v) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _url(v) -> bool:
    return isinstance(v, str) and re.match(r"^https?://[^\s]+$", v) is not None


def _placeholder(name: str) -> bool:
    key = " ".join(re.sub(r"[^0-9a-z ]+", " ", name.lower()).split())
    return key in PLACEHOLDER_AUTHORS


def validate_metadata(meta: dict[str, Any], *, splits=None, label="metadata",
                      dataset: str | None = None, config: str | None = None,
                      today: _dt.date | None = None, today_is: str = "today") -> dict[str, Any]:
    """Check types and values; return the normalised metadata (date as ISO string).

    ``splits`` (the dataset's split names) enables the check of ``train_split``;
    ``dataset`` and ``config`` (the entry's) the check of the ``[training]`` table's names
    (:func:`validate_training`).  ``today`` (default: today in UTC) is the latest accepted
    ``date`` (plus one day for time zones); when re-validating a stored entry it is the day
    it was scored (``today_is`` words the message).  Free-text fields are limited to
    :data:`TEXT_LIMITS` characters.  All problems are reported at once in one
    :class:`MetadataError`.
    """
    problems = []
    unknown = sorted(k for k in meta if k not in META_FIELDS)
    if unknown:
        problems.append(f"unknown key(s) {', '.join(map(repr, unknown))} "
                        f"(known keys: {', '.join(META_FIELDS)})")
    for key, (required, _) in META_FIELDS.items():
        if required and key not in meta:
            problems.append(f"missing field {key!r} ({META_FIELDS[key][1]})")
    out: dict[str, Any] = {}

    def bad(key, value):
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:60] + f"… ({len(shown)} characters)"
        problems.append(f"{key!r} must be {META_FIELDS[key][1]}, got {shown}")

    def too_long(key, text) -> bool:
        limit = TEXT_LIMITS[key]
        if len(text) > limit:
            what = "an author name" if key == "authors" else repr(key)
            problems.append(f"{what} is {len(text)} characters long; at most {limit} are "
                            "accepted")
            return True
        return False

    if today is None:
        today = _dt.datetime.now(_dt.timezone.utc).date()
    for key in META_FIELDS:
        if key not in meta:
            continue
        v = meta[key]
        if key in TEXT_LIMITS and key != "authors" and isinstance(v, str) and too_long(key, v):
            continue
        if key in ("model", "hardware"):
            ok = _nonempty_str(v)
        elif key == "authors":
            ok = isinstance(v, list) and bool(v) and all(isinstance(a, str) for a in v)
            if ok:
                if len(v) > MAX_AUTHORS:
                    problems.append(f"'authors' lists {len(v)} names; at most {MAX_AUTHORS} "
                                    "authors are accepted")
                    continue
                if any(too_long(key, a) for a in v):
                    continue
                fake = [a for a in v if _placeholder(a)]
                if fake:
                    problems.append(f"'authors' holds placeholder name(s) "
                                    f"{', '.join(map(repr, fake))}: give the real names of the "
                                    "people who answer for the entry")
                    continue
        elif key in ("paper", "code"):
            ok = _url(v)
        elif key == "parameters":
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0
        elif key == "train_time_hours":
            ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                  and v == v and v != float("inf"))
        elif key == "notes":
            ok = isinstance(v, str)
        elif key == "date":
            if isinstance(v, _dt.datetime):
                v = v.date()
            if isinstance(v, str):
                try:
                    v = _dt.date.fromisoformat(v)
                except ValueError:
                    pass
            ok = isinstance(v, _dt.date)
            if ok and v > today + _dt.timedelta(days=1):
                when = "in the future" if today_is == "today" else f"after {today_is}"
                problems.append(f"'date' {v.isoformat()} is {when} ({today.isoformat()})")
                continue
            if ok:
                v = v.isoformat()
        elif key == "training":
            ok = isinstance(v, dict)
            if ok:
                v = validate_training(v, problems, dataset=dataset, config=config)
        elif key == "train_split":
            ok = _nonempty_str(v)
            if ok:
                parts = [p.strip() for p in v.split("+")]
                if "test" in parts:
                    problems.append("'train_split' includes 'test': models must not be trained "
                                    "on the test split")
                elif splits is not None:
                    wrong = [p for p in parts if p not in splits and p != ONLINE_SPLIT]
                    if wrong:
                        problems.append(f"'train_split' names unknown split(s) "
                                        f"{', '.join(map(repr, wrong))} (splits: "
                                        f"{', '.join(s for s in splits if s != 'test')})")
                v = "+".join(parts)
        else:  # pragma: no cover - every key is handled above
            ok = True
        if not ok:
            bad(key, meta[key])
        else:
            out[key] = v
    training = out.get("training")
    if isinstance(training, dict) and isinstance(out.get("train_split"), str):
        says_online = ONLINE_SPLIT in out["train_split"].split("+")
        if says_online != (training.get("online") is not None):
            problems.append(f"'train_split' {out['train_split']!r} and the [training] table disagree: "
                            f"an online run (training.online set) trains on the {ONLINE_SPLIT!r} "
                            "stream, an offline run does not")
    if problems:
        raise MetadataError(label, f"{len(problems)} problem(s): " + "; ".join(problems))
    for key in ("paper", "code", "notes"):
        out.setdefault(key, "")
    return out


def training_fields() -> list[str]:
    """The keys a ``[training]`` table may hold: TrainConfig's fields but ``TRAINING_EXCLUDED``."""
    import dataclasses

    from pdeforge.baselines.train import TrainConfig

    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in TRAINING_EXCLUDED]


def _type_ok(value, expected) -> bool:
    if isinstance(value, bool) and expected is not bool:
        return False  # true/false is not a number
    if isinstance(value, float) and not (value == value and abs(value) != float("inf")):
        return False
    return isinstance(value, expected)


def validate_training(table: dict[str, Any], problems: list[str] | None = None, *,
                      dataset: str | None = None, config: str | None = None) -> dict[str, Any]:
    """Check a ``[training]`` table; return it complete (every field, defaults filled in).

    Problems are appended to ``problems`` when given (the caller reports them), otherwise
    raised as one :class:`MetadataError`.  Checks: unknown keys (the message lists the valid
    ones), missing ``dataset``/``config``, value types, ``resolution`` absent, then
    :meth:`TrainConfig.validate` (model, preset, schedule, loss, device names, ranges, model
    configuration keys, the ``online`` settings of an online run; its ``scheduler`` must be
    absent), and, when given, that ``dataset``/``config`` are the entry's.
    """
    import dataclasses

    from pdeforge.baselines.train import TrainConfig
    from pdeforge.errors import PdeforgeError

    own = problems is None
    problems = [] if own else problems
    before = len(problems)
    out = dict(table)
    valid = training_fields()
    unknown = sorted(k for k in table if k not in valid)
    if unknown:
        excluded = [k for k in unknown if k in TRAINING_EXCLUDED]
        note = (f"; where a run happens ({', '.join(map(repr, excluded))}) is not recorded"
                if excluded else "")
        problems.append(f"[training] has unknown key(s) {', '.join(map(repr, unknown))} "
                        f"(valid keys: {', '.join(valid)}){note}")
    for key in _TRAINING_REQUIRED:
        if table.get(key) is None:
            problems.append(f"[training] lacks {key!r} (the dataset/config the model was "
                            "trained on)")
    for key, value in table.items():
        if value is None and key in _TRAINING_NULLABLE:
            continue  # (JSON null in a stored meta.json; TOML has no null)
        if key in _TRAINING_TYPES:
            what, expected = _TRAINING_TYPES[key]
            if not _type_ok(value, expected):
                problems.append(f"[training] {key!r} must be {what}, got {value!r}")
    if table.get("resolution") is not None:
        problems.append("[training] 'resolution' must be left out: a run at another "
                        "resolution writes no predictions at the stored grid, which is what "
                        "the board scores")
    online = table.get("online")
    if isinstance(online, dict) and online.get("scheduler") is not None:
        problems.append("[training] online 'scheduler' must be left out: where a run happens is "
                        "not recorded (a retrain streams from local worker processes)")
    if len(problems) == before:
        try:
            cfg = TrainConfig(**table).validate()
        except PdeforgeError as exc:
            problems.append(f"[training]: {exc}")
        else:
            for key, want in (("dataset", dataset), ("config", config)):
                if want is not None and getattr(cfg, key) != want:
                    problems.append(f"[training] {key} {getattr(cfg, key)!r} differs from the "
                                    f"entry's {key} {want!r}")
            out = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in TRAINING_EXCLUDED}
    if own and problems:
        raise MetadataError("metadata", f"{len(problems)} problem(s): " + "; ".join(problems))
    return out
