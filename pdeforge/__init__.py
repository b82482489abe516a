"""pdeforge — regenerable PDE datasets, a uniform loader, baselines and a leaderboard.

The user-facing entry points are the ``pdeforge`` command line (``pdeforge.cli``) and
:func:`open_dataset`, which returns a lazy :class:`xarray.Dataset` view of a generated split.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "open_dataset"]


def open_dataset(name_or_path, config=None, split="train", root=None, verify=True):
    """Open a generated split as one lazy :class:`xarray.Dataset`.

    Every shard is checked against the config's manifest first (size, sha256 — skipped with
    ``verify=False`` — and its config/split/sample-range attributes; see
    ``pdeforge.datasets.reading``): a damaged or misplaced file raises ``CorruptFileError``."""
    from pdeforge.datasets.store import open_split

    return open_split(name_or_path, config=config, split=split, root=root, verify=verify)
