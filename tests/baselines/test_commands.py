"""``pdeforge train`` option parsing (pdeforge.baselines.commands) through pdeforge.options."""

from __future__ import annotations

import pytest

from pdeforge.baselines.commands import parse_train_options
from pdeforge.errors import InvalidValueError


def test_cli_refuses_repeated_and_malformed_words():
    # one parser for every key=value command line (pdeforge.options): the last word never wins silently
    with pytest.raises(InvalidValueError, match="epochs given twice"):
        parse_train_options("condiff", ["epochs=2", "epochs=3"])
    with pytest.raises(InvalidValueError, match="expected key=value, got 'epochs'"):
        parse_train_options("condiff", ["epochs"])
    with pytest.raises(InvalidValueError, match="empty key"):
        parse_train_options("condiff", ["=3"])
    # two spellings of one setting
    with pytest.raises(InvalidValueError, match="out= and out_dir= set the same 'out_dir'"):
        parse_train_options("condiff", ["out=a", "out_dir=b"])
    with pytest.raises(InvalidValueError, match="width= and model.width= set the same 'width'"):
        parse_train_options("condiff", ["width=8", "model.width=4"])
    # booleans through parse_bool
    for word, want in (("YES", True), ("off", False), ("1", True)):
        assert parse_train_options("condiff", [f"progress={word}"]).progress is want
    assert parse_train_options("condiff", ["amp=on"]).amp is True
    with pytest.raises(InvalidValueError, match="progress='maybe': expected one of 1, true"):
        parse_train_options("condiff", ["progress=maybe"])
    with pytest.raises(InvalidValueError, match="amp='sometimes'"):
        parse_train_options("condiff", ["amp=sometimes"])
