"""Shared fixtures: a tiny ConDiff dataset generated once per session."""

from __future__ import annotations

import shutil

import pytest

from pdeforge.datasets.runner import generate_dataset

#: small but complete: two diffusion configs (low and high variance) and Poisson, all splits
TINY = {
    "grid": "16", "n_train": "6", "n_test": "3", "n_val": "2",
    "configs": "cubic0.1,gaussian2.0,poisson", "samples_per_shard": "4",
}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate_dataset("condiff", TINY, root=root, workers=1, progress=False, log=lambda *a: None)
    return root


@pytest.fixture
def tiny_copy(tiny_root, tmp_path):
    """A private copy of the tiny dataset that a test may damage."""
    dst = tmp_path / "data"
    shutil.copytree(tiny_root, dst)
    return dst
