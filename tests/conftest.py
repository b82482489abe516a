"""Shared fixtures: a tiny ConDiff dataset generated once per session."""

from __future__ import annotations


import shutil

import pytest

from pdeforge.datasets.runner import generate_dataset
from shared_data import TINY, darcy_manufactured  # noqa: F401 - re-exported for fixtures

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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a busy 2-core machine: one intra-op thread is faster and stable."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
