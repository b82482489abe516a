"""The contract every registered dataset family meets, checked on its ``Family.tiny`` card.

For each shipped card (hence each family, found by its card's generator name): generate the tiny
dataset → every shard passes ``pdeforge check`` against its manifest → ``verify`` with two
regenerated samples is clean → a rerun is a no-op → every split opens as an xarray view with
named dims → the uniform loader serves the card's task (rollout when the targets carry a time
dim) with finite float32 tensors → two worker processes write byte-identical shards. Adding a
family = a card + a generator module + this test passing for it (plus its own validation tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pdeforge import open_dataset
from pdeforge.datasets.cards import card_names
from pdeforge.datasets.checks import check_file
from pdeforge.datasets.family import effective_card
from pdeforge.datasets.hashing import file_sha256
from pdeforge.datasets.loader import TorchDataset
from pdeforge.datasets.runner import generate_dataset
from pdeforge.datasets.verify import verify

QUIET = dict(progress=False, log=lambda *a: None)
NAMES = card_names()


def tiny(name: str) -> dict[str, str]:
    _, family = effective_card(name)
    assert family.tiny, f"family of {name!r} declares no tiny card (Family.tiny)"
    return dict(family.tiny)


@pytest.fixture(scope="module", params=NAMES)
def generated(request, tmp_path_factory):
    name = request.param
    root = tmp_path_factory.mktemp(name)
    report = generate_dataset(name, tiny(name), root=root, workers=1, **QUIET)
    return name, root, report


def test_every_shipped_card_has_a_family_and_a_tiny_card():
    assert {"condiff", "darcy", "darcy_pdebench", "diffusion", "ns2d"} <= set(NAMES)
    for name in NAMES:
        card, family = effective_card(name, tiny(name))
        assert family.configs(card) and family.splits(card)


def test_shards_pass_check_against_their_manifest(generated):
    name, root, report = generated
    files = sorted(Path(root).rglob("shard-*.nc"))
    assert files and len(files) == report.written
    for path in files:
        problems, note = check_file(path)
        assert problems == [] and "against the manifest" in note


def test_verify_regenerates_bit_for_bit(generated):
    name, root, _ = generated
    lines = []
    assert verify(name, root=root, regenerate=2, seed=0, log=lines.append) == []
    assert sum("bit-identical" in ln for ln in lines) == 2


def test_rerun_is_a_noop(generated):
    name, root, report = generated
    again = generate_dataset(name, tiny(name), root=root, workers=1, **QUIET)
    assert again.written == 0 and again.skipped == report.written


def test_views_keep_named_dims_and_loader_serves_the_task(generated):
    name, root, _ = generated
    card, family = effective_card(name, tiny(name))
    for config in family.configs(card):
        specs = family.variables(card, config)
        for split in family.splits(card):
            ds = open_dataset(name, config=config.name, split=split, root=root)
            for var, spec in specs.items():
                assert ds[var].dims == ("sample", *spec.dims), (config.name, var)
                assert ds[var].attrs["role"] == spec.role
        targets = ds.attrs["targets"].split()  # the task, per config, as the shards declare it
        rollout = "t" in specs[targets[0]].dims
        loader = TorchDataset(name, config=config.name, split="train", root=root,
                              mode="rollout" if rollout else "operator")
        x, y = loader[len(loader) - 1][:2]
        assert x.dtype == y.dtype and str(x.dtype) == "torch.float32"
        assert x.ndim == y.ndim == 1 + len(loader.grid_shape)
        assert np.isfinite(x.numpy()).all() and np.isfinite(y.numpy()).all()


def test_two_workers_write_byte_identical_shards(generated, tmp_path):
    name, root, _ = generated
    generate_dataset(name, tiny(name), root=tmp_path, workers=2, **QUIET)
    theirs = sorted((tmp_path / name).rglob("shard-*.nc"))
    assert theirs
    for path in theirs:
        ours = Path(root) / path.relative_to(tmp_path)
        assert file_sha256(path) == file_sha256(ours), path.relative_to(tmp_path)
