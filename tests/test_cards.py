"""Cards, overrides and the names a user can type: clear errors listing the valid names."""

import pytest

from pdeforge.datasets.cards import card_names, load_card
from pdeforge.datasets.runner import effective_card
from pdeforge.errors import InvalidValueError, UnknownNameError


def test_published_family_has_26_configs_with_published_names():
    card, family = effective_card("condiff")
    names = [c.name for c in family.configs(card)]
    assert len(names) == 26
    assert names[0] == "cubic0.1_grid64"
    assert "gaussian2.0_grid128" in names and "poisson_grid64" in names and "poisson_grid128" in names
    assert family.splits(card) == {"train": 1000, "test": 200, "val": 100}
    assert card.get("seeding.master_seed") == 42


def test_unknown_dataset_lists_known():
    with pytest.raises(UnknownNameError) as e:
        load_card("condif")
    assert "condiff" in str(e.value) and "condif" in str(e.value)


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(UnknownNameError) as e:
        effective_card("condiff", {"gird": "64"})
    msg = str(e.value)
    assert "gird" in msg and "grid" in msg and "n_train" in msg


def test_unknown_config_lists_valid_ones():
    with pytest.raises(UnknownNameError) as e:
        effective_card("condiff", {"configs": "cubic0.3"})
    assert "cubic0.1_grid64" in str(e.value)


@pytest.mark.parametrize("key,value,needle", [
    ("grid", "3", "out of range"),
    ("grid", "sixty", "whole number"),
    ("n_train", "-5", "out of range"),
    ("mode", "fast", "independent"),
    ("variances", "0.3", "no contrast band"),
    ("covariances", "matern", "cubic"),
    ("solver", "cholesky", "direct"),
])
def test_out_of_range_values_are_rejected(key, value, needle):
    with pytest.raises(InvalidValueError) as e:
        effective_card("condiff", {key: value})
    assert needle in str(e.value)


def test_overrides_select_and_resize():
    card, family = effective_card("condiff", {"grid": "128", "n_train": "100", "configs": "cubic0.1,poisson"})
    assert [c.name for c in family.configs(card)] == ["cubic0.1_grid128", "poisson_grid128"]
    assert family.splits(card)["train"] == 100
    assert card.overrides["grid"] == "128"


def test_content_key_ignores_split_sizes_and_selection():
    c1, fam = effective_card("condiff", {"n_train": "10"})
    c2, _ = effective_card("condiff", {"n_train": "20", "configs": "cubic0.1_grid64"})
    cfg = fam.config(c1, "cubic0.1_grid64")
    assert fam.content_key(c1, cfg) == fam.content_key(c2, cfg)
    c3, _ = effective_card("condiff", {"seed": "7"})
    assert fam.content_key(c3, cfg) != fam.content_key(c1, cfg)


def test_card_names():
    assert "condiff" in card_names()
