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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a busy 2-core machine: one intra-op thread is faster and stable."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def darcy_manufactured():
    """u = sin(πx) sin(2πy), a = 1 + ½ sin(2πx) cos(πy) (no x ↔ y symmetry), f = −∇·(a∇u)."""
    from numpy import cos, pi, sin

    u = lambda x, y: sin(pi * x) * sin(2 * pi * y)  # noqa: E731
    a = lambda x, y: 1 + 0.5 * sin(2 * pi * x) * cos(pi * y)  # noqa: E731

    def f(x, y):
        ax, ay = pi * cos(2 * pi * x) * cos(pi * y), -0.5 * pi * sin(2 * pi * x) * sin(pi * y)
        ux, uy = pi * cos(pi * x) * sin(2 * pi * y), 2 * pi * sin(pi * x) * cos(2 * pi * y)
        return 5 * pi**2 * a(x, y) * u(x, y) - ax * ux - ay * uy

    return u, a, f
