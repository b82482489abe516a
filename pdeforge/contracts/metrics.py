"""Metric registry with pinned definitions for pdeforge leaderboards.

Every metric compares a prediction ``p`` with a target ``y`` over the spatial
points ``x`` of one field snapshot and returns **one value per leading index**.
Arrays have shape ``(..., *spatial)``; the spatial axes are the last
``ndim_space`` axes (default 2).  For a score array of shape
``(sample, field, t, nx, ny)`` every metric returns shape ``(sample, field, t)``.
All arithmetic is done in float64, whatever the input dtype.

Pinned definitions (``N`` = number of spatial points, ``e = p - y``):

=============  ===========================================================
``rel_l2``     ``||e||_2 / ||y||_2``                (FNO / neuraloperator)
``rmse``       ``sqrt(mean_x e^2)``
``nrmse``      ``rmse / sqrt(mean_x y^2)``           (PDEBench, per sample)
``vrmse``      ``rmse / std_x(y)``, population std (ddof=0), no epsilon
               (The Well's *definition*; its code differs slightly, see ``vrmse``)
``max_err``    ``max_x |e|``
``brmse``      rmse over boundary points (outermost grid ring, or a given set)
``frmse_low``  rmse of the error spectrum in radial band ``0 <= |k| < 4``
``frmse_mid``  rmse of the error spectrum in radial band ``4 <= |k| < 12``
``frmse_high`` rmse of the error spectrum in radial band ``12 <= |k|``
``crmse``      ``|mean_x p - mean_x y|``               (conserved quantity)
=============  ===========================================================

Every metric is computed **per snapshot** (one sample, field, time) and only then averaged
over samples by :mod:`pdeforge.leaderboard.aggregate`.  PDEBench's ``metric_func`` pools
differently for several of its metrics (batch maxima, batch RMS, batch-averaged spectra);
each docstring below says how our number differs from the published code's, so that values
are not compared across the two by name alone.

Fluid masks
-----------
Every metric takes ``mask=`` (default ``None``): a boolean (or 0/1) array, 1 = fluid, 0 =
solid, broadcastable to the arrays (e.g. the spatial shape, or ``(sample, *spatial)`` for an
obstacle per sample).  Sums, means, maxima and the std are then over the fluid points of
each snapshot only (``N`` becomes the number of fluid points); values the prediction or the
target hold on solid points do not matter.  ``brmse`` uses the fluid region's boundary ring,
``frmse_*`` the spectrum of the error zeroed on solid points (see their docstrings).  A
snapshot without fluid points raises ``ValueError``.  ``mask=None`` runs the unmasked code,
bit for bit the values of before masks existed.

Rollout metrics
---------------
A second kind of registered metric (``Metric.rollout``) scores a whole *rollout*: arrays of
shape ``(..., t, *spatial)`` (the time axis just before the spatial axes; ``compute_all``
arranges that) with one value per leading index *without* ``t``, e.g. ``(sample, field)``.
``t`` runs over the **predicted** frames only: the scorer drops the given initial frame(s)
first (``rollout_start``, :mod:`pdeforge.contracts.predictions`), so step ``k = 1, 2, ...``
is ``t[k - 1]`` of the arrays these functions see.

=======================  ==============================================================
``rollout_rel_l2``       ``||p - y||_2 / ||y||_2`` over the whole space-time trajectory
                         (all predicted frames and points at once)
``steps_to_threshold``   number of leading steps with per-step ``rel_l2 <= 0.1``
                         (:data:`ROLLOUT_THRESHOLD`); ``n_steps`` if never exceeded;
                         **higher is better**
=======================  ==============================================================

The per-step error curve itself is the snapshot metric ``rel_l2`` kept along ``t``, and
:func:`cumulative_mean` gives the running mean ``c_k = (1/k) sum_{j<=k} e_j`` of a per-step
curve (the "accumulated" curve; its last value is the board's mean of ``rel_l2`` over
steps), see :func:`pdeforge.leaderboard.score.rollout_curve`.  Rollout metrics take the same
``mask=`` (fluid points only) and follow the same NaN rule (degenerate targets give NaN).
:func:`list_metrics` lists the snapshot metrics by default (``kind="rollout"`` / ``"all"``
for the others), so code that evaluates "every metric" per snapshot is unchanged.

Note that, *per field snapshot*, ``nrmse`` and ``rel_l2`` are the same number
(``sqrt(sum e^2 / N) / sqrt(sum y^2 / N) = ||e|| / ||y||``).  Both are kept
because the literature reports them under both names; conventions differ only
in what is pooled into the norm (here: one field at one time, never pooled).

Degenerate denominators (zero / constant targets)
-------------------------------------------------
The relative metrics (``rel_l2``, ``nrmse``, ``vrmse``) do **not** add an
epsilon to the denominator, because an additive epsilon turns an undefined
ratio into a huge, finite and misleading number.  Instead a denominator ``d``
is *degenerate* when::

    d <= DENOM_RTOL * max_x |y|        with DENOM_RTOL = 1e-12

(which includes ``d == 0``, and in particular every target that is identically
zero).  The test is scale-free: it only fires when the denominator is
negligible relative to the target's own magnitude -- in practice when the
target is identically zero (all three metrics) or spatially constant up to
round-off (``vrmse``).  Degenerate entries are returned as **NaN** and a
:class:`DegenerateTargetWarning` is emitted with the count.  NaN then
propagates through :mod:`pdeforge.leaderboard.aggregate` (which deliberately
does not use ``nanmean``), so such a case cannot silently disappear from a
leaderboard.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from pdeforge.errors import UnknownNameError
from pdeforge.registry import Registry

__all__ = [
    "DENOM_RTOL",
    "FRMSE_BANDS",
    "ROLLOUT_THRESHOLD",
    "DegenerateTargetWarning",
    "Metric",
    "METRICS",
    "register_metric",
    "get_metric",
    "list_metrics",
    "compute_all",
    "boundary_ring_mask",
    "fluid_boundary",
    "radial_wavenumber",
    "frmse_bands",
    "rel_l2",
    "rmse",
    "nrmse",
    "vrmse",
    "max_err",
    "brmse",
    "frmse_low",
    "frmse_mid",
    "frmse_high",
    "crmse",
    "rollout_rel_l2",
    "steps_to_threshold",
    "cumulative_mean",
]

#: Relative tolerance of the degenerate-denominator test (see module docstring).
DENOM_RTOL = 1e-12

#: Per-step ``rel_l2`` above which a rollout step counts as failed (``steps_to_threshold``).
ROLLOUT_THRESHOLD = 0.1

#: Radial wavenumber bands ``[lo, hi)`` of the frmse_* metrics.
FRMSE_BANDS = {
    "low": (0.0, 4.0),
    "mid": (4.0, 12.0),
    "high": (12.0, np.inf),
}


class DegenerateTargetWarning(RuntimeWarning):
    """A relative metric met a zero/constant target and returned NaN there."""


# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    Attributes
    ----------
    name: registry key.
    fn: ``fn(pred, target, *, ndim_space=2, **kw) -> ndarray`` of the leading
        shape ``pred.shape[:-ndim_space]``.
    doc: the pinned definition (the function's docstring).
    higher_is_better: ``False`` for the error metrics, ``True`` for ``steps_to_threshold``.
    accepts_boundary: whether ``fn`` takes a ``boundary=`` keyword (an explicit boundary
        point set, ``brmse``).  Every metric takes ``mask=`` (the fluid mask).
    relative: whether the metric divides by a norm of the target, so that it is NaN *by
        design* for a degenerate (zero / constant) target (see the module docstring).  For
        the other metrics NaN or inf can only come from the inputs or from overflow.
    rollout: whether the metric scores a whole rollout (see "Rollout metrics" in the module
        docstring): ``fn`` takes arrays ``(..., t, *spatial)`` and also reduces over ``t``
        (the axis just before the spatial axes).  ``False``: a per-snapshot metric.
    """

    name: str
    fn: Callable[..., np.ndarray]
    doc: str
    higher_is_better: bool = False
    accepts_boundary: bool = False
    relative: bool = False
    rollout: bool = False

    def __call__(self, pred, target, **kwargs):
        return self.fn(pred, target, **kwargs)


#: name -> :class:`Metric` (the project's one registry idiom, :class:`pdeforge.registry.Registry`)
METRICS: Registry[Metric] = Registry("metric")
#: registration order (tables and score files list the metrics in this order)
_ORDER: list[str] = []


def register_metric(name: str | None = None, *, higher_is_better: bool = False,
                    accepts_boundary: bool = False, relative: bool = False,
                    rollout: bool = False):
    """Decorator registering ``fn`` in :data:`METRICS` under ``name``.

    The function's docstring becomes ``Metric.doc``.  Registering an existing
    name raises ``ValueError`` (definitions are pinned, not overridable).
    The decorated function itself is returned unchanged.
    """

    def deco(fn):
        key = name or fn.__name__
        doc = (fn.__doc__ or "").strip()
        METRICS.register(key)(Metric(key, fn, doc, higher_is_better, accepts_boundary, relative,
                                     rollout))
        _ORDER.append(key)
        return fn

    return deco


_KINDS = ("snapshot", "rollout", "all")


def list_metrics(kind: str = "snapshot") -> list[str]:
    """Names of the registered metrics of ``kind``, in registration order.

    ``"snapshot"`` (default): the per-snapshot metrics (one value per sample, field, time);
    ``"rollout"``: the rollout metrics (one value per sample, field; see the module
    docstring); ``"all"``: both.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    if kind == "all":
        return list(_ORDER)
    want = kind == "rollout"
    return [n for n in _ORDER if METRICS.get(n).rollout is want]


def get_metric(name: str) -> Metric:
    """Look a metric up by name; an unknown name raises
    :class:`~pdeforge.errors.UnknownNameError` (a ``ValueError`` and a ``PdeforgeError``)
    listing the known ones."""
    if not isinstance(name, str):
        raise UnknownNameError("metric", repr(name), METRICS.names())
    return METRICS.get(name)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _prepare(pred, target, ndim_space: int):
    """float64 copies of pred/target, shape checks, and the spatial axes."""
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {y.shape}")
    ndim_space = int(ndim_space)
    if ndim_space < 1:
        raise ValueError(f"ndim_space must be >= 1, got {ndim_space}")
    if p.ndim < ndim_space:
        raise ValueError(
            f"arrays have {p.ndim} axes but ndim_space={ndim_space} spatial axes are required"
        )
    space_shape = p.shape[p.ndim - ndim_space:]
    if any(n == 0 for n in space_shape):
        raise ValueError(f"empty spatial shape {space_shape}")
    axes = tuple(range(-ndim_space, 0))
    return p, y, axes


def _safe_ratio(num, den, target, axes, name):
    """num / den, NaN (with a warning) where den is degenerate, see module doc."""
    scale = np.max(np.abs(target), axis=axes)
    degenerate = den <= DENOM_RTOL * scale
    out = num / np.where(degenerate, 1.0, den)
    out = np.where(degenerate, np.nan, out)
    n_bad = int(np.count_nonzero(degenerate))
    if n_bad:
        warnings.warn(
            f"{name}: {n_bad} of {np.size(degenerate)} target field(s) are identically zero "
            f"or constant (degenerate denominator); returning NaN for them",
            DegenerateTargetWarning,
            stacklevel=3,
        )
    return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out


def _result(x):
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


def _fluid(mask, shape, ndim_space):
    """The fluid mask as a boolean array of the full ``shape`` and the fluid count per snapshot.

    Accepts booleans or numbers that are all 0 or 1 (a stored ``role = "mask"`` variable),
    broadcastable to ``shape``.  A snapshot with no fluid point raises ``ValueError``.
    """
    m = np.asarray(mask)
    if m.dtype != bool:
        if m.dtype.kind not in "iuf" or not np.all((m == 0) | (m == 1)):
            raise ValueError("mask must be boolean or hold only 0 (solid) and 1 (fluid)")
        m = m != 0
    try:
        m = np.broadcast_to(m, shape)
    except ValueError:
        raise ValueError(f"mask shape {np.shape(mask)} does not broadcast to the arrays' shape "
                         f"{shape}") from None
    axes = tuple(range(-ndim_space, 0))
    count = np.sum(m, axis=axes)
    empty = int(np.count_nonzero(count == 0))
    if empty:
        raise ValueError(f"mask selects no fluid point in {empty} of {np.size(count)} "
                         "snapshot(s)")
    return m, count


def fluid_boundary(mask: np.ndarray, ndim_space: int) -> np.ndarray:
    """Fluid points next to a solid point or the edge of the grid (the mask's boundary ring).

    A fluid point is on the boundary when one of its ``2 * ndim_space`` axis neighbours is
    solid or lies outside the grid.  For an all-fluid mask this is exactly
    :func:`boundary_ring_mask`.  ``mask`` is boolean with the spatial axes last.
    """
    m = np.asarray(mask, dtype=bool)
    interior = m.copy()
    for ax in range(m.ndim - ndim_space, m.ndim):
        n = m.shape[ax]
        lo = [slice(None)] * m.ndim
        hi = [slice(None)] * m.ndim
        # neighbour at i - 1 (none at i = 0) and at i + 1 (none at i = n - 1)
        lo[ax], hi[ax] = slice(1, n), slice(0, n - 1)
        prev = np.zeros_like(m)
        prev[tuple(lo)] = m[tuple(hi)]
        nxt = np.zeros_like(m)
        nxt[tuple(hi)] = m[tuple(lo)]
        interior &= prev & nxt
    return m & ~interior


def boundary_ring_mask(space_shape: Sequence[int]) -> np.ndarray:
    """Boolean mask of the outermost ring of grid points of an n-D grid.

    A point is on the ring when any of its indices is ``0`` or ``n - 1``.
    (Axes of length 1 or 2 make every point a boundary point.)
    """
    space_shape = tuple(int(n) for n in space_shape)
    mask = np.zeros(space_shape, dtype=bool)
    for ax in range(len(space_shape)):
        idx = [slice(None)] * len(space_shape)
        idx[ax] = 0
        mask[tuple(idx)] = True
        idx[ax] = -1
        mask[tuple(idx)] = True
    return mask


def radial_wavenumber(space_shape: Sequence[int]) -> np.ndarray:
    """``|k| = sqrt(sum_i k_i^2)`` on the ``fftn`` grid of ``space_shape``.

    ``k_i = fftfreq(n_i, d=1/n_i)``: integer wavenumbers in cycles per domain
    length along axis ``i`` (0, 1, ..., -1; the Nyquist mode of an even axis
    is ``-n/2``).  Independent of the physical grid spacing.
    """
    grids = np.meshgrid(
        *[np.fft.fftfreq(int(n), d=1.0 / int(n)) for n in space_shape], indexing="ij"
    )
    return np.sqrt(sum(g * g for g in grids))


# --------------------------------------------------------------------------
# the metrics
# --------------------------------------------------------------------------


@register_metric("rel_l2", relative=True)
def rel_l2(pred, target, *, ndim_space: int = 2, mask=None):
    """Relative L2 error ``||p - y||_2 / ||y||_2`` over the spatial points.

    FNO / neuraloperator / ConDiff convention, evaluated per field snapshot
    (one value per leading index; nothing is pooled across samples, fields or
    time).  No epsilon: if ``||y||_2 <= DENOM_RTOL * max|y|`` (i.e. the target
    is identically zero) the result is NaN with a ``DegenerateTargetWarning``.
    With ``mask``: both norms over the fluid points.  (neuraloperator's
    ``LpLoss`` sums the per-sample ratios of a batch and the trainers divide by
    the number of samples, which is this mean; a loss that divides batch sums
    of ``||e||^2`` and ``||y||^2`` is a different, energy-weighted number.)
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    if mask is not None:
        m, _ = _fluid(mask, p.shape, ndim_space)
        e, yf = np.where(m, p - y, 0.0), np.where(m, y, 0.0)
        num = np.sqrt(np.sum(e * e, axis=axes))
        den = np.sqrt(np.sum(yf * yf, axis=axes))
        return _safe_ratio(num, den, yf, axes, "rel_l2")
    num = np.sqrt(np.sum((p - y) ** 2, axis=axes))
    den = np.sqrt(np.sum(y * y, axis=axes))
    return _safe_ratio(num, den, y, axes, "rel_l2")


@register_metric("rmse")
def rmse(pred, target, *, ndim_space: int = 2, mask=None):
    """Root-mean-square error ``sqrt(mean_x (p - y)^2)`` over the spatial points.

    Absolute metric, no denominator, no epsilon.  With ``mask``: the mean over
    the fluid points.  PDEBench's ``err_RMSE`` is the same per snapshot, but its
    script averages batch means (``sum / n_batches``), which weights an uneven
    last batch differently from this per-sample mean.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    if mask is not None:
        m, count = _fluid(mask, p.shape, ndim_space)
        e = np.where(m, p - y, 0.0)
        return _result(np.sqrt(np.sum(e * e, axis=axes) / count))
    return _result(np.sqrt(np.mean((p - y) ** 2, axis=axes)))


@register_metric("nrmse", relative=True)
def nrmse(pred, target, *, ndim_space: int = 2, mask=None):
    """Normalised RMSE ``rmse / sqrt(mean_x y^2)`` (PDEBench nRMSE).

    Per field snapshot this equals ``rel_l2`` exactly.  No epsilon: a target
    with ``sqrt(mean_x y^2) <= DENOM_RTOL * max|y|`` (identically zero) gives
    NaN with a ``DegenerateTargetWarning``.  PDEBench's ``err_nRMSE`` is the
    same per-sample ratio averaged over the batch (no epsilon either), so the
    two agree up to its mean of batch means.  With ``mask``: both means over
    the fluid points.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    if mask is not None:
        m, count = _fluid(mask, p.shape, ndim_space)
        e, yf = np.where(m, p - y, 0.0), np.where(m, y, 0.0)
        num = np.sqrt(np.sum(e * e, axis=axes) / count)
        den = np.sqrt(np.sum(yf * yf, axis=axes) / count)
        return _safe_ratio(num, den, yf, axes, "nrmse")
    num = np.sqrt(np.mean((p - y) ** 2, axis=axes))
    den = np.sqrt(np.mean(y * y, axis=axes))
    return _safe_ratio(num, den, y, axes, "nrmse")


@register_metric("vrmse", relative=True)
def vrmse(pred, target, *, ndim_space: int = 2, mask=None):
    """Variance-scaled RMSE ``rmse / std_x(y)`` (VRMSE as The Well's paper defines it).

    ``std_x`` is the population standard deviation over the spatial points
    (``ddof=0``, two-pass: ``sqrt(mean_x (y - mean_x y)^2)``).  No additive
    epsilon: if ``std_x(y) <= DENOM_RTOL * max|y|`` (the target is zero or
    spatially constant up to round-off) the result is NaN with a
    ``DegenerateTargetWarning`` instead of a huge finite number.  With
    ``mask``: rmse, mean and std over the fluid points.

    The Well's code (``the_well.benchmark.metrics``: its ``nrmse`` with
    ``norm_mode="std"``) computes ``sqrt(mean_x e^2 / (var_x(y) + eps))`` with
    torch's default, Bessel-corrected variance (``ddof = 1``) and
    ``eps = 1e-7`` added to the variance.  Without the epsilon ours is larger by
    the factor ``sqrt(N / (N - 1))``: ``1 + 1.2e-4`` at 64^2 points, ``1 + 3.1e-5``
    at 128^2.  The epsilon lowers The Well's value by about ``eps / (2 var)``
    relative: negligible for O(1) fields, but 0.5 % at ``var = 1e-5`` and not
    small for low-amplitude targets (ConDiff's ``u`` is O(1e-2)), so compare
    with The Well's published numbers only for fields of variance >> 1e-7.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    if mask is not None:
        m, count = _fluid(mask, p.shape, ndim_space)
        e, yf = np.where(m, p - y, 0.0), np.where(m, y, 0.0)
        num = np.sqrt(np.sum(e * e, axis=axes) / count)
        mean = np.sum(yf, axis=axes) / count
        dev = np.where(m, y - np.expand_dims(mean, axes), 0.0)
        den = np.sqrt(np.sum(dev * dev, axis=axes) / count)
        return _safe_ratio(num, den, yf, axes, "vrmse")
    num = np.sqrt(np.mean((p - y) ** 2, axis=axes))
    den = np.std(y, axis=axes, ddof=0)
    return _safe_ratio(num, den, y, axes, "vrmse")


@register_metric("max_err")
def max_err(pred, target, *, ndim_space: int = 2, mask=None):
    """Maximum pointwise error ``max_x |p - y|``.  No epsilon.

    NaN in either input gives NaN (``np.max`` propagates NaN).  With ``mask``:
    the maximum over the fluid points.  Per snapshot, then the *mean* over
    samples on the board; PDEBench's ``err_Max`` is the maximum over the whole
    batch (worst sample), averaged over batches, which is >= this mean and
    depends on the batch size.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    if mask is not None:
        m, _ = _fluid(mask, p.shape, ndim_space)
        return _result(np.max(np.where(m, np.abs(p - y), 0.0), axis=axes))
    return _result(np.max(np.abs(p - y), axis=axes))


@register_metric("brmse", accepts_boundary=True)
def brmse(pred, target, *, ndim_space: int = 2, boundary=None, mask=None):
    """Boundary RMSE ``sqrt(mean_{x in B} (p - y)^2)``.

    ``B`` is the outermost ring of grid points (any index equal to ``0`` or
    ``n - 1`` along any spatial axis, see :func:`boundary_ring_mask`; each
    point once), or, if ``boundary`` is given, the points where that boolean
    array (shape = spatial shape) is True.  An all-False ``boundary`` raises
    ``ValueError``.  No epsilon.

    With a fluid ``mask``: ``B`` is the fluid region's boundary ring
    (:func:`fluid_boundary`: fluid points with a solid neighbour or on the
    edge of the grid, per snapshot), or the given ``boundary`` points that
    are fluid.  PDEBench's ``err_BD`` (2-D) divides the squared errors of the
    four edge lines by ``2 nx + 2 ny``, so its corners count twice, and takes
    the batch mean of the per-sample roots (as here).
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    space_shape = p.shape[p.ndim - ndim_space:]
    if boundary is None:
        b = boundary_ring_mask(space_shape)
    else:
        b = np.asarray(boundary)
        if b.dtype != bool:
            raise ValueError(f"boundary mask must be boolean, got dtype {b.dtype}")
        if b.shape != space_shape:
            raise ValueError(
                f"boundary mask shape {b.shape} does not match spatial shape {space_shape}"
            )
        if not b.any():
            raise ValueError("boundary mask selects no points")
    if mask is not None:
        m, _ = _fluid(mask, p.shape, ndim_space)
        sel = (fluid_boundary(m, ndim_space) if boundary is None
               else m & np.broadcast_to(b, p.shape))
        count = np.sum(sel, axis=axes)
        if np.any(count == 0):
            raise ValueError("the boundary selects no fluid point in "
                             f"{int(np.count_nonzero(count == 0))} snapshot(s)")
        e = np.where(sel, p - y, 0.0)
        return _result(np.sqrt(np.sum(e * e, axis=axes) / count))
    e2 = (p - y) ** 2
    return _result(np.sqrt(np.mean(e2[..., b], axis=-1)))


def _band_weight_matrix(space_shape):
    """(M, n_bands) matrix mapping the rfftn power spectrum to band sums.

    The spectrum is computed with ``rfftn`` (half spectrum along the last
    axis).  Each stored coefficient with ``0 < k_last < n_last / 2`` stands
    for itself and its complex-conjugate mirror ``-k`` (same ``|k|``, same
    ``|E|``), so it gets weight 2; ``k_last = 0`` and the Nyquist column of an
    even axis get weight 1.  The weighted sums equal the full-spectrum
    ``fftn`` sums exactly.
    """
    space_shape = tuple(int(n) for n in space_shape)
    n_last = space_shape[-1]
    freqs = [np.fft.fftfreq(n, d=1.0 / n) for n in space_shape[:-1]]
    k_last = np.fft.rfftfreq(n_last, d=1.0 / n_last)
    grids = np.meshgrid(*freqs, k_last, indexing="ij")
    k = np.sqrt(sum(g * g for g in grids)).ravel()
    w_last = np.where((k_last > 0) & (2 * k_last < n_last), 2.0, 1.0)
    w = np.broadcast_to(w_last, grids[0].shape).ravel()
    mat = np.zeros((k.size, len(FRMSE_BANDS)))
    for j, (lo, hi) in enumerate(FRMSE_BANDS.values()):
        mat[:, j] = np.where((k >= lo) & (k < hi), w, 0.0)
    return mat


def frmse_bands(pred, target, *, ndim_space: int = 2, mask=None) -> dict:
    """All Fourier-band RMSEs at once: ``{"low": ..., "mid": ..., "high": ...}``.

    Same numbers as :func:`frmse_low` / :func:`frmse_mid` /
    :func:`frmse_high` (see their docstring) from a single FFT.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    space_shape = p.shape[p.ndim - ndim_space:]
    lead = p.shape[: p.ndim - ndim_space]
    if mask is None:
        n_points = int(np.prod(space_shape))
        err = p - y
    else:
        m, count = _fluid(mask, p.shape, ndim_space)
        n_points = count.reshape(-1, 1)
        err = np.where(m, p - y, 0.0)
    spec = np.fft.rfftn(err, axes=axes, norm="ortho")
    power = spec.real ** 2 + spec.imag ** 2
    del spec
    sums = power.reshape(int(np.prod(lead)), -1) @ _band_weight_matrix(space_shape)
    vals = np.sqrt(np.maximum(sums, 0.0) / n_points)
    return {
        band: _result(vals[:, j].reshape(lead)) for j, band in enumerate(FRMSE_BANDS)
    }


def _frmse_band(pred, target, ndim_space, band, mask=None):
    return frmse_bands(pred, target, ndim_space=ndim_space, mask=mask)[band]


_FRMSE_DOC = """Fourier-band RMSE of the error, band ``{lo} <= |k| < {hi}``.

    ``E = fftn(p - y, axes=spatial, norm="ortho")`` over the full spectrum
    (computed as a weighted ``rfftn``, which is identical); integer wavenumbers ``k_i = fftfreq(n_i, d=1/n_i)``,
    radial ``|k| = sqrt(sum_i k_i^2)`` (see :func:`radial_wavenumber`); bands
    are half-open ``[lo, hi)``: low [0, 4), mid [4, 12), high [12, inf)::

        frmse_band = sqrt( sum_{{k in band}} |E_k|^2 / N ),  N = #spatial points

    With the orthonormal FFT, Parseval gives ``sum_k |E_k|^2 = sum_x e_x^2``,
    so ``frmse_low^2 + frmse_mid^2 + frmse_high^2 == rmse^2`` exactly (up to
    round-off).  A band containing no modes of the grid gives 0.  No epsilon.

    With a fluid ``mask``: the error is set to 0 on solid points before the
    FFT (over the whole grid), and ``N`` is the number of fluid points, so
    the bands still add up to the masked ``rmse`` (Parseval).  The spectrum
    is that of the fluid error continued by zero into the solid: a fluid
    error that does not vanish at the wall puts energy into the high band
    (the jump at the wall), as it should for an error that is discontinuous
    there; what either array holds on solid points does not matter.

    Not PDEBench's fRMSE.  PDEBench uses the same band edges (iLow = 4,
    iHigh = 12) but a different quantity: the unnormalised ``fftn`` of ``p``
    and ``y`` is kept only in the first quadrant (``0 <= k_x < nx/2``,
    ``0 <= k_y < ny/2``: a quarter of the spectrum, no negative frequencies),
    binned into shells ``floor(|k|)`` up to ``min(nx, ny)/2 - 1`` (the
    corners beyond are dropped), the squared magnitudes of a shell are summed,
    averaged over the *batch* before the square root, scaled by
    ``Lx Ly / (nx ny)``, and a band is the *mean of the per-shell roots*
    (not the root of the band's energy).  On smooth errors its values come
    out 3.5–10x smaller than these; they are not comparable by name.
    """


def frmse_low(pred, target, *, ndim_space: int = 2, mask=None):
    return _frmse_band(pred, target, ndim_space, "low", mask)


def frmse_mid(pred, target, *, ndim_space: int = 2, mask=None):
    return _frmse_band(pred, target, ndim_space, "mid", mask)


def frmse_high(pred, target, *, ndim_space: int = 2, mask=None):
    return _frmse_band(pred, target, ndim_space, "high", mask)


for _band, _fn in (("low", frmse_low), ("mid", frmse_mid), ("high", frmse_high)):
    _lo, _hi = FRMSE_BANDS[_band]
    _fn.__doc__ = _FRMSE_DOC.format(lo=int(_lo), hi=_hi if np.isinf(_hi) else int(_hi))
    register_metric(f"frmse_{_band}")(_fn)
del _band, _fn, _lo, _hi


@register_metric("crmse")
def crmse(pred, target, *, ndim_space: int = 2, mask=None):
    """Conserved-quantity error ``|mean_x p - mean_x y|``.

    Absolute difference of the spatial means (e.g. total mass / N on a
    uniform grid).  Despite the name it is not a root-mean-square over
    points; it is "rmse" only in the sense that the per-snapshot values are
    later averaged like the others (a mean of absolute values over samples).
    PDEBench's ``err_CSV`` is the root of the *batch mean of the squared*
    differences (an RMS over samples, >= our mean of absolute values).  No
    epsilon.  With ``mask``: the means over the fluid points.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    if mask is not None:
        m, count = _fluid(mask, p.shape, ndim_space)
        diff = np.sum(np.where(m, p, 0.0), axis=axes) - np.sum(np.where(m, y, 0.0), axis=axes)
        return _result(np.abs(diff / count))
    return _result(np.abs(np.mean(p, axis=axes) - np.mean(y, axis=axes)))


# --------------------------------------------------------------------------
# rollout metrics (reduce over time as well; the time axis precedes the spatial axes)
# --------------------------------------------------------------------------


def _prepare_rollout(pred, target, ndim_space: int, name: str):
    p, y, axes = _prepare(pred, target, ndim_space)
    if p.ndim < len(axes) + 1:
        raise ValueError(f"{name} needs a time axis before the {len(axes)} spatial axes; got "
                         f"arrays of shape {p.shape}")
    if p.shape[-len(axes) - 1] == 0:
        raise ValueError(f"{name}: no time steps (empty time axis)")
    return p, y, axes, (-len(axes) - 1,) + axes


@register_metric("rollout_rel_l2", relative=True, rollout=True)
def rollout_rel_l2(pred, target, *, ndim_space: int = 2, mask=None):
    """Accumulated error: rel-L2 over the whole space-time trajectory of the predicted steps.

    For steps ``k = 1 .. K`` (the time axis, just before the spatial axes) with errors
    ``e_k = p_k - y_k``::

        rollout_rel_l2 = ||p - y||_2 / ||y||_2  over (t, x)
                       = sqrt( sum_k ||e_k||^2 / sum_k ||y_k||^2 )

    one value per leading index (e.g. per sample and field).  Equivalently the root of the
    target-energy-weighted mean of the squared per-step ``rel_l2``: steps where the target
    is small (a decaying flow's late frames, a flow starting from rest) weigh less than in
    the plain mean over steps of ``rel_l2`` (which the board shows as ``rel_l2``, and whose
    running value is :func:`cumulative_mean`).  No epsilon: a trajectory whose target is
    identically zero gives NaN with a ``DegenerateTargetWarning``.  With ``mask``: both
    norms over the fluid points of every frame (the mask may vary with time); a frame
    without fluid points raises ``ValueError``, as for the snapshot metrics.
    """
    p, y, _, st_axes = _prepare_rollout(pred, target, ndim_space, "rollout_rel_l2")
    if mask is not None:
        m, _ = _fluid(mask, p.shape, ndim_space)
        e, yf = np.where(m, p - y, 0.0), np.where(m, y, 0.0)
    else:
        e, yf = p - y, y
    num = np.sqrt(np.sum(e * e, axis=st_axes))
    den = np.sqrt(np.sum(yf * yf, axis=st_axes))
    return _safe_ratio(num, den, yf, st_axes, "rollout_rel_l2")


@register_metric("steps_to_threshold", higher_is_better=True, relative=True, rollout=True)
def steps_to_threshold(pred, target, *, ndim_space: int = 2, mask=None,
                       threshold: float = ROLLOUT_THRESHOLD):
    """Steps before the per-step error first exceeds ``threshold`` (0.1); higher is better.

    With ``e_k = rel_l2(p_k, y_k)`` per predicted step ``k = 1 .. K`` (masked like
    ``rel_l2`` when ``mask`` is given)::

        steps_to_threshold = min{ k : e_k > threshold } - 1,   or K if no e_k exceeds it

    i.e. the number of leading steps whose error stays at or below the threshold (0 when
    the first predicted step already exceeds it); also the 0-based index of the first
    failing predicted frame.  Counts steps, not time units.  A step whose ``e_k`` is inf
    (overflow) counts as exceeding; any NaN ``e_k`` (degenerate target at some step) makes
    the result NaN, as NaN propagates everywhere else.  Returned as float64 (NaN-able).
    """
    p, y, _, _ = _prepare_rollout(pred, target, ndim_space, "steps_to_threshold")
    e = np.asarray(rel_l2(p, y, ndim_space=ndim_space, mask=mask), dtype=np.float64)
    n_steps = e.shape[-1]
    over = e > float(threshold)
    first = np.where(over.any(axis=-1), np.argmax(over, axis=-1), n_steps).astype(np.float64)
    return _result(np.where(np.isnan(e).any(axis=-1), np.nan, first))


def cumulative_mean(values, axis: int = -1):
    """Running mean along ``axis``: ``c_k = (1/k) sum_{j=1..k} e_j`` (the accumulated curve).

    Applied to a per-step error curve (``rel_l2`` per step of one sample) it is the mean
    error over the first ``k`` steps; its last value is the mean over all steps.  Float64;
    a NaN at step ``j`` makes every ``c_k`` with ``k >= j`` NaN.
    """
    v = np.asarray(values, dtype=np.float64)
    axis = axis % v.ndim if v.ndim else 0
    k = np.arange(1, v.shape[axis] + 1, dtype=np.float64)
    shape = [1] * v.ndim
    shape[axis] = -1
    return np.cumsum(v, axis=axis) / k.reshape(shape)


# --------------------------------------------------------------------------
# xarray front end
# --------------------------------------------------------------------------


def _mask_array(mask, pred, order, spatial_dims):
    """A fluid mask (DataArray or ndarray) as an ndarray broadcastable in ``order``."""
    import xarray as xr

    if not isinstance(mask, xr.DataArray):
        return np.asarray(mask)
    missing = [d for d in spatial_dims if d not in mask.dims]
    foreign = [d for d in mask.dims if d not in order]
    if missing or foreign:
        raise ValueError(f"mask dims {mask.dims} must hold the spatial dims {spatial_dims} and "
                         f"only dims of the predictions {tuple(order)}")
    for d in mask.dims:
        if mask.sizes[d] != pred.sizes[d]:
            raise ValueError(f"size of dim {d!r} differs: mask {mask.sizes[d]} vs pred "
                             f"{pred.sizes[d]}")
        if d in mask.coords and d in pred.coords and not np.array_equal(
                mask[d].values, pred[d].values):
            raise ValueError(f"coordinate {d!r} differs between mask and pred")
    values = mask.transpose(*[d for d in order if d in mask.dims]).values
    shape = [mask.sizes[d] if d in mask.dims else 1 for d in order]
    return values.reshape(shape)


def compute_all(pred, target, spatial_dims: Sequence[str] = ("x", "y"),
                metrics: Iterable[str] | str | None = None, boundary_mask=None, mask=None,
                time_dim: str = "t"):
    """Evaluate metrics on labelled arrays, one value per non-spatial index.

    Parameters
    ----------
    pred, target: ``xarray.DataArray`` with the same dims (any order; target
        is transposed to pred's order), the same sizes, and equal coordinate
        values on shared coordinates.
    spatial_dims: the dims reduced over, in the order used for the FFT/ring
        (any number >= 1).
    metrics: metric names (or one name); ``None`` = every snapshot metric
        (``list_metrics()``; rollout metrics only when named, or with
        ``list_metrics("rollout")``).
    boundary_mask: optional boolean mask for ``brmse`` -- a DataArray over
        ``spatial_dims`` or an ndarray in ``spatial_dims`` order.
    mask: optional fluid mask (1 = fluid, 0 = solid; boolean or 0/1) for every
        metric -- a DataArray whose dims are the spatial dims plus any of
        pred's other dims (e.g. ``sample`` for an obstacle per sample; it is
        broadcast over the dims it lacks, such as ``t``; coordinates it shares
        with pred must be equal), or an ndarray broadcastable to pred's shape
        in (non-spatial dims, ``spatial_dims``) order.  ``None``: every point.
    time_dim: the time dim the rollout metrics reduce over (besides the spatial
        dims); a rollout metric on arrays without it raises ``ValueError``.

    Returns
    -------
    ``xarray.Dataset`` with one variable per metric, dims = the non-spatial
    dims of ``pred`` in pred's order (e.g. ``(sample, field, t)``; rollout
    metrics without ``time_dim``), carrying the non-spatial coordinates of
    ``pred``.  Each variable has attrs
    ``description`` (first line of the pinned definition) and
    ``higher_is_better`` (0/1).
    """
    import xarray as xr

    if not isinstance(pred, xr.DataArray) or not isinstance(target, xr.DataArray):
        raise TypeError("compute_all expects xarray.DataArray pred and target")
    if isinstance(spatial_dims, str):
        spatial_dims = (spatial_dims,)
    spatial_dims = tuple(spatial_dims)
    if not spatial_dims:
        raise ValueError("spatial_dims must name at least one dim")
    if len(set(spatial_dims)) != len(spatial_dims):
        raise ValueError(f"repeated spatial dims: {spatial_dims}")
    if set(pred.dims) != set(target.dims):
        raise ValueError(f"pred dims {pred.dims} and target dims {target.dims} differ")
    missing = [d for d in spatial_dims if d not in pred.dims]
    if missing:
        raise ValueError(f"spatial dims {missing} not found in dims {pred.dims}")
    for d in pred.dims:
        if pred.sizes[d] != target.sizes[d]:
            raise ValueError(
                f"size of dim {d!r} differs: pred {pred.sizes[d]} vs target {target.sizes[d]}"
            )
    for name in set(pred.coords) & set(target.coords):
        a, b = pred.coords[name], target.coords[name]
        if set(a.dims) != set(b.dims) or not np.array_equal(
            a.values, b.transpose(*a.dims).values
        ):
            raise ValueError(f"coordinate {name!r} differs between pred and target")

    lead = tuple(d for d in pred.dims if d not in spatial_dims)
    order = lead + spatial_dims
    p = np.asarray(pred.transpose(*order).values, dtype=np.float64)
    y = np.asarray(target.transpose(*order).values, dtype=np.float64)
    ndim_space = len(spatial_dims)

    boundary = None
    if boundary_mask is not None:
        if isinstance(boundary_mask, xr.DataArray):
            if set(boundary_mask.dims) != set(spatial_dims):
                raise ValueError(
                    f"boundary_mask dims {boundary_mask.dims} must be the spatial dims "
                    f"{spatial_dims}"
                )
            boundary = boundary_mask.transpose(*spatial_dims).values
        else:
            boundary = np.asarray(boundary_mask)
    fluid = None if mask is None else _mask_array(mask, pred, order, spatial_dims)

    if metrics is None:
        names = list_metrics()
    elif isinstance(metrics, str):
        names = [metrics]
    else:
        names = list(metrics)
    chosen = [get_metric(n) for n in names]
    rollout = [m.name for m in chosen if m.rollout]
    if rollout and time_dim not in lead:
        raise ValueError(f"rollout metric(s) {', '.join(rollout)} need a time dim {time_dim!r} "
                         f"besides the spatial dims; pred has dims {pred.dims}")

    coords = {
        k: c for k, c in pred.coords.items()
        if not (set(c.dims) & set(spatial_dims))
    }
    data_vars = {}
    band_names = {f"frmse_{b}": b for b in FRMSE_BANDS}
    bands = None
    for m in chosen:
        kw = {"ndim_space": ndim_space}
        if m.accepts_boundary and boundary is not None:
            kw["boundary"] = boundary
        if fluid is not None:
            kw["mask"] = fluid
        if m.rollout:  # time axis moved to just before the spatial axes
            t_ax, last = lead.index(time_dim), len(lead) - 1
            if fluid is not None:
                kw["mask"] = np.moveaxis(np.broadcast_to(fluid, p.shape), t_ax, last)
            vals = np.asarray(m.fn(np.moveaxis(p, t_ax, last), np.moveaxis(y, t_ax, last), **kw),
                              dtype=np.float64)
            data_vars[m.name] = xr.Variable(
                tuple(d for d in lead if d != time_dim), vals,
                attrs={"description": m.doc.splitlines()[0] if m.doc else m.name,
                       "higher_is_better": int(m.higher_is_better), "rollout": 1})
            continue
        if m.name in band_names:
            if bands is None:  # one FFT shared by the frmse_* metrics
                bands = frmse_bands(p, y, ndim_space=ndim_space, mask=fluid)
            vals = np.asarray(bands[band_names[m.name]], dtype=np.float64)
        else:
            vals = np.asarray(m.fn(p, y, **kw), dtype=np.float64)
        data_vars[m.name] = xr.Variable(
            lead, vals,
            attrs={
                "description": m.doc.splitlines()[0] if m.doc else m.name,
                "higher_is_better": int(m.higher_is_better),
            },
        )
    return xr.Dataset(data_vars, coords=coords, attrs={"spatial_dims": " ".join(spatial_dims)})
