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
``nrmse``      ``rmse / sqrt(mean_x y^2)``           (PDEBench)
``vrmse``      ``rmse / std_x(y)``, population std (ddof=0)  (The Well)
``max_err``    ``max_x |e|``
``brmse``      rmse over boundary points (outermost grid ring, or a mask)
``frmse_low``  rmse of the error spectrum in radial band ``0 <= |k| < 4``
``frmse_mid``  rmse of the error spectrum in radial band ``4 <= |k| < 12``
``frmse_high`` rmse of the error spectrum in radial band ``12 <= |k|``
``crmse``      ``|mean_x p - mean_x y|``               (conserved quantity)
=============  ===========================================================

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

__all__ = [
    "DENOM_RTOL",
    "FRMSE_BANDS",
    "DegenerateTargetWarning",
    "Metric",
    "METRICS",
    "register_metric",
    "get_metric",
    "list_metrics",
    "compute_all",
    "boundary_ring_mask",
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
]

#: Relative tolerance of the degenerate-denominator test (see module docstring).
DENOM_RTOL = 1e-12

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
    higher_is_better: always ``False`` for the built-in error metrics.
    accepts_mask: whether ``fn`` takes a ``mask=`` keyword (boundary mask).
    relative: whether the metric divides by a norm of the target, so that it is NaN *by
        design* for a degenerate (zero / constant) target (see the module docstring).  For
        the other metrics NaN or inf can only come from the inputs or from overflow.
    """

    name: str
    fn: Callable[..., np.ndarray]
    doc: str
    higher_is_better: bool = False
    accepts_mask: bool = False
    relative: bool = False

    def __call__(self, pred, target, **kwargs):
        return self.fn(pred, target, **kwargs)


#: name -> :class:`Metric`, in registration order.
METRICS: dict[str, Metric] = {}


def register_metric(name: str | None = None, *, higher_is_better: bool = False,
                    accepts_mask: bool = False, relative: bool = False):
    """Decorator registering ``fn`` in :data:`METRICS` under ``name``.

    The function's docstring becomes ``Metric.doc``.  Registering an existing
    name raises ``ValueError`` (definitions are pinned, not overridable).
    The decorated function itself is returned unchanged.
    """

    def deco(fn):
        key = name or fn.__name__
        if key in METRICS:
            raise ValueError(f"metric {key!r} is already registered")
        doc = (fn.__doc__ or "").strip()
        METRICS[key] = Metric(key, fn, doc, higher_is_better, accepts_mask, relative)
        return fn

    return deco


def list_metrics() -> list[str]:
    """Names of all registered metrics, in registration order."""
    return list(METRICS)


def get_metric(name: str) -> Metric:
    """Look a metric up by name; unknown names raise ``ValueError`` listing the known ones."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        known = ", ".join(METRICS)
        raise ValueError(f"unknown metric {name!r}; known metrics: {known}") from None


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
def rel_l2(pred, target, *, ndim_space: int = 2):
    """Relative L2 error ``||p - y||_2 / ||y||_2`` over the spatial points.

    FNO / neuraloperator / ConDiff convention, evaluated per field snapshot
    (one value per leading index; nothing is pooled across samples, fields or
    time).  No epsilon: if ``||y||_2 <= DENOM_RTOL * max|y|`` (i.e. the target
    is identically zero) the result is NaN with a ``DegenerateTargetWarning``.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    num = np.sqrt(np.sum((p - y) ** 2, axis=axes))
    den = np.sqrt(np.sum(y * y, axis=axes))
    return _safe_ratio(num, den, y, axes, "rel_l2")


@register_metric("rmse")
def rmse(pred, target, *, ndim_space: int = 2):
    """Root-mean-square error ``sqrt(mean_x (p - y)^2)`` over the spatial points.

    Absolute metric, no denominator, no epsilon.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    return _result(np.sqrt(np.mean((p - y) ** 2, axis=axes)))


@register_metric("nrmse", relative=True)
def nrmse(pred, target, *, ndim_space: int = 2):
    """Normalised RMSE ``rmse / sqrt(mean_x y^2)`` (PDEBench nRMSE).

    Per field snapshot this equals ``rel_l2`` exactly.  No epsilon: a target
    with ``sqrt(mean_x y^2) <= DENOM_RTOL * max|y|`` (identically zero) gives
    NaN with a ``DegenerateTargetWarning``.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    num = np.sqrt(np.mean((p - y) ** 2, axis=axes))
    den = np.sqrt(np.mean(y * y, axis=axes))
    return _safe_ratio(num, den, y, axes, "nrmse")


@register_metric("vrmse", relative=True)
def vrmse(pred, target, *, ndim_space: int = 2):
    """Variance-scaled RMSE ``rmse / std_x(y)`` (The Well's VRMSE).

    ``std_x`` is the population standard deviation over the spatial points
    (``ddof=0``, two-pass: ``sqrt(mean_x (y - mean_x y)^2)``).  No additive
    epsilon: if ``std_x(y) <= DENOM_RTOL * max|y|`` (the target is zero or
    spatially constant up to round-off) the result is NaN with a
    ``DegenerateTargetWarning`` instead of a huge finite number.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    num = np.sqrt(np.mean((p - y) ** 2, axis=axes))
    den = np.std(y, axis=axes, ddof=0)
    return _safe_ratio(num, den, y, axes, "vrmse")


@register_metric("max_err")
def max_err(pred, target, *, ndim_space: int = 2):
    """Maximum pointwise error ``max_x |p - y|``.  No epsilon.

    NaN in either input gives NaN (``np.max`` propagates NaN).
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    return _result(np.max(np.abs(p - y), axis=axes))


@register_metric("brmse", accepts_mask=True)
def brmse(pred, target, *, ndim_space: int = 2, mask=None):
    """Boundary RMSE ``sqrt(mean_{x in B} (p - y)^2)``.

    ``B`` is the outermost ring of grid points (any index equal to ``0`` or
    ``n - 1`` along any spatial axis, see :func:`boundary_ring_mask`), or, if
    ``mask`` is given, the points where the boolean ``mask`` (shape = spatial
    shape) is True.  An all-False mask raises ``ValueError``.  No epsilon.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    space_shape = p.shape[p.ndim - ndim_space:]
    if mask is None:
        m = boundary_ring_mask(space_shape)
    else:
        m = np.asarray(mask)
        if m.dtype != bool:
            raise ValueError(f"boundary mask must be boolean, got dtype {m.dtype}")
        if m.shape != space_shape:
            raise ValueError(
                f"boundary mask shape {m.shape} does not match spatial shape {space_shape}"
            )
        if not m.any():
            raise ValueError("boundary mask selects no points")
    e2 = (p - y) ** 2
    return _result(np.sqrt(np.mean(e2[..., m], axis=-1)))


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


def frmse_bands(pred, target, *, ndim_space: int = 2) -> dict:
    """All Fourier-band RMSEs at once: ``{"low": ..., "mid": ..., "high": ...}``.

    Same numbers as :func:`frmse_low` / :func:`frmse_mid` /
    :func:`frmse_high` (see their docstring) from a single FFT.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    space_shape = p.shape[p.ndim - ndim_space:]
    lead = p.shape[: p.ndim - ndim_space]
    n_points = int(np.prod(space_shape))
    spec = np.fft.rfftn(p - y, axes=axes, norm="ortho")
    power = spec.real ** 2 + spec.imag ** 2
    del spec
    sums = power.reshape(int(np.prod(lead)), -1) @ _band_weight_matrix(space_shape)
    vals = np.sqrt(np.maximum(sums, 0.0) / n_points)
    return {
        band: _result(vals[:, j].reshape(lead)) for j, band in enumerate(FRMSE_BANDS)
    }


def _frmse_band(pred, target, ndim_space, band):
    return frmse_bands(pred, target, ndim_space=ndim_space)[band]


_FRMSE_DOC = """Fourier-band RMSE of the error, band ``{lo} <= |k| < {hi}``.

    ``E = fftn(p - y, axes=spatial, norm="ortho")`` over the full spectrum
    (computed as a weighted ``rfftn``, which is identical); integer wavenumbers ``k_i = fftfreq(n_i, d=1/n_i)``,
    radial ``|k| = sqrt(sum_i k_i^2)`` (see :func:`radial_wavenumber`); bands
    are half-open ``[lo, hi)``: low [0, 4), mid [4, 12), high [12, inf)::

        frmse_band = sqrt( sum_{{k in band}} |E_k|^2 / N ),  N = #spatial points

    With the orthonormal FFT, Parseval gives ``sum_k |E_k|^2 = sum_x e_x^2``,
    so ``frmse_low^2 + frmse_mid^2 + frmse_high^2 == rmse^2`` exactly (up to
    round-off).  A band containing no modes of the grid gives 0.  No epsilon.
    """


def frmse_low(pred, target, *, ndim_space: int = 2):
    return _frmse_band(pred, target, ndim_space, "low")


def frmse_mid(pred, target, *, ndim_space: int = 2):
    return _frmse_band(pred, target, ndim_space, "mid")


def frmse_high(pred, target, *, ndim_space: int = 2):
    return _frmse_band(pred, target, ndim_space, "high")


for _band, _fn in (("low", frmse_low), ("mid", frmse_mid), ("high", frmse_high)):
    _lo, _hi = FRMSE_BANDS[_band]
    _fn.__doc__ = _FRMSE_DOC.format(lo=int(_lo), hi=_hi if np.isinf(_hi) else int(_hi))
    register_metric(f"frmse_{_band}")(_fn)
del _band, _fn, _lo, _hi


@register_metric("crmse")
def crmse(pred, target, *, ndim_space: int = 2):
    """Conserved-quantity error ``|mean_x p - mean_x y|``.

    Absolute difference of the spatial means (e.g. total mass / N on a
    uniform grid).  Despite the name it is not a root-mean-square over
    points; it is "rmse" only in the sense that the per-snapshot values are
    later averaged like the others.  No epsilon.
    """
    p, y, axes = _prepare(pred, target, ndim_space)
    return _result(np.abs(np.mean(p, axis=axes) - np.mean(y, axis=axes)))


# --------------------------------------------------------------------------
# xarray front end
# --------------------------------------------------------------------------


def compute_all(pred, target, spatial_dims: Sequence[str] = ("x", "y"),
                metrics: Iterable[str] | str | None = None, boundary_mask=None):
    """Evaluate metrics on labelled arrays, one value per non-spatial index.

    Parameters
    ----------
    pred, target: ``xarray.DataArray`` with the same dims (any order; target
        is transposed to pred's order), the same sizes, and equal coordinate
        values on shared coordinates.
    spatial_dims: the dims reduced over, in the order used for the FFT/ring
        (any number >= 1).
    metrics: metric names (or one name); ``None`` = all registered metrics.
    boundary_mask: optional boolean mask for ``brmse`` -- a DataArray over
        ``spatial_dims`` or an ndarray in ``spatial_dims`` order.

    Returns
    -------
    ``xarray.Dataset`` with one variable per metric, dims = the non-spatial
    dims of ``pred`` in pred's order (e.g. ``(sample, field, t)``), carrying
    the non-spatial coordinates of ``pred``.  Each variable has attrs
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

    mask = None
    if boundary_mask is not None:
        if isinstance(boundary_mask, xr.DataArray):
            if set(boundary_mask.dims) != set(spatial_dims):
                raise ValueError(
                    f"boundary_mask dims {boundary_mask.dims} must be the spatial dims "
                    f"{spatial_dims}"
                )
            mask = boundary_mask.transpose(*spatial_dims).values
        else:
            mask = np.asarray(boundary_mask)

    if metrics is None:
        names = list_metrics()
    elif isinstance(metrics, str):
        names = [metrics]
    else:
        names = list(metrics)
    chosen = [get_metric(n) for n in names]

    coords = {
        k: c for k, c in pred.coords.items()
        if not (set(c.dims) & set(spatial_dims))
    }
    data_vars = {}
    band_names = {f"frmse_{b}": b for b in FRMSE_BANDS}
    bands = None
    for m in chosen:
        kw = {"ndim_space": ndim_space}
        if m.accepts_mask and mask is not None:
            kw["mask"] = mask
        if m.name in band_names:
            if bands is None:  # one FFT shared by the frmse_* metrics
                bands = frmse_bands(p, y, ndim_space=ndim_space)
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
