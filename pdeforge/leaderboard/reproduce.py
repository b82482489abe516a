"""Re-score a stored leaderboard entry and compare with its stored scores, bit for bit.

:func:`reproduce` checks, in order: the predictions file is the one that was scored (its
sha256 equals ``meta.json``'s), the dataset under the data root is the version the entry was
scored on (same ``content_key``), the stored ``scores.nc`` still has the sha256 recorded at
submission, and re-scoring the predictions gives *exactly* the stored values (every metric
and coordinate compared bitwise, NaN included).

``reproduce(entry, retrain=True)`` trains the model again instead, from the ``[training]``
table recorded with the submission (``meta.json``'s ``submission.training``, the run's
:class:`~pdeforge.baselines.train.TrainConfig` without ``root``/``out_dir``/``progress``; an online run's table holds its ``online`` settings --
seed-stream start, buffer, schedule -- so it is retrained online, streaming the same seeds),
scores the new test predictions with the same scorer and metrics, and compares per metric,
pairing the two runs sample by sample (:func:`compare_runs`):

* the stored mean and the new mean over test samples (per-sample value first: the mean over
  fields and time, as on the board), and their difference ``new - stored``;
* a 95 % percentile-bootstrap interval of the mean per-sample difference ``new - stored``
  (resampling test samples, :func:`~pdeforge.leaderboard.aggregate.bootstrap_mean_ci`,
  1000 resamples, seed 0); a sample where both values are NaN counts as difference 0;
* the new run's own 95 % bootstrap interval of its mean, and whether the stored mean lies in
  it.

The verdict (:attr:`RetrainReport.ok`, the command's exit status 0) is that the checks pass
(stored ``scores.nc`` unaltered, the data under the root is the entry's dataset version, the
new predictions score) and that the difference interval of ``rel_l2``, the metric the board
ranks by, contains 0.  On the CPU with the same torch version and thread count the trainer is
deterministic, so a faithful re-run gives difference 0 and the interval ``[0, 0]`` (an online run
too, when it used the fixed schedule ``fresh_per_step``; the asynchronous schedule depends on
timing, so expect differences judged by the intervals); on other
hardware (CUDA, bf16) expect small differences and judge them by the intervals.  An entry
without a ``[training]`` table cannot be retrained (:class:`NotSupportedError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdeforge.datasets import store
from pdeforge.errors import InvalidValueError, PdeforgeError
from pdeforge.leaderboard.entries import read_entry
from pdeforge.leaderboard.errors import BoardError, NotSupportedError

__all__ = ["ReproduceReport", "RetrainReport", "MetricComparison", "reproduce", "retrain_entry",
           "compare_scores", "compare_runs", "VERDICT_METRIC"]

#: the metric whose paired-difference interval decides a retrain reproduction (the board's)
VERDICT_METRIC = "rel_l2"


@dataclass
class ReproduceReport:
    entry: Path
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, bool(ok), detail))
        return bool(ok)

    def __str__(self) -> str:
        lines = [f"{self.entry}: {'REPRODUCED' if self.ok else 'NOT REPRODUCED'}"]
        for name, ok, detail in self.checks:
            lines.append(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))
        return "\n".join(lines)


def _bits(a: np.ndarray) -> np.ndarray:
    """A view for bitwise comparison (NaN == NaN when the bit patterns agree)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        return a.view(f"u{a.dtype.itemsize}")
    return a


def compare_scores(stored, fresh) -> list[str]:
    """Differences between two scores Datasets (empty = identical, bit for bit)."""
    problems = []
    a_vars, b_vars = set(stored.data_vars), set(fresh.data_vars)
    if a_vars != b_vars:
        problems.append(f"metrics differ: stored {sorted(a_vars)}, re-scored {sorted(b_vars)}")
    for name in sorted(set(stored.variables) & set(fresh.variables)):
        a, b = stored[name], fresh[name]
        if a.dims != b.dims or a.shape != b.shape:
            problems.append(f"{name}: dims/shape {a.dims}{a.shape} vs {b.dims}{b.shape}")
            continue
        x, y = np.asarray(a.values), np.asarray(b.values)
        if x.dtype.kind in "OUS" or y.dtype.kind in "OUS":
            same = x.astype(str).tolist() == y.astype(str).tolist()
        else:
            same = x.dtype == y.dtype and np.array_equal(_bits(x), _bits(y))
        if not same:
            detail = ""
            if x.dtype.kind == "f" and y.dtype.kind == "f":
                diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
                x64, y64 = x.astype(np.float64), y.astype(np.float64)
                n = int(np.count_nonzero(_bits(x64) != _bits(y64)))
                big = np.nanmax(diff, initial=0)
                detail = f" ({n} of {x.size} values differ, max |diff| {big:.3e})"
            problems.append(f"{name}: stored values differ from the re-scored ones{detail}")
    missing = sorted(set(fresh.coords) - set(stored.coords))
    if missing:
        problems.append(f"stored scores lack coordinate(s) {', '.join(missing)}")
    return problems


def _check_stored_metadata(entry) -> None:
    """Refuse an entry whose meta.json does not pass the submit-time validation (or whose
    scores.nc is missing or altered: those are reported by the checks instead)."""
    path = entry.scores_path
    if not path.is_file() or store.file_sha256(path) != entry.meta["scores"].get("sha256"):
        return  # the "scores.nc sha256" check reports it
    entry.validate()


def _check_stored_scores(report, entry) -> tuple[Path | None, bool]:
    """Record whether the entry's ``scores.nc`` exists and matches its sha256 in meta.json.

    Returns ``(path or None when missing, intact)``.
    """
    path = entry.scores_path
    if not path.is_file():
        report.add("stored scores", False, f"{path} is missing")
        return None, False
    recorded = entry.meta["scores"].get("sha256", "")
    actual = store.file_sha256(path)
    intact = report.add("scores.nc sha256", actual == recorded,
                        "matches meta.json" if actual == recorded else
                        f"{actual[:12]}… differs from meta.json's {recorded[:12]}… (file altered)")
    return path, intact


def reproduce(entry_dir, predictions=None, root=None, *, retrain: bool = False, out_dir=None,
              progress: bool = False):
    """Re-score the entry's predictions and compare with its stored scores (see module doc).

    ``predictions``: path of the predictions file when it is not stored in the entry (files
    of 2 MB or more are only referenced by sha256).  ``root``: data root holding the dataset.
    Returns a :class:`ReproduceReport` (``report.ok``); raises
    :class:`~pdeforge.errors.PdeforgeError` subclasses when the check cannot be run at all.

    ``retrain=True``: train the model again from the entry's recorded ``[training]`` table
    and compare statistically instead (:func:`retrain_entry`; ``out_dir`` keeps that run,
    ``progress`` shows the trainer's progress bar); returns a :class:`RetrainReport`.
    """
    from pdeforge.contracts.predictions import load_predictions
    from pdeforge.leaderboard.score import load_scores, score_predictions

    if retrain:
        if predictions is not None:
            raise InvalidValueError("--predictions is not used with --retrain: the retrained "
                                    "model's predictions are compared with the stored scores")
        return retrain_entry(entry_dir, root=root, out_dir=out_dir, progress=progress)
    if out_dir is not None:
        raise InvalidValueError("out_dir is only used with retrain=True")
    entry = read_entry(entry_dir)
    _check_stored_metadata(entry)
    report = ReproduceReport(Path(entry_dir))
    pred_path = Path(predictions) if predictions else entry.predictions_path
    if pred_path is None:
        raise BoardError(
            f"{entry.path}: the predictions file ({entry.meta['predictions']['bytes']} bytes) is "
            f"not stored in the entry; pass --predictions PATH to the file with sha256 "
            f"{entry.meta['predictions']['sha256']}")
    if not pred_path.is_file():
        raise BoardError(f"{pred_path}: predictions file not found")
    want = entry.meta["predictions"]["sha256"]
    got = store.file_sha256(pred_path)
    if not report.add("predictions sha256", got == want,
                      f"{pred_path.name} {got[:12]}…" if got == want else
                      f"{pred_path} has sha256 {got[:12]}…, the entry was scored on {want[:12]}…"):
        return report

    try:
        pred, ref = load_predictions(pred_path, entry.dataset, root)
    except PdeforgeError as exc:
        report.add("dataset and predictions valid", False, str(exc))
        return report
    same_data = ref.content_key == entry.meta["content_key"]
    if not report.add("dataset version", same_data,
                      f"content key {ref.content_key[:12]}… under {ref.cdir}" if same_data else
                      f"data under {ref.cdir} has content key {ref.content_key[:12]}…, the entry "
                      f"was scored on {entry.meta['content_key'][:12]}…"):
        return report

    path, _ = _check_stored_scores(report, entry)  # a sha mismatch still gets re-scored
    if path is None:
        return report
    stored = load_scores(path)
    fresh = score_predictions(pred, ref, entry.meta["scores"].get("metrics"),
                              predictions_sha256=got)
    problems = compare_scores(stored, fresh)
    import pdeforge

    note = ""
    if entry.meta.get("pdeforge_version") != pdeforge.__version__:
        note = (f" (scored with pdeforge {entry.meta.get('pdeforge_version')}, "
                f"re-scored with {pdeforge.__version__})")
    report.add("re-scored values identical", not problems,
               (f"{len(fresh.data_vars)} metrics × {fresh.sizes['sample']} samples bit for bit"
                if not problems else "; ".join(problems)) + note)
    return report


# --------------------------------------------------------------------------- retraining


@dataclass
class MetricComparison:
    """One metric of a retrain reproduction: the stored run against the new one, paired."""

    metric: str
    n: int
    stored_mean: float
    new_mean: float
    #: 95 % bootstrap interval of the mean per-sample difference new - stored
    diff_lo: float
    diff_hi: float
    #: the new run's own 95 % bootstrap interval of its mean
    new_lo: float
    new_hi: float
    #: samples whose values differ at all (bitwise)
    n_differ: int

    @property
    def diff(self) -> float:
        """``new_mean - stored_mean`` (the mean of the per-sample differences)."""
        return self.new_mean - self.stored_mean

    @property
    def contains_zero(self) -> bool:
        """Whether the difference interval contains 0 (False when it is NaN)."""
        return bool(self.diff_lo <= 0.0 <= self.diff_hi)

    @property
    def stored_in_new_ci(self) -> bool:
        """Whether the stored mean lies within the new run's bootstrap interval."""
        return bool(self.new_lo <= self.stored_mean <= self.new_hi)

    def as_dict(self) -> dict:
        return {"metric": self.metric, "n": self.n, "stored_mean": self.stored_mean,
                "new_mean": self.new_mean, "diff": self.diff, "diff_ci": [self.diff_lo,
                self.diff_hi], "contains_zero": self.contains_zero, "new_ci": [self.new_lo,
                self.new_hi], "stored_in_new_ci": self.stored_in_new_ci,
                "n_differ": self.n_differ}


@dataclass
class RetrainReport(ReproduceReport):
    """What ``reproduce(entry, retrain=True)`` returns: checks, then per-metric comparisons.

    ``ok``: every check passed and the ``VERDICT_METRIC`` (``rel_l2``) difference interval
    contains 0.
    """

    comparisons: list[MetricComparison] = field(default_factory=list)
    verdict_metric: str = VERDICT_METRIC
    #: the retrained run's directory (None when it was a removed temporary directory)
    run_dir: Path | None = None
    #: the new run's run.json
    run: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def comparison(self, metric: str = VERDICT_METRIC) -> MetricComparison:
        for c in self.comparisons:
            if c.metric == metric:
                return c
        raise KeyError(metric)

    @property
    def ok(self) -> bool:
        if not self.checks or not all(ok for _, ok, _ in self.checks):
            return False
        try:
            return self.comparison(self.verdict_metric).contains_zero
        except KeyError:
            return False

    def __str__(self) -> str:
        from pdeforge.leaderboard.render import _num

        if self.ok:
            head = (f"REPRODUCED by retraining (the 95 % interval of the {self.verdict_metric} "
                    f"difference contains 0)")
        elif self.comparisons and all(ok for _, ok, _ in self.checks):
            head = (f"NOT REPRODUCED by retraining (the 95 % interval of the "
                    f"{self.verdict_metric} difference excludes 0)")
        else:
            head = "NOT REPRODUCED by retraining"
        lines = [f"{self.entry}: {head}"]
        for name, ok, detail in self.checks:
            lines.append(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))
        if self.comparisons:
            lines.append(f"  {'metric':<11} {'stored':>10} {'retrained':>10} {'difference':>11}"
                         f"  {'95% CI of paired difference':<29} stored mean in retrained 95% CI")
            for c in self.comparisons:
                ci = f"[{_num(c.diff_lo)}, {_num(c.diff_hi)}]"
                mark = "*" if c.metric == self.verdict_metric else " "
                inside = "yes" if c.stored_in_new_ci else "no"
                lines.append(f"{mark} {c.metric:<11} {_num(c.stored_mean):>10} "
                             f"{_num(c.new_mean):>10} {c.diff:>+11.3e}  {ci:<29} {inside} "
                             f"[{_num(c.new_lo)}, {_num(c.new_hi)}]"
                             + ("" if c.n_differ else "  (identical)"))
            n = self.comparisons[0].n
            lines.append(f"  (* decides; differences are retrained - stored over {n} test "
                         f"samples, paired; 1000 bootstrap resamples of samples, seed 0)")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _per_sample_values(scores, metric: str) -> np.ndarray:
    from pdeforge.leaderboard.score import per_sample

    return np.asarray(per_sample(scores, metric).values, dtype=np.float64)


def compare_runs(stored, fresh, metrics=None, *, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> list[MetricComparison]:
    """Paired per-metric comparison of two scores Datasets of the same test samples.

    ``fresh`` is aligned to ``stored``'s ``sample`` order; the sample sets must be equal.
    See the module docstring for the numbers.
    """
    from pdeforge.leaderboard.aggregate import bootstrap_mean_ci

    a_ids = [int(v) for v in np.asarray(stored["sample"].values)]
    b_ids = [int(v) for v in np.asarray(fresh["sample"].values)]
    if sorted(a_ids) != sorted(b_ids) or len(set(a_ids)) != len(a_ids):
        raise BoardError("the retrained run's test samples differ from the stored scores' "
                         f"({len(b_ids)} vs {len(a_ids)} samples)")
    if a_ids != b_ids:
        fresh = fresh.sel(sample=stored["sample"].values)
    names = [m for m in (metrics or list(stored.data_vars)) if m in fresh.data_vars]
    out = []
    for m in names:
        old, new = _per_sample_values(stored, m), _per_sample_values(fresh, m)
        both_nan = np.isnan(old) & np.isnan(new)
        diff = np.where(both_nan, 0.0, new - old)
        _, lo, hi = bootstrap_mean_ci(diff, n_boot=n_boot, alpha=alpha, seed=seed)
        new_mean, new_lo, new_hi = bootstrap_mean_ci(new, n_boot=n_boot, alpha=alpha, seed=seed)
        differ = int(np.count_nonzero(_bits(old) != _bits(new)))
        out.append(MetricComparison(m, int(old.size), float(np.mean(old)), new_mean, lo, hi,
                                    new_lo, new_hi, differ))
    return out


def _describe(training: dict) -> str:
    extra = ", ".join(f"{k}={training[k]!r}" for k in ("model_config",) if training.get(k))
    online = training.get("online")
    if online is not None:
        keys = ("start", "buffer", "buffer_min", "fresh_per_step", "warmup", "workers", "chunk")
        extra += (", " if extra else "") + "online (" + ", ".join(
            f"{k}={online.get(k)!r}" for k in keys) + ")"
    return (f"{training.get('model')} (preset {training.get('preset')}), "
            f"{training.get('epochs')} epochs, batch {training.get('batch_size')}, "
            f"lr {training.get('lr')}, seed {training.get('seed')}, device "
            f"{training.get('device')}" + (f", {extra}" if extra else ""))


def _stored_predictions(entry, root):
    """The entry's stored predictions (validated, in test order), or None if not stored/valid."""
    from pdeforge.contracts.predictions import load_predictions

    path = entry.predictions_path
    if path is None or not path.is_file():
        return None
    if store.file_sha256(path) != entry.meta["predictions"]["sha256"]:
        return None
    try:
        return load_predictions(path, entry.dataset, root)[0]
    except PdeforgeError:
        return None


def _compare_predictions(old, new, targets) -> str:
    n_diff = n_all = 0
    big = 0.0
    for v in targets:
        a = np.asarray(old[v].values, dtype=np.float64)
        b = np.asarray(new[v].values, dtype=np.float64)
        n_all += a.size
        n_diff += int(np.count_nonzero(_bits(a) != _bits(b)))
        big = max(big, float(np.max(np.abs(a - b), initial=0.0)))
    if n_diff == 0:
        return (f"the retrained predictions equal the submitted ones bit for bit "
                f"({n_all} values)")
    return (f"the retrained predictions differ from the submitted ones in {n_diff} of {n_all} "
            f"values (max |diff| {big:.3e})")


def retrain_entry(entry_dir, root=None, out_dir=None, *, progress: bool = False) -> RetrainReport:
    """Train the entry's model again from its ``[training]`` table and compare (module doc).

    ``root``: data root holding the dataset.  ``out_dir``: directory for the new run
    (checkpoint, predictions, run.json), kept; default a temporary directory, removed.
    Raises :class:`NotSupportedError` when the entry records no training config.
    """
    import tempfile

    from pdeforge.baselines.train import TrainConfig, train
    from pdeforge.contracts.predictions import load_predictions
    from pdeforge.leaderboard.score import load_scores, score_predictions
    from pdeforge.leaderboard.metadata import validate_training

    entry = read_entry(entry_dir)
    _check_stored_metadata(entry)
    training = entry.submission.get("training")
    if not training:
        raise NotSupportedError(
            f"{entry.path}: the entry records no training config (its submission metadata "
            "had no [training] table), so it cannot be retrained: retraining a model from "
            "its description alone is not implemented yet. Re-score its stored predictions "
            "instead (run without --retrain), or re-submit with a [training] table (see "
            "leaderboard/README.md)")
    report = RetrainReport(Path(entry_dir))
    try:  # as at submission (the names must still exist in this pdeforge version)
        training = validate_training(dict(training), dataset=entry.dataset, config=entry.config)
    except PdeforgeError as exc:
        report.add("training config", False, str(exc))
        return report
    report.add("training config", True, _describe(training))

    path, intact = _check_stored_scores(report, entry)
    if not intact:
        return report

    # the dataset version, before spending time on training
    cdir = store.config_dir(store.resolve_root(root), entry.dataset, entry.config)
    manifest = store.read_manifest(cdir)
    want = entry.meta["content_key"]
    if manifest is None:
        report.add("dataset version", False, f"no generated {entry.dataset}/{entry.config} under "
                   f"{cdir.parent.parent} (generate it, or pass the data root)")
        return report
    if not report.add("dataset version", manifest["content_key"] == want,
                      f"content key {want[:12]}… under {cdir}" if manifest["content_key"] == want
                      else f"data under {cdir} has content key {manifest['content_key'][:12]}…, "
                      f"the entry was scored on {want[:12]}… (a different dataset version)"):
        return report

    stored = load_scores(path)
    metrics = entry.meta["scores"].get("metrics") or list(stored.data_vars)
    with tempfile.TemporaryDirectory(prefix="pdeforge-retrain-") as tmp:
        run_dir = Path(out_dir) if out_dir is not None else Path(tmp) / "run"
        cfg = TrainConfig(**training, root=None if root is None else str(root),
                          out_dir=str(run_dir), progress=progress)
        result = train(cfg)
        if result.predictions is None:
            report.add("retrained predictions", False,
                       result.run.get("predictions_skipped", "the run wrote no predictions"))
            return report
        sha = store.file_sha256(result.predictions)
        try:
            pred, ref = load_predictions(result.predictions, entry.dataset, root)
            fresh = score_predictions(pred, ref, metrics, predictions_sha256=sha)
        except PdeforgeError as exc:
            report.add("retrained predictions", False, str(exc))
            return report
    old_pred = _stored_predictions(entry, root)
    if old_pred is not None:
        report.notes.append(_compare_predictions(old_pred, pred, ref.targets))
    report.run = result.run
    report.run_dir = Path(out_dir) if out_dir is not None else None
    report.add("retrained and scored", True,
               f"{fresh.sizes['sample']} test samples, best val epoch {result.run['best_epoch']}"
               f" of {result.run['epochs']}, {result.run['train_wall_seconds']:.1f} s on "
               f"{result.run['hardware']}"
               + (f"; run kept in {report.run_dir}" if report.run_dir else ""))
    report.comparisons = compare_runs(stored, fresh, metrics)
    import pdeforge

    if entry.meta.get("pdeforge_version") != pdeforge.__version__:
        report.notes.append(f"the entry was scored with pdeforge "
                            f"{entry.meta.get('pdeforge_version')}, retrained with "
                            f"{pdeforge.__version__}")
    return report
