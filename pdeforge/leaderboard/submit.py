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

import os
import re
import shutil
from pathlib import Path

from pdeforge.contracts.errors import SubmissionError
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
from pdeforge.leaderboard.metadata import (  # noqa: F401 - part of submit's API
    META_FIELDS, TEXT_LIMITS, MAX_AUTHORS, PLACEHOLDER_AUTHORS, read_metadata, validate_metadata, validate_training, training_fields, _NAME_RE,
)

__all__ = ["META_FIELDS", "COPY_LIMIT_BYTES", "TEMPLATE", "TEXT_LIMITS", "MAX_AUTHORS",
           "PLACEHOLDER_AUTHORS", "read_metadata", "validate_metadata", "validate_training",
           "training_fields", "slugify", "submit"]

#: predictions files smaller than this are copied into the entry, larger ones referenced
COPY_LIMIT_BYTES = 2_000_000

#: a metadata file to start from (the same as ``leaderboard/submission-template.toml``)
TEMPLATE = "\n".join(
    line[4:] for line in __doc__.split("::\n\n", 1)[1].split("\n\nThe ``[training]``", 1)[0]
    .splitlines()) + "\n"

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
