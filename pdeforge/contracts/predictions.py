"""The predictions file a model hands to the scorer, and its validation.

Format ``pdeforge-predictions/1``
=================================

One netCDF4/HDF5 file (written with ``h5netcdf``) holding one ``xarray.Dataset``:

* **Data variables**: exactly one per *target* variable of the dataset (the names listed
  in the shard attribute ``targets``, e.g. ``u`` for ConDiff; equivalently the variables
  with ``role = "target"``), with the **same name, dims and dim order** as in the test
  split, e.g. ``u (sample, x, y)`` or ``u (sample, t, x, y)``.  No other data variables.
* **dtype**: ``float32`` or ``float64``.  No NaN or inf anywhere.
* **Coordinates**: ``sample`` holds the test-sample indices (the ``sample`` coordinate of
  the test split: every index exactly once, in any order); every other dim (``x``, ``y``,
  ``t`` …) carries a coordinate whose values are *identical* to the dataset's (copy them
  from the test split; the spatial grid is never re-derived).
* **Global attributes**

  ===============  =====================================================================
  ``format``       ``"pdeforge-predictions/1"``
  ``dataset``      dataset name, e.g. ``"condiff"``
  ``config``       config name, e.g. ``"cubic0.1_grid64"``
  ``split``        ``"test"`` (only the test split is scored)
  ``content_key``  the ``content_key`` of the config's ``manifest.json``: identifies the
                   dataset version the predictions were made for
  ``model``        model name, free text (shown on the board, always HTML-escaped)
  ===============  =====================================================================

  ``pdeforge_version`` and ``created_at`` are added by :func:`write_predictions` and are
  informational.

* **Optional attribute** ``rollout_start`` (time-series targets only, i.e. targets with a
  ``t`` dim): an integer ``s >= 0``, the position along ``t`` (0-based index, not a time
  value) of the **first predicted frame**.  Frames ``0 .. s-1`` are the initial state(s)
  given to the model (e.g. ``s = 1`` for an autoregressive rollout from frame 0); the
  variables still hold every frame (same shape as the test split; copy the given frames
  from the truth or write anything finite), but the scorer ignores frames before ``s``:
  every metric, the per-step curve and the rollout metrics cover frames ``s .. n_t - 1``
  only, and frame ``s + k - 1`` is rollout step ``k``.  Must satisfy ``s < n_t``.  Absent:
  ``s = 0``, every frame is scored (the behaviour of files written before the attribute
  existed).  A target without a ``t`` dim with this attribute set is refused.

:func:`write_predictions` builds such a file from plain arrays (or a Dataset) and the
generated dataset, validates it exactly like the scorer will, and writes it atomically
(temporary name in the same directory, fsync, rename).  :func:`load_predictions` opens and
validates a file against the generated dataset; every problem raises
:class:`~pdeforge.contracts.errors.SubmissionError` naming the file and what is wrong.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pdeforge.contracts.errors import SubmissionError
from pdeforge.datasets import store

__all__ = [
    "FORMAT", "SPLIT", "NON_SPATIAL_DIMS", "Reference", "open_reference", "target_names",
    "param_names", "mask_names", "write_predictions", "read_predictions", "validate_predictions",
    "load_predictions", "ROLLOUT_ATTR", "TIME_DIM", "rollout_start_of",
]

FORMAT = "pdeforge-predictions/1"
SPLIT = "test"
#: dims of a target variable that are not reduced over by the metrics
NON_SPATIAL_DIMS = ("sample", "t")
REQUIRED_ATTRS = ("format", "dataset", "config", "split", "content_key", "model")
FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))
#: optional global attribute: index along ``t`` of the first predicted frame (module doc)
ROLLOUT_ATTR = "rollout_start"
TIME_DIM = "t"


def rollout_start_of(pred) -> int:
    """The first predicted frame of a *validated* predictions Dataset (0 when not set)."""
    return int(pred.attrs.get(ROLLOUT_ATTR, 0))


@dataclass
class Reference:
    """The ground truth a predictions file is scored against."""

    dataset: str
    config: str
    cdir: Path
    manifest: dict
    truth: Any  # xarray.Dataset: target and param variables of the test split, in memory
    targets: list[str]
    params: list[str]
    #: ``role == "mask"`` variables of the test split (1 = fluid, 0 = solid), loaded into
    #: ``truth``; the scorer applies each to the targets on its grid
    masks: list[str] = field(default_factory=list)

    @property
    def content_key(self) -> str:
        return self.manifest["content_key"]


def target_names(ds) -> list[str]:
    """Target variables of a split: the ``targets`` attribute, else ``role == "target"``."""
    names = str(ds.attrs.get("targets", "")).split()
    if not names:
        names = [n for n, v in ds.data_vars.items() if v.attrs.get("role") == "target"]
    return names


def param_names(ds) -> list[str]:
    """Per-sample scalar variables with ``role == "param"`` (candidate score groupings)."""
    return [n for n, v in ds.data_vars.items()
            if v.attrs.get("role") == "param" and v.dims == ("sample",)]


def mask_names(ds) -> list[str]:
    """Variables with ``role == "mask"`` (fluid masks: 1 = fluid, 0 = solid)."""
    return [n for n, v in ds.data_vars.items() if v.attrs.get("role") == "mask"]


def open_reference(dataset: str, config: str, root=None, *, label="predictions") -> Reference:
    """Load the test split's targets and params of ``dataset/config`` under ``root``.

    ``label`` (usually the predictions path) prefixes the error messages.
    """
    base = store.resolve_root(root)
    dirs = store.find_config_dirs(base, dataset)
    names = [d.name for d in dirs]
    if not dirs:
        raise SubmissionError(label, f"dataset {dataset!r} is not generated under {base} "
                              f"(run `pdeforge generate {dataset}` or pass --root)")
    if config not in names:
        raise SubmissionError(label, f"config {config!r} of dataset {dataset!r} is not generated "
                              f"under {base}; generated configs: {', '.join(names)}")
    cdir = dirs[names.index(config)]
    manifest = store.read_manifest(cdir)
    split = manifest["splits"].get(SPLIT)
    if split is None:
        raise SubmissionError(label, f"{cdir} has no {SPLIT!r} split")
    have = sum(s["stop"] - s["start"] for s in split["shards"])
    if have != split["n_samples"]:
        raise SubmissionError(label, f"the {SPLIT!r} split under {cdir} is incomplete "
                              f"({have}/{split['n_samples']} samples); finish generating it first")
    ds = store.open_split(cdir, split=SPLIT)
    targets = target_names(ds)
    if not targets:
        raise SubmissionError(label, f"{cdir}: the test split declares no target variables")
    params = param_names(ds)
    masks = [m for m in mask_names(ds) if m not in targets]
    truth = ds[targets + params + masks].load()
    truth.attrs = dict(ds.attrs)
    ds.close()
    return Reference(dataset, config, cdir, manifest, truth, targets, params, masks)


# --------------------------------------------------------------------------- writing


def write_netcdf_atomic(ds, path: Path) -> Path:
    """``ds.to_netcdf`` (h5netcdf) through :func:`pdeforge.atomic.atomic_path`.

    An unwritable destination (permissions, read-only file system, a file where a directory
    should be, an existing directory) raises :class:`~pdeforge.errors.StoreError` naming it.
    """
    from pdeforge.atomic import atomic_path
    from pdeforge.errors import StoreError

    path = Path(path)
    if path.is_dir():
        raise StoreError(f"cannot write {path}: it is a directory")
    for above in path.parents:
        if above.exists():
            if not above.is_dir():
                raise StoreError(f"cannot write {path}: {above} is not a directory")
            break
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return path


def write_predictions(path, predictions, dataset: str, config: str, model: str, root=None, *,
                      rollout_start: int | None = None):
    """Write a ``pdeforge-predictions/1`` file (see the module docstring) atomically.

    ``predictions`` is an ``xarray.Dataset`` holding the target variables, a mapping
    ``{target name: array}`` (ndarray or DataArray), or a single array when the dataset has
    exactly one target.  Plain arrays must be in the test split's order: shape and dim order
    of the target variable, samples in the order of the split's ``sample`` coordinate.
    DataArrays / Datasets may carry their own ``sample`` coordinate (any order) and are
    transposed by dim name.  Arrays keep their dtype (float32 or float64 only).

    ``rollout_start``: for time-series targets, the index along ``t`` of the first frame the
    model predicted (e.g. 1 for a rollout from the given frame 0); written as the
    ``rollout_start`` attribute (see the module docstring).  ``None``: not written (every
    frame is scored).

    The file is validated exactly as the scorer does before it is renamed into place, so a
    file that exists under ``path`` is scoreable.  Returns ``path`` as a ``Path``.
    """
    import xarray as xr

    path = Path(path)
    ref = open_reference(dataset, config, root, label=path)
    truth = ref.truth
    if isinstance(predictions, xr.Dataset):
        items = {n: predictions[n] for n in predictions.data_vars}
    elif isinstance(predictions, Mapping):
        items = dict(predictions)
    else:
        if len(ref.targets) != 1:
            raise SubmissionError(path, f"dataset has {len(ref.targets)} targets "
                                  f"({', '.join(ref.targets)}); pass a mapping name -> array")
        items = {ref.targets[0]: predictions}

    data_vars = {}
    sample_coord = None
    for name, value in items.items():
        if name not in truth:
            raise SubmissionError(path, f"{name!r} is not a target variable; targets: "
                                  f"{', '.join(ref.targets)}")
        dims = truth[name].dims
        if isinstance(value, xr.DataArray):
            if set(value.dims) != set(dims):
                raise SubmissionError(path, f"{name!r} has dims {value.dims}; expected {dims}")
            value = value.transpose(*dims)
            if "sample" in value.coords:
                s = np.asarray(value["sample"].values)
                if sample_coord is not None and not np.array_equal(s, sample_coord):
                    raise SubmissionError(path, "target arrays carry different sample orders")
                sample_coord = s
            value = value.values
        arr = np.asarray(value)
        if arr.shape != truth[name].shape:
            raise SubmissionError(path, f"{name!r} has shape {arr.shape}; the test split's "
                                  f"{name!r} {dims} has shape {truth[name].shape}")
        attrs = {"role": "prediction", "long_name": f"prediction of {name}",
                 "units": truth[name].attrs.get("units", "1")}
        data_vars[name] = (dims, arr, attrs)
    if sample_coord is None:
        sample_coord = np.asarray(truth["sample"].values)

    coords = {"sample": ("sample", sample_coord, dict(truth["sample"].attrs))}
    for name in ref.targets:
        for d in truth[name].dims:
            if d != "sample" and d in truth.coords:
                coords[d] = (d, truth[d].values, dict(truth[d].attrs))
    import pdeforge

    attrs = {
        "format": FORMAT, "dataset": dataset, "config": config, "split": SPLIT,
        "content_key": ref.content_key, "model": str(model),
        "pdeforge_version": pdeforge.__version__,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if rollout_start is not None:
        attrs[ROLLOUT_ATTR] = rollout_start
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    validate_predictions(ds, dataset, root, label=path, reference=ref)
    return write_netcdf_atomic(ds, path)


# --------------------------------------------------------------------------- reading


def read_predictions(path):
    """Open a predictions file fully into memory (no validation beyond readability)."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise SubmissionError(path, "no such predictions file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as exc:  # h5py/h5netcdf raise a variety of types for bad files
        raise SubmissionError(path, f"cannot be read as a netCDF4/HDF5 file: {exc}") from None


def _show(values, k=5) -> str:
    values = list(values)
    head = ", ".join(str(v) for v in values[:k])
    return f"[{head}{', …' if len(values) > k else ''}]"


def validate_predictions(pred, dataset: str, root=None, *, label="predictions",
                         reference: Reference | None = None):
    """Check a predictions Dataset against the generated dataset; return ``(pred, ref)``.

    ``pred`` comes back with its samples in the test split's order.  Raises
    :class:`SubmissionError` (prefixed with ``label``) on the first problem found, in this
    order: format attributes, dataset, split, model, config present, content key (dataset
    version), target variables present / no extra variables, ``sample`` coordinate
    (duplicated, missing, unknown indices), then per variable: dtype, dims, shape,
    coordinates, NaN/inf; last the optional ``rollout_start`` attribute (an integer in
    ``[0, n_t)``, on time-series targets only; stored back as a Python ``int``).
    """
    attrs = pred.attrs
    fmt = attrs.get("format")
    if fmt != FORMAT:
        raise SubmissionError(label, f"not a {FORMAT} file (format attribute is {fmt!r}); "
                              "write it with pdeforge.contracts.predictions.write_predictions")
    missing = [a for a in REQUIRED_ATTRS if a not in attrs]
    if missing:
        raise SubmissionError(label, f"missing global attribute(s): {', '.join(missing)}")
    if str(attrs["dataset"]) != dataset:
        raise SubmissionError(label, f"predictions are for dataset {attrs['dataset']!r}, "
                              f"not {dataset!r}")
    if str(attrs["split"]) != SPLIT:
        raise SubmissionError(label, f"wrong split: predictions are for split "
                              f"{attrs['split']!r}; only the {SPLIT!r} split is scored")
    if not isinstance(attrs["model"], str) or not attrs["model"].strip():
        raise SubmissionError(label, "the 'model' attribute must be a non-empty string")
    config = str(attrs["config"])
    ref = reference or open_reference(dataset, config, root, label=label)
    if ref.config != config:
        raise SubmissionError(label, f"predictions are for config {config!r}, not {ref.config!r}")
    key = str(attrs["content_key"])
    if key != ref.content_key:
        raise SubmissionError(
            label, f"predictions for a different dataset version: content_key {key[:16]}… in "
            f"the file, {ref.content_key[:16]}… in {ref.cdir / store.MANIFEST}; make the "
            "predictions on the current data (or score against the data root they were made on)")

    names = list(pred.data_vars)
    absent = [t for t in ref.targets if t not in names]
    if absent:
        raise SubmissionError(label, f"missing target variable(s): {', '.join(absent)} "
                              f"(the file must hold: {', '.join(ref.targets)})")
    extra = [n for n in names if n not in ref.targets]
    if extra:
        raise SubmissionError(label, f"unexpected variable(s): {', '.join(extra)}; a predictions "
                              f"file holds exactly the target variables {', '.join(ref.targets)}")

    truth = ref.truth
    if "sample" not in pred.coords or pred["sample"].dims != ("sample",):
        raise SubmissionError(label, "no 'sample' coordinate (the test-sample indices)")
    got = np.asarray(pred["sample"].values)
    want = np.asarray(truth["sample"].values)
    if got.dtype.kind not in "iu":
        raise SubmissionError(label, f"the 'sample' coordinate must hold integers, "
                              f"has dtype {got.dtype}")
    uniq, counts = np.unique(got, return_counts=True)
    if np.any(counts > 1):
        raise SubmissionError(label, f"duplicated samples: {_show(uniq[counts > 1])} appear "
                              "more than once; each test sample must appear exactly once")
    lacking = np.setdiff1d(want, got)
    if lacking.size:
        raise SubmissionError(label, f"missing samples: {lacking.size} of {want.size} test "
                              f"samples are absent, e.g. {_show(lacking)}")
    unknown = np.setdiff1d(got, want)
    if unknown.size:
        raise SubmissionError(label, f"sample indices not in the test split: {_show(unknown)} "
                              f"(the test split has {want.size} samples)")
    position = {int(s): i for i, s in enumerate(got)}
    pred = pred.isel(sample=[position[int(s)] for s in want])

    for name in ref.targets:
        p, y = pred[name], truth[name]
        if p.dtype not in FLOAT_DTYPES:
            raise SubmissionError(label, f"variable {name!r} has dtype {p.dtype}; predictions "
                                  "must be float32 or float64")
        if p.dims != y.dims:
            raise SubmissionError(label, f"wrong dims: variable {name!r} has dims {p.dims}; the "
                                  f"test split's {name!r} has dims {y.dims}")
        if p.shape != y.shape:
            raise SubmissionError(label, f"wrong shape: variable {name!r} has shape {p.shape}; "
                                  f"expected {y.shape} for dims {y.dims}")
        for d in y.dims:
            if d == "sample" or d not in truth.coords:
                continue
            if d not in pred.coords:
                raise SubmissionError(label, f"variable {name!r}: dim {d!r} has no coordinate; "
                                      "copy it from the test split")
            a, b = np.asarray(pred[d].values), np.asarray(truth[d].values)
            if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
                raise SubmissionError(
                    label, f"wrong coordinates: {d!r} differs from the test split's "
                    f"(dtype {a.dtype} vs {b.dtype}, values must be identical: copy them from "
                    "the test split)")
        values = np.asarray(p.values)
        finite = np.isfinite(values)
        if not finite.all():
            n_nan = int(np.count_nonzero(np.isnan(values)))
            n_inf = int(values.size - np.count_nonzero(finite) - n_nan)
            first = int(want[np.argwhere(~finite)[0][0]])
            raise SubmissionError(label, f"variable {name!r} contains {n_nan} NaN and {n_inf} "
                                  f"inf value(s) (first in sample {first})")
    _check_rollout_start(pred, ref, label)
    return pred, ref


def _check_rollout_start(pred, ref: Reference, label) -> None:
    """Refuse a ``rollout_start`` attribute that is not an integer in ``[0, n_t)`` or that is
    set on targets without a ``t`` dim."""
    if ROLLOUT_ATTR not in pred.attrs:
        return
    value = pred.attrs[ROLLOUT_ATTR]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SubmissionError(label, f"attribute {ROLLOUT_ATTR!r} must be an integer (the index "
                              f"along {TIME_DIM!r} of the first predicted frame), got {value!r}")
    lacking = [n for n in ref.targets if TIME_DIM not in ref.truth[n].dims]
    if lacking:
        raise SubmissionError(label, f"attribute {ROLLOUT_ATTR!r} is set but target(s) "
                              f"{', '.join(lacking)} have no {TIME_DIM!r} dim; it applies to "
                              "time-series targets only")
    n_t = min(ref.truth[n].sizes[TIME_DIM] for n in ref.targets)
    if not 0 <= int(value) < n_t:
        raise SubmissionError(label, f"attribute {ROLLOUT_ATTR!r} = {int(value)} is out of range: "
                              f"the targets have {n_t} frames along {TIME_DIM!r}, so it must lie "
                              f"in 0 .. {n_t - 1} (0 = every frame is a prediction)")
    pred.attrs[ROLLOUT_ATTR] = int(value)


def load_predictions(path, dataset: str, root=None):
    """Read and validate a predictions file; returns ``(pred, reference)``."""
    return validate_predictions(read_predictions(path), dataset, root, label=Path(path))
