"""Submissions: metadata TOML + predictions file -> a scored leaderboard entry.

Submitters never type numbers: :func:`submit` validates the metadata and the predictions,
scores them with :func:`pdeforge.leaderboard.score.score_predictions` and stores the entry
(layout in :mod:`pdeforge.leaderboard.entries`).

Metadata TOML (keys at top level plus an optional ``[training]`` table; unknown keys are
refused)::

    model = "FNO-64"                     # required, non-empty; must equal the predictions'
                                         #   'model' attribute
    authors = ["A. Author", "B. Author"] # required, non-empty list of non-empty strings
    paper = "https://arxiv.org/abs/..."  # optional http(s) URL
    code = "https://github.com/..."      # optional http(s) URL
    parameters = 1188353                 # required integer >= 0 (trainable parameters)
    train_time_hours = 1.5               # required number >= 0 (wall-clock training time)
    hardware = "1x NVIDIA A100 40GB"     # required, non-empty
    train_split = "train"                # required: split(s) trained on, "train" or
                                         #   "train+val"; never "test"
    date = 2025-01-31                    # required: TOML date or "YYYY-MM-DD"
    notes = "..."                        # optional free text

    # Optional, for models trained with pdeforge's trainer: the run's TrainConfig, so that
    # `pdeforge reproduce ENTRY --retrain` can train the model again and compare. Keys are
    # TrainConfig fields (all but root, out_dir, progress); omitted ones take TrainConfig's
    # defaults and are stored filled in. dataset and config must be the entry's. It is a
    # TOML table, so it goes after all the keys above. Uncomment and fill in:
    # [training]
    # dataset = "condiff"
    # config = "cubic1.0_grid64"
    # model = "fno"
    # preset = "default"
    # model_config = { width = 64, modes = 16 }
    # epochs = 500
    # batch_size = 32
    # lr = 0.001
    # weight_decay = 0.0001
    # schedule = "cosine"
    # loss = "rel_l2"
    # seed = 0
    # device = "auto"

The ``[training]`` table is checked against :class:`pdeforge.baselines.train.TrainConfig`
(unknown keys, types, names and ranges; ``resolution`` must be absent because such a run
writes no predictions at the stored grid) and stored complete, defaults filled in, as
``meta.json``'s ``submission.training``.

Limits (refused beyond them, so that nobody can put megabytes of text onto the page):
``model`` 100 characters, ``hardware`` 200, each author 200 and at most 100 authors, ``paper``
and ``code`` 500, ``notes`` 2000.  Placeholder authors (``""``, "FILL IN", "TODO", "TBD",
"anonymous", "unknown", "n/a", "your name", the template's "A. Author" …, see
:data:`PLACEHOLDER_AUTHORS`) are refused: an entry needs people who answer for it.  A
``date`` more than one day after today (UTC; one day of slack for time zones) is refused.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

from pdeforge.contracts.errors import SubmissionError
from pdeforge.contracts.training import TRAINING_EXCLUDED
from pdeforge.datasets import store
from pdeforge.leaderboard.entries import (
    ENTRY_FORMAT,
    META,
    PREDICTIONS,
    SCORES,
    entries_dir,
    read_entry,
)
from pdeforge.leaderboard.errors import BoardError, MetadataError

__all__ = ["META_FIELDS", "COPY_LIMIT_BYTES", "TEMPLATE", "TEXT_LIMITS", "MAX_AUTHORS",
           "PLACEHOLDER_AUTHORS", "read_metadata", "validate_metadata", "validate_training",
           "training_fields", "slugify", "submit"]

#: predictions files smaller than this are copied into the entry, larger ones referenced
COPY_LIMIT_BYTES = 2_000_000

#: a metadata file to start from (the same as ``leaderboard/submission-template.toml``)
TEMPLATE = "\n".join(
    line[4:] for line in __doc__.split("::\n\n", 1)[1].split("\n\nThe ``[training]``", 1)[0]
    .splitlines()) + "\n"

#: key -> (required, description)
META_FIELDS: dict[str, tuple[bool, str]] = {
    "model": (True, "a non-empty string"),
    "authors": (True, "a non-empty list of non-empty strings"),
    "paper": (False, "an http(s) URL"),
    "code": (False, "an http(s) URL"),
    "parameters": (True, "an integer >= 0"),
    "train_time_hours": (True, "a number >= 0"),
    "hardware": (True, "a non-empty string"),
    "train_split": (True, "split name(s) joined by '+', e.g. 'train' or 'train+val'"),
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
_TRAINING_NULLABLE = ("amp", "resolution", "n_train", "eval_batch_size", "label")
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
                    wrong = [p for p in parts if p not in splits]
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
    configuration keys), and, when given, that ``dataset``/``config`` are the entry's.
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


def slugify(name: str) -> str:
    """Directory-safe name: lowercase ``[a-z0-9._-]``, other runs replaced by ``-``.

    A name of plain ASCII letters, digits and ``._-`` (plus spaces/punctuation replaced by
    ``-``) keeps its readable slug (``"FNO-64"`` -> ``"fno-64"``).  A name with non-ASCII
    characters is transliterated where Unicode allows (``"Café"`` -> ``"cafe"``) and gets the
    first 8 hex digits of the sha256 of the name appended, so ``"Модель"`` and ``"模型"`` do not
    both become ``"model"``; a name with nothing left becomes ``"model-<hash>"``.  Slugs of
    different names can still coincide (``"FNO 64"`` and ``"fno-64"``): :func:`submit`
    refuses to store one model under another model's entry, even with ``overwrite``.
    """
    import hashlib
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_name.lower()).strip("-._")[:55].strip("-._")
    if slug and name.isascii():
        return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:64].strip("-._")
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{slug or 'model'}-{digest}"


def _test_set_words(ts: dict) -> str:
    return f"{ts['n_samples']} test samples (indices sha256 {ts['indices_sha256'][:12]}…)"


def submit(pred_path, meta_path, dataset: str, board_dir="leaderboard", root=None, *,
           slug: str | None = None, overwrite: bool = False,
           copy_limit: int = COPY_LIMIT_BYTES, allow_exact: bool = False) -> Path:
    """Validate, score and store a submission; returns the entry directory.

    The entry goes to ``<board_dir>/entries/<dataset>/<config>/<slug>/`` (``slug`` defaults
    to :func:`slugify` of the model name).  An existing entry of the same slug, or another
    entry of the same model name for the same config, is refused unless ``overwrite``;
    an entry of *another* model is never replaced.  Refused as well: scores that are not
    finite (:func:`~pdeforge.leaderboard.score.check_finite`), an entry whose mean
    ``rel_l2`` is at round-off (below :data:`~pdeforge.leaderboard.score.ROUND_OFF_REL_L2`:
    the stored truth, not a model) unless ``allow_exact`` (it is then flagged on the board),
    and a test set other than the one the board's entries for this dataset/config were
    scored on (:func:`~pdeforge.leaderboard.score.test_set_of`, recorded as ``test_set``).
    The entry is assembled in a temporary directory and renamed into place; nothing is
    stored when any check fails.
    """
    import pdeforge
    from pdeforge.atomic import copy_file, replace_directory, write_json
    from pdeforge.contracts.predictions import load_predictions
    from pdeforge.errors import StoreError
    from pdeforge.leaderboard.score import (
        ROUND_OFF_REL_L2,
        check_finite,
        round_off_level,
        save_scores,
        score_predictions,
        test_set_of,
    )

    pred_path, meta_path = Path(pred_path), Path(meta_path)
    raw = read_metadata(meta_path)
    if not _NAME_RE.match(dataset or ""):
        raise SubmissionError(pred_path, f"invalid dataset name {dataset!r}")
    # metadata problems are reported before the (slower) predictions checks where possible
    validate_metadata(raw, label=meta_path, dataset=dataset)
    pred, ref = load_predictions(pred_path, dataset, root)
    meta = validate_metadata(raw, splits=list(ref.manifest["splits"]), label=meta_path,
                             dataset=dataset, config=ref.config)
    if meta["model"] != pred.attrs["model"]:
        raise MetadataError(meta_path, f"model {meta['model']!r} differs from the predictions "
                            f"file's model attribute {pred.attrs['model']!r}")
    slug = slugify(meta["model"]) if slug is None else slug
    if not _NAME_RE.match(slug):
        raise SubmissionError(pred_path, f"invalid slug {slug!r} (letters, digits, '.', '_', '-')")

    parent = entries_dir(board_dir) / dataset / ref.config
    final = parent / slug
    test_set = test_set_of(ref.truth)
    if final.exists():
        holder = read_entry(final).model if (final / META).is_file() else None
        if holder is not None and holder != meta["model"]:
            raise BoardError(f"{final} holds model {holder!r}, not {meta['model']!r} (their "
                             "names give the same slug); choose another slug (--slug)")
        if not overwrite:
            raise BoardError(f"{final} exists already; pass --force (overwrite=True) to "
                             "replace it")
    others = []
    if parent.is_dir():
        for other in sorted(parent.iterdir()):
            if other.name == slug or not (other / META).is_file():
                continue
            e = read_entry(other)
            if e.model == meta["model"] and not overwrite:
                raise BoardError(f"{other} already holds model {meta['model']!r} for "
                                 f"{dataset}/{ref.config}; pass --force or choose another name")
            others.append(e)
    foreign = [e for e in others if e.test_set["indices_sha256"] != test_set["indices_sha256"]]
    if foreign:
        theirs = foreign[0].test_set
        raise BoardError(
            f"{pred_path}: scored on another test set than the board's: these predictions "
            f"cover {_test_set_words(test_set)}, the {len(foreign)} entr"
            f"{'y' if len(foreign) == 1 else 'ies'} for {dataset}/{ref.config} under {parent} "
            f"(e.g. {foreign[0].slug}) were scored on {_test_set_words(theirs)}; entries are "
            "only comparable on the same test set: generate the card's test split "
            "(default n_test) and predict on it, or submit to another board")

    sha = store.file_sha256(pred_path)
    scores = score_predictions(pred, ref, predictions_sha256=sha)
    check_finite(scores, label=pred_path)
    exact = round_off_level(scores)
    if exact is not None and not allow_exact:
        raise SubmissionError(
            pred_path, f"mean rel_l2 {exact:.3g} is at round-off (below {ROUND_OFF_REL_L2:g}): "
            "the predictions are the stored truth (or the generating solver re-run), not a "
            "model's; refused. Pass --allow-exact (allow_exact=True) to store it anyway, "
            "flagged 'at round-off' on the board (e.g. a solver baseline)")
    size = pred_path.stat().st_size
    tmp = parent / f".{slug}.{os.getpid()}.tmp"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise StoreError(f"cannot write to the board folder {parent}: "
                         f"{exc.strerror or exc}") from None
    try:
        save_scores(scores, tmp / SCORES)
        copied = size < copy_limit
        if copied:
            copy_file(pred_path, tmp / PREDICTIONS)
        record = {
            "format": ENTRY_FORMAT,
            "slug": slug,
            "dataset": dataset,
            "config": ref.config,
            "split": "test",
            "content_key": ref.content_key,
            "test_set": test_set,
            "submission": meta,
            "predictions": {"sha256": sha, "bytes": size, "name": pred_path.name,
                            "file": PREDICTIONS if copied else None},
            "scores": {"file": SCORES, "sha256": store.file_sha256(tmp / SCORES),
                       "metrics": list(scores.data_vars)},
            "pdeforge_version": pdeforge.__version__,
            "scored_at": store.now(),
        }
        if exact is not None:
            record["round_off"] = {"rel_l2_mean": exact, "threshold": ROUND_OFF_REL_L2}
        write_json(tmp / META, record)
        replace_directory(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
