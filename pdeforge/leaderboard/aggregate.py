"""Aggregation of per-snapshot scores into leaderboard numbers.

Order of aggregation (pinned)
-----------------------------
Input: the ``xarray.Dataset`` of :func:`pdeforge.contracts.metrics.compute_all`,
one value per ``(sample, field, t)`` (or whatever non-spatial dims exist).

1. **Per-sample value.**  For every metric and every sample, take the plain
   arithmetic mean over all remaining dims (e.g. ``field`` and ``t``) except
   those listed in ``keep_dims``.  Every snapshot of a sample has equal
   weight.  The metric itself is never recomputed on pooled data.
2. **Across samples.**  Take the arithmetic mean of the per-sample values
   over ``over`` (default ``"sample"``), separately for each group of ``by``
   and each index of ``keep_dims``, with a percentile-bootstrap confidence
   interval obtained by resampling *samples* (the independent unit).

Pitfalls this module avoids on purpose
--------------------------------------
* **Batch-ratio NMSE**: ``sum_batch ||e||^2 / sum_batch ||y||^2`` is a ratio of
  batch sums; it weights samples by their target energy and depends on the
  batch size.  Here relative metrics are per-sample ratios, averaged after.
* **Mean of batch means** with an uneven last batch, or dividing a sum of
  batch means by ``n_batches - 1``: all averages here are over samples,
  divided by the number of samples.
* **Bootstrapping over time steps, fields or pixels**: those are strongly
  correlated within a sample and give intervals that are far too narrow;
  resampling is over samples only.
* **nanmean**: NaN scores (diverged rollouts, degenerate targets, see
  :mod:`pdeforge.contracts.metrics`) propagate to the aggregate instead of
  silently being dropped.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["bootstrap_mean_ci", "aggregate", "mean_rank"]

# bootstrap resamples are drawn in blocks of at most this many indices
_BOOT_BLOCK = 2_000_000


def bootstrap_mean_ci(values, n_boot: int = 1000, alpha: float = 0.05, seed: int | None = 0):
    """Mean of ``values`` with a percentile-bootstrap ``(1 - alpha)`` interval.

    ``n_boot`` resamples of size ``n`` are drawn with replacement from the 1-D
    ``values`` using ``numpy.random.default_rng(seed)``; the interval is the
    ``alpha/2`` and ``1 - alpha/2`` quantiles (linear interpolation) of the
    resampled means.  Deterministic for a given ``(values, n_boot, seed)``;
    the same seed gives the same resample indices for every input of the same
    length (so intervals of different metrics are paired).

    Returns ``(mean, lo, hi)`` as floats.  Edge cases: ``n == 1`` gives a
    zero-width interval ``(v, v, v)`` (there is no spread to resample);
    constant values give ``lo == hi == mean``; any NaN in ``values`` gives
    ``(nan, nan, nan)``.  Empty input raises ``ValueError``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    n = v.size
    if n == 0:
        raise ValueError("values is empty")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n_boot = int(n_boot)
    mean = float(np.mean(v))
    if np.isnan(mean):
        return (np.nan, np.nan, np.nan)

    rng = np.random.default_rng(seed)
    rows = max(1, _BOOT_BLOCK // n)
    boot = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        boot[start:stop] = v[idx].mean(axis=1)
    lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (mean, float(lo), float(hi))


def _group_labels(scores, over, by):
    """Per-sample group labels (ndarray of length n) and the group column name."""
    n = scores.sizes[over]
    if isinstance(by, str):
        if by not in scores.coords:
            raise ValueError(f"'by' coordinate {by!r} not found in scores")
        c = scores.coords[by]
        if c.dims != (over,):
            raise ValueError(f"'by' coordinate {by!r} must be 1-D along {over!r}, has dims {c.dims}")
        return np.asarray(c.values), by
    labels = by.values if hasattr(by, "values") and hasattr(by, "dims") else by
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(
            f"'by' labels must be 1-D with one label per {over!r} ({n}), got shape {labels.shape}"
        )
    return labels, "group"


def aggregate(scores, over: str = "sample", by=None, keep_dims: Sequence[str] = (),
              n_boot: int = 1000, alpha: float = 0.05, seed: int | None = 0) -> pd.DataFrame:
    """Leaderboard table from per-snapshot scores (see module docstring for the order).

    Parameters
    ----------
    scores: ``xarray.Dataset`` of metric variables, each with dim ``over``.
    over: the dim of independent samples averaged last (bootstrap unit).
    by: optional per-sample grouping: the name of a 1-D coordinate along
        ``over`` or an array of one label per sample (e.g. contrast bands
        for ConDiff).  One set of rows per distinct label (sorted).
    keep_dims: non-sample dims *not* averaged in step 1 (e.g. ``("field",)``
        for per-field rows, ``("t",)`` for rollout curves).
    n_boot, alpha, seed: passed to :func:`bootstrap_mean_ci` (95 % by default).

    Returns
    -------
    ``pandas.DataFrame`` with one row per (metric, group, kept index) and
    columns ``metric``, [group column named ``by`` or ``"group"``],
    [one column per kept dim], ``mean``, ``ci_lo``, ``ci_hi``, ``n``
    (number of samples in the row).
    """
    import xarray as xr

    if not isinstance(scores, xr.Dataset):
        raise TypeError("aggregate expects an xarray.Dataset of scores")
    if isinstance(keep_dims, str):
        keep_dims = (keep_dims,)
    keep_dims = tuple(keep_dims)
    if over in keep_dims:
        raise ValueError(f"{over!r} cannot be both 'over' and in keep_dims")
    if over not in scores.dims:
        raise ValueError(f"dim {over!r} not found in scores dims {tuple(scores.dims)}")

    if by is None:
        labels, group_col = None, None
    else:
        labels, group_col = _group_labels(scores, over, by)
        groups = pd.unique(pd.Series(labels))
        try:
            groups = np.sort(groups)
        except TypeError:  # mixed, unorderable labels: keep first-seen order
            pass

    records = []
    for name, da in scores.data_vars.items():
        if over not in da.dims:
            raise ValueError(f"metric {name!r} has no {over!r} dim (dims {da.dims})")
        missing = [d for d in keep_dims if d not in da.dims]
        if missing:
            raise ValueError(f"metric {name!r} lacks keep_dims {missing}")
        reduce = [d for d in da.dims if d != over and d not in keep_dims]
        # step 1: per-sample value (plain mean; skipna=False so NaN propagates)
        per_sample = da.mean(dim=reduce, skipna=False) if reduce else da
        per_sample = per_sample.transpose(over, *keep_dims)
        arr = np.asarray(per_sample.values, dtype=np.float64)
        flat = arr.reshape(arr.shape[0], -1)
        keep_coords = [
            np.asarray(per_sample[d].values) if d in per_sample.coords
            else np.arange(per_sample.sizes[d])
            for d in keep_dims
        ]
        keep_index = list(np.ndindex(*[per_sample.sizes[d] for d in keep_dims]))
        group_iter = [(None, np.ones(arr.shape[0], dtype=bool))] if labels is None else [
            (g, labels == g) for g in groups
        ]
        for g, sel in group_iter:
            for j, kidx in enumerate(keep_index):
                mean, lo, hi = bootstrap_mean_ci(flat[sel, j], n_boot=n_boot, alpha=alpha,
                                                 seed=seed)
                rec = {"metric": name}
                if group_col is not None:
                    rec[group_col] = g
                for d, c, i in zip(keep_dims, keep_coords, kidx):
                    rec[d] = c[i]
                rec.update(mean=mean, ci_lo=lo, ci_hi=hi, n=int(np.count_nonzero(sel)))
                records.append(rec)

    columns = (["metric"] + ([group_col] if group_col else []) + list(keep_dims)
               + ["mean", "ci_lo", "ci_hi", "n"])
    return pd.DataFrame.from_records(records, columns=columns)


def mean_rank(table: pd.DataFrame, score: str = "score", dataset: str = "dataset",
              model: str = "model", higher_is_better: bool = False,
              missing: str = "raise") -> pd.DataFrame:
    """Average rank of each model across datasets (for the aggregate leaderboard).

    ``table`` is long-form, one row per (dataset, model) with a numeric
    ``score`` column.  Within each dataset models are ranked 1 = best (lowest
    score unless ``higher_is_better``); exactly equal scores share the average
    of their ranks (e.g. two models tied for first both get 1.5).  The ranks
    are then averaged per model with equal weight per dataset.

    A (dataset, model) pair that is absent or has a NaN score is *missing*:

    * ``missing="raise"`` (default): ``ValueError`` naming the gaps;
    * ``missing="worst"``: the model is ranked below every scored model of
      that dataset (several missing models tie for last, average rank);
    * ``missing="ignore"``: the model's mean is over the datasets it has
      (beware: not comparable between models with different coverage).

    Duplicate (dataset, model) rows raise ``ValueError``.

    Returns a DataFrame indexed by model with columns ``mean_rank`` and
    ``n_datasets`` (datasets actually scored), sorted by ``mean_rank`` then
    model name.
    """
    for col in (score, dataset, model):
        if col not in table.columns:
            raise ValueError(f"column {col!r} not in table columns {list(table.columns)}")
    if missing not in ("raise", "worst", "ignore"):
        raise ValueError(f"missing must be 'raise', 'worst' or 'ignore', got {missing!r}")
    dup = table.duplicated(subset=[dataset, model], keep=False)
    if dup.any():
        pairs = table.loc[dup, [dataset, model]].drop_duplicates().to_records(index=False)
        raise ValueError(f"duplicate (dataset, model) rows: {[tuple(p) for p in pairs]}")

    wide = table.pivot(index=dataset, columns=model, values=score).astype(np.float64)
    present = wide.notna()
    if missing == "raise" and not present.values.all():
        gaps = [(d, m) for d in wide.index for m in wide.columns if not present.loc[d, m]]
        raise ValueError(f"missing or NaN scores for (dataset, model): {gaps}")

    ascending = not higher_is_better
    if missing == "worst":
        fill = np.inf if ascending else -np.inf
        ranks = wide.fillna(fill).rank(axis=1, method="average", ascending=ascending)
    else:
        ranks = wide.rank(axis=1, method="average", ascending=ascending, na_option="keep")

    out = pd.DataFrame({
        "mean_rank": ranks.mean(axis=0, skipna=True),
        "n_datasets": present.sum(axis=0).astype(int),
    })
    out.index.name = model
    out = out.reset_index().sort_values(["mean_rank", model], kind="mergesort")
    return out.set_index(model)
