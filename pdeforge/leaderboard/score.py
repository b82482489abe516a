"""Score a predictions file against the generated test split.

:func:`score` validates a ``pdeforge-predictions/1`` file (see
:mod:`pdeforge.contracts.predictions`) and evaluates every registered metric of
:mod:`pdeforge.contracts.metrics` per ``(sample, field[, t])``: ``field`` runs over the
dataset's target variables, the spatial dims (all dims of a target except ``sample`` and
``t``) are reduced over; when the test split holds a ``role == "mask"`` variable (1 = fluid,
0 = solid) on a target's grid, that target's metrics are computed over its fluid points
(:mod:`pdeforge.contracts.metrics`, "Fluid masks"; attribute ``masks`` of the scores names
target=mask pairs).  The result is an ``xarray.Dataset`` (format
``pdeforge-scores/1``) with one variable per metric and, as coordinates along ``sample``,
every per-sample ``role == "param"`` variable of the test split (ConDiff: ``contrast``), so
scores can be broken down by them.  Its attribute ``groupings`` lists those parameters (the
default breakdowns of :func:`summarize`).

Time-series targets (dims ``(sample, t, ...)``) are scored per ``(sample, field, t)`` over the
**predicted frames** only: frames before the predictions' ``rollout_start`` attribute (the
initial state(s) given to the model, :mod:`pdeforge.contracts.predictions`; default 0) are
dropped first, and the scores carry a coordinate ``step`` along ``t`` (1 = the first
predicted frame) and the attribute ``rollout_start``.  With ``metrics=None`` they also get
the rollout metrics (``rollout_rel_l2``, ``steps_to_threshold``: one value per
``(sample, field)``, :mod:`pdeforge.contracts.metrics`).  :func:`rollout_curve` is the error
against rollout step (mean over samples at each step with bootstrap intervals, and the
cumulative mean).  Scores of targets without ``t`` are unchanged by all of this.

:func:`summarize` turns scores into a table with the mean and a bootstrap 95 % interval per
metric (:func:`pdeforge.leaderboard.aggregate.aggregate`: per-sample mean over fields and
time first, then the mean over samples, resampling samples), overall and per tertile of each
grouping parameter.

Checks a board applies to scores (:mod:`pdeforge.leaderboard.submit` refuses, the renderer
flags): :func:`check_finite` (a finite but huge prediction overflows the squared error and
scores ``inf``), :func:`round_off_level` (an entry whose mean ``rel_l2`` is below
:data:`ROUND_OFF_REL_L2` is the stored truth, not a model) and :func:`test_set_of` (the
identity of the test split an entry was scored on: its size and a hash of its indices).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import warnings

from pdeforge.contracts.errors import SubmissionError
from pdeforge.contracts.metrics import compute_all, cumulative_mean, get_metric, list_metrics
from pdeforge.contracts.predictions import (
    NON_SPATIAL_DIMS,
    ROLLOUT_ATTR,
    TIME_DIM,
    Reference,
    load_predictions,
    rollout_start_of,
    write_netcdf_atomic,
)
from pdeforge.datasets import store
from pdeforge.leaderboard.aggregate import aggregate

__all__ = [
    "SCORES_FORMAT", "ROUND_OFF_REL_L2", "score", "score_predictions", "save_scores",
    "load_scores", "metric_names", "per_sample", "group_labels", "summarize", "check_finite",
    "round_off_level", "test_set_of", "rollout_curve", "has_time", "RolloutStartWarning",
    "initial_frame_copied",
]

SCORES_FORMAT = "pdeforge-scores/1"
BIN_NAMES = {2: ["low", "high"], 3: ["low", "mid", "high"]}

#: An entry whose mean per-sample ``rel_l2`` is below this is "at round-off": it agrees with
#: the stored truth to about the precision the truth is stored in, which no learned model
#: reaches.  Why 1e-6: a float32 copy of float64 truth scores ~3.5e-8 (rounding to 24 bits,
#: 2**-24 / sqrt(3) rms), a float64 copy 0; the best published neural-operator errors on these
#: setups are 1e-3 .. 2e-2 and a different classical discretisation differs by >= 1e-4.  So
#: 1e-6 (about 30 float32 ulps, 10**3 below any learned model) separates "copied the truth or
#: re-ran the generating solver" from "a model", with margin on both sides.
ROUND_OFF_REL_L2 = 1e-6


class RolloutStartWarning(UserWarning):
    """Time-series predictions without ``rollout_start`` whose first frame is the truth."""


def _metric_list(metrics, time_series: bool = False) -> list[str]:
    """Metric names to compute: ``None`` = every snapshot metric, plus the rollout metrics
    when every target is a time series (``time_series``)."""
    from pdeforge.errors import InvalidValueError

    if metrics is None:
        return list_metrics("all") if time_series else list_metrics()
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for n in names:
        try:
            get_metric(n)
        except ValueError as exc:
            raise InvalidValueError(str(exc)) from None
    rollout = [n for n in names if get_metric(n).rollout]
    if rollout and not time_series:
        raise InvalidValueError(f"rollout metric(s) {', '.join(rollout)} need time-series "
                                f"targets (a {TIME_DIM!r} dim); this dataset's targets have none")
    return names


def has_time(scores) -> bool:
    """Whether scores (or any Dataset) come from time-series targets (have a ``t`` dim)."""
    return TIME_DIM in scores.dims


def initial_frame_copied(pred, ref: Reference, rtol: float = 1e-6) -> bool:
    """Whether frame 0 of every time-series target equals the truth to round-off.

    ``max |p_0 - y_0| <= rtol * max |y_0|`` over all samples (float32 copies of float64 truth
    pass).  Used to warn about predictions that start at the given initial state but do not
    say so with ``rollout_start``.
    """
    fields = [f for f in ref.targets if TIME_DIM in ref.truth[f].dims]
    if not fields:
        return False
    for f in fields:
        y0 = np.asarray(ref.truth[f].isel({TIME_DIM: 0}).values, dtype=np.float64)
        p0 = np.asarray(pred[f].transpose(*ref.truth[f].dims).isel({TIME_DIM: 0}).values,
                        dtype=np.float64)
        if not np.max(np.abs(p0 - y0)) <= rtol * np.max(np.abs(y0)):
            return False
    return True


def score_predictions(pred, ref: Reference, metrics=None, *, predictions_sha256: str = ""):
    """Scores of a *validated* predictions Dataset (see :func:`score`)."""
    import xarray as xr

    import pdeforge

    time_series = all(TIME_DIM in ref.truth[f].dims for f in ref.targets)
    names = _metric_list(metrics, time_series)
    start = rollout_start_of(pred)
    if (time_series and ROLLOUT_ATTR not in pred.attrs
            and ref.truth.sizes.get(TIME_DIM, 0) > 1 and initial_frame_copied(pred, ref)):
        warnings.warn(f"frame 0 of the predictions equals the truth (to round-off) but the file "
                      f"has no {ROLLOUT_ATTR!r} attribute, so it is scored as a prediction; if "
                      f"it is the initial state given to the model, write the file with "
                      f"{ROLLOUT_ATTR}=1 (write_predictions(..., rollout_start=1))",
                      RolloutStartWarning, stacklevel=2)
    parts = []
    used = []
    for field in ref.targets:
        y = ref.truth[field]
        p = pred[field]
        spatial = [d for d in y.dims if d not in NON_SPATIAL_DIMS]
        mask = _mask_for(ref, field, spatial)
        if mask is not None:
            used.append(f"{field}={mask.name}")
        if start and TIME_DIM in y.dims:  # the given initial frame(s) are not scored
            keep = {TIME_DIM: slice(start, None)}
            y, p = y.isel(keep), p.isel(keep)
            if mask is not None and TIME_DIM in mask.dims:
                mask = mask.isel(keep)
        try:
            s = compute_all(p, y, spatial_dims=spatial, metrics=names, mask=mask)
        except ValueError as exc:  # a mask without fluid points, or of another shape
            if mask is None:
                raise
            raise SubmissionError(ref.cdir or ref.config, f"mask {mask.name!r} of the test "
                                  f"split cannot be applied to {field!r}: {exc}") from None
        parts.append(s.expand_dims(field=[field]))
    scores = xr.concat(parts, dim="field") if len(parts) > 1 else parts[0]
    lead = ["sample", "field"] + [d for d in scores.dims if d not in ("sample", "field")]
    scores = scores.transpose(*lead)
    scores = scores.assign_coords({
        p: ("sample", np.asarray(ref.truth[p].values), dict(ref.truth[p].attrs))
        for p in ref.params
    })
    scores["field"].attrs.update(long_name="target variable")
    scores.attrs = {
        "format": SCORES_FORMAT,
        "dataset": ref.dataset,
        "config": ref.config,
        "split": "test",
        "content_key": ref.content_key,
        "model": str(pred.attrs.get("model", "")),
        "predictions_sha256": predictions_sha256,
        "metrics": " ".join(names),
        "groupings": " ".join(ref.params),
        "spatial_dims": scores.attrs.get("spatial_dims", ""),
        "pdeforge_version": pdeforge.__version__,
    }
    if used:
        scores.attrs["masks"] = " ".join(used)
    if TIME_DIM in scores.dims:
        scores = scores.assign_coords(step=(TIME_DIM, np.arange(1, scores.sizes[TIME_DIM] + 1),
                                            {"long_name": "rollout step (1 = first predicted "
                                                          "frame)"}))
        scores.attrs["rollout_start"] = int(start)
    return scores


def _mask_for(ref: Reference, field: str, spatial: list[str]):
    """The test split's fluid mask on ``field``'s grid (None when there is none)."""
    hits = []
    for name in getattr(ref, "masks", ()) or ():
        m = ref.truth[name]
        if {d for d in m.dims if d not in NON_SPATIAL_DIMS} == set(spatial):
            hits.append(m)
    if len(hits) > 1:
        names = ", ".join(h.name for h in hits)
        raise SubmissionError(ref.cdir or ref.config, f"several masks ({names}) lie on the grid "
                              f"of {field!r}; the scorer needs exactly one")
    return hits[0] if hits else None


def score(pred_path, dataset: str, root=None, metrics=None, out=None):
    """Validate ``pred_path`` against ``dataset`` under ``root`` and score it.

    Returns the per-``(sample, field[, t])`` scores as an ``xarray.Dataset``; also written
    atomically to ``out`` when given.  Invalid predictions raise
    :class:`~pdeforge.leaderboard.errors.SubmissionError`.
    """
    pred_path = Path(pred_path)
    pred, ref = load_predictions(pred_path, dataset, root)
    scores = score_predictions(pred, ref, metrics, predictions_sha256=store.file_sha256(pred_path))
    if out is not None:
        save_scores(scores, out)
    return scores


def save_scores(scores, path) -> Path:
    """Write scores atomically as netCDF (h5netcdf); an unwritable path is a StoreError."""
    return write_netcdf_atomic(scores, Path(path))


def check_finite(scores, label="scores") -> None:
    """Refuse scores holding inf, or NaN that the metric definitions do not explain.

    Predictions are finite (checked), so a non-finite score means overflow: ``(p - y)**2``
    of a finite but huge prediction (|p| >~ 1e154 in float64) is inf.  Relative metrics
    (``Metric.relative``: rel_l2, nrmse, vrmse) are NaN *by design* for a degenerate target
    (zero / constant field, see :mod:`pdeforge.contracts.metrics`); that NaN is kept (it
    is the dataset's, not the submission's, and shows on the board as NaN).  An overflow in
    a relative metric always shows as inf (its numerator is the overflowing rmse), so it is
    caught too.  Raises :class:`SubmissionError` naming every offending metric with the
    number of samples affected.
    """
    bad = []
    n_total = int(scores.sizes.get("sample", 1))
    for name in scores.data_vars:
        v = np.asarray(scores[name].values, dtype=np.float64)
        try:
            relative = get_metric(name).relative
        except ValueError:
            relative = False
        wrong = np.isinf(v) if relative else ~np.isfinite(v)
        if wrong.any():
            axes = tuple(i for i, d in enumerate(scores[name].dims) if d != "sample")
            n = int(np.count_nonzero(wrong.any(axis=axes) if axes else wrong))
            kinds = " and ".join(k for k, m in (("inf", np.isinf(v)), ("NaN", np.isnan(v)))
                                 if (m & wrong).any())
            bad.append(f"{name} ({n} of {n_total} samples, {kinds})")
    if bad:
        raise SubmissionError(label, "scores are not finite: " + ", ".join(bad)
                              + "; the predictions are finite but so large that the squared "
                              "error overflows float64 (|prediction| above ~1e150?): check "
                              "the model's output scale (de-normalisation)")


def round_off_level(scores) -> float | None:
    """The mean per-sample ``rel_l2`` when it is below :data:`ROUND_OFF_REL_L2`, else None.

    NaN samples (degenerate targets) are left out of this check only.  None also when the
    scores have no ``rel_l2``.
    """
    if "rel_l2" not in scores.data_vars:
        return None
    v = np.asarray(per_sample(scores, "rel_l2").values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return None
    mean = float(np.mean(v))
    return mean if mean < ROUND_OFF_REL_L2 else None


def test_set_of(samples) -> dict:
    """Identity of a test split: ``{"n_samples": n, "indices_sha256": h}``.

    ``samples``: the scores (or any object with a ``sample`` coordinate) or the indices.
    ``h`` is the sha256 of the sorted indices written as decimal integers joined by ``,``
    (e.g. ``"0,1,2"``), so it does not depend on dtype or order.  Two entries are comparable
    only when their test sets are equal: the dataset's content key fixes how sample *i* is
    drawn, not how many test samples there are.
    """
    import hashlib

    values = samples["sample"].values if hasattr(samples, "coords") else samples
    idx = sorted(int(i) for i in np.asarray(values).ravel())
    digest = hashlib.sha256(",".join(map(str, idx)).encode()).hexdigest()
    return {"n_samples": len(idx), "indices_sha256": digest}


test_set_of.__test__ = False  # not a pytest test, despite the name


def load_scores(path):
    """Read a scores file into memory (raises SubmissionError when unreadable or foreign)."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise SubmissionError(path, "no such scores file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except Exception as exc:
        raise SubmissionError(path, f"cannot be read as a netCDF4/HDF5 file: {exc}") from None
    if ds.attrs.get("format") != SCORES_FORMAT:
        raise SubmissionError(path, f"not a {SCORES_FORMAT} file")
    return ds


def metric_names(scores) -> list[str]:
    return [n for n in scores.data_vars]


def per_sample(scores, metric: str = "rel_l2"):
    """Per-sample value of ``metric`` (plain mean over all other dims, NaN propagates)."""
    da = scores[metric]
    rest = [d for d in da.dims if d != "sample"]
    return da.mean(dim=rest, skipna=False) if rest else da


def group_labels(values, bins: int = 3):
    """Quantile bins of a per-sample parameter: ``(labels, names, ranges)``.

    Edges are the ``1/bins … (bins-1)/bins`` quantiles (linear interpolation) of the test
    set's own values; a value equal to an edge goes to the upper bin.  ``labels[i]`` is the
    bin of sample ``i``; ``names[b]`` ("low", "mid", "high" for tertiles) and
    ``ranges[b] = (min, max)`` of the member values describe bin ``b`` (empty bins are left
    out).  A parameter that is constant over the test set gives no bins (``None``).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or np.all(v == v[0]):
        return None
    edges = np.quantile(v, [k / bins for k in range(1, bins)])
    labels = np.searchsorted(edges, v, side="right")
    base = BIN_NAMES.get(bins, [f"Q{k + 1}/{bins}" for k in range(bins)])
    names, ranges = {}, {}
    for b in np.unique(labels):
        members = v[labels == b]
        names[int(b)] = base[int(b)]
        ranges[int(b)] = (float(members.min()), float(members.max()))
    return labels, names, ranges


def _groupings(scores, by) -> list[str]:
    if by is None:
        return str(scores.attrs.get("groupings", "")).split()
    if by is False or by == "" or by == ():
        return []
    names = [by] if isinstance(by, str) else list(by)
    for n in names:
        if n not in scores.coords or scores[n].dims != ("sample",):
            known = str(scores.attrs.get("groupings", "")).split()
            raise SubmissionError(scores.attrs.get("config", "scores"),
                                  f"cannot group by {n!r}: not a per-sample parameter of the "
                                  f"scores (available: {', '.join(known) or 'none'})")
    return names


def summarize(scores, by=None, *, bins: int = 3, metrics=None, n_boot: int = 1000,
              alpha: float = 0.05, seed: int = 0):
    """Mean and bootstrap ``(1 - alpha)`` interval per metric, overall and per group.

    ``by``: ``None`` = the default groupings (attribute ``groupings``: every per-sample
    ``param`` variable, e.g. ConDiff's ``contrast``); a name or list of names; ``False`` /
    ``()`` for the overall rows only.  Each grouping parameter is binned into ``bins``
    quantile bins (tertiles by default, see :func:`group_labels`).

    Returns a ``pandas.DataFrame`` with columns ``metric``, ``by`` ("all" or the parameter),
    ``group`` ("all" or the bin name), ``lo``, ``hi`` (range of the parameter in the bin,
    NaN overall), ``mean``, ``ci_lo``, ``ci_hi``, ``n`` (samples).
    """
    import pandas as pd

    names = metric_names(scores) if metrics is None else _metric_list(metrics)
    missing = [m for m in names if m not in scores.data_vars]
    if missing:
        raise SubmissionError(scores.attrs.get("config", "scores"),
                              f"metric(s) not in the scores: {', '.join(missing)}")
    data = scores[names]
    kw = dict(n_boot=n_boot, alpha=alpha, seed=seed)
    frames = []
    overall = aggregate(data, **kw)
    overall.insert(1, "by", "all")
    overall.insert(2, "group", "all")
    overall.insert(3, "lo", np.nan)
    overall.insert(4, "hi", np.nan)
    frames.append(overall)
    for param in _groupings(scores, by):
        binned = group_labels(scores[param].values, bins)
        if binned is None:
            continue
        labels, bin_names, ranges = binned
        t = aggregate(data, by=labels, **kw)
        b = t.pop("group").astype(int)
        t.insert(1, "by", param)
        t.insert(2, "group", [bin_names[i] for i in b])
        t.insert(3, "lo", [ranges[i][0] for i in b])
        t.insert(4, "hi", [ranges[i][1] for i in b])
        frames.append(t)
    out = pd.concat(frames, ignore_index=True)
    return out[["metric", "by", "group", "lo", "hi", "mean", "ci_lo", "ci_hi", "n"]]


def rollout_curve(scores, metric: str = "rel_l2", *, n_boot: int = 1000, alpha: float = 0.05,
                  seed: int = 0):
    """Error against rollout step: mean over test samples at each step, with intervals.

    For time-series scores (a ``t`` dim).  Per sample, ``metric`` is first averaged over the
    fields (and any other non-``t`` dim), giving the per-sample curve ``e_k`` over the
    scored steps ``k = 1 .. K``; then at each step the mean over samples with the 95 %
    percentile bootstrap interval of :func:`~pdeforge.leaderboard.aggregate.aggregate`
    (resampling samples, same seed at every step).  The same for the per-sample cumulative
    mean ``c_k = (1/k) sum_{j<=k} e_j`` (:func:`~pdeforge.contracts.metrics.cumulative_mean`,
    rows ``metric = "cum_<metric>"``); ``c_K`` is the per-sample value the summary tables
    average.

    Returns a ``pandas.DataFrame`` with columns ``metric`` (``metric`` / ``cum_<metric>``),
    ``step``, ``t``, ``mean``, ``ci_lo``, ``ci_hi``, ``n``, rows ordered by metric then step.
    """
    import xarray as xr

    label = scores.attrs.get("config", "scores")
    if metric not in scores.data_vars:
        raise SubmissionError(label, f"metric {metric!r} not in the scores")
    da = scores[metric]
    if TIME_DIM not in da.dims:
        raise SubmissionError(label, f"{metric!r} has no {TIME_DIM!r} dim: not a time series "
                              "(or a rollout metric, which has one value per sample)")
    rest = [d for d in da.dims if d not in ("sample", TIME_DIM)]
    curve = (da.mean(dim=rest, skipna=False) if rest else da).transpose("sample", TIME_DIM)
    curve = curve.drop_vars([c for c in curve.coords if c not in (TIME_DIM, "sample")])
    cum = curve.copy(data=cumulative_mean(curve.values, axis=1))
    table = aggregate(xr.Dataset({metric: curve, f"cum_{metric}": cum}), keep_dims=(TIME_DIM,),
                      n_boot=n_boot, alpha=alpha, seed=seed)
    steps = (np.asarray(scores["step"].values) if "step" in scores.coords
             else np.arange(1, curve.sizes[TIME_DIM] + 1))
    table.insert(1, "step", np.tile(steps, 2).astype(int))
    return table[["metric", "step", TIME_DIM, "mean", "ci_lo", "ci_hi", "n"]]
