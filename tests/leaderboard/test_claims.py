"""Claims files checked against the board."""

from __future__ import annotations

import numpy as np
import pytest

from pdeforge import cli
from pdeforge.contracts.predictions import write_predictions
from pdeforge.datasets.store import open_split
from pdeforge.errors import PdeforgeError
from pdeforge.leaderboard.claims import check_claims, read_claims
from pdeforge.leaderboard.errors import ClaimsError
from pdeforge.leaderboard.submit import submit

DS = "condiff"
CFG = "cubic0.1_grid16"


@pytest.fixture(scope="module")
def board(tiny_root, tmp_path_factory):
    """Two entries: rel_l2 exactly 0.02 (FNO-64) and 0.05 (U-Net) on every sample."""
    tmp = tmp_path_factory.mktemp("claims")
    with open_split(DS, config=CFG, split="test", root=tiny_root) as t:
        u = t["u"].values
    for model, eps in (("FNO-64", 0.02), ("U-Net", 0.05)):
        pred = write_predictions(tmp / f"{model}.nc", u * (1 + eps), DS, CFG, model,
                                 root=tiny_root)
        meta = tmp / f"{model}.toml"
        meta.write_text(f'model = "{model}"\nauthors = ["A"]\nparameters = 10\n'
                        'train_time_hours = 1\nhardware = "cpu"\ntrain_split = "train"\n'
                        "date = 2025-02-01\n")
        submit(pred, meta, DS, board_dir=tmp / "board", root=tiny_root)
    return tmp / "board"


def _claim(model="FNO-64", metric="rel_l2", value=0.02, tolerance=1e-6, config=CFG, extra=""):
    return (f'[[claim]]\ndataset = "{DS}"\nconfig = "{config}"\nmodel = "{model}"\n'
            f'metric = "{metric}"\nvalue = {value!r}\ntolerance = {tolerance!r}\n{extra}\n')


def _file(tmp_path, *claims):
    path = tmp_path / "claims.toml"
    path.write_text("".join(claims))
    return path


def test_claims_pass_and_fail(board, tmp_path):
    path = _file(tmp_path,
                 _claim(),                                         # exact: pass
                 _claim(value=0.0205, tolerance=0.001),            # within tolerance: pass
                 _claim(value=0.0205, tolerance=0.0001),           # outside tolerance: fail
                 _claim(model="u-net", value=0.05),                # by slug: pass
                 _claim(model="U-Net", value=0.02),                # wrong number: fail
                 _claim(model="DeepONet"),                         # no such entry: fail
                 _claim(config="poisson_grid16"),                  # no entry there: fail
                 _claim(metric="nrmse", value=0.02),               # another metric: pass
                 _claim(metric="wiggle"))                          # unknown metric: fail
    results = check_claims(path, board)
    assert [r.passed for r in results] == [True, True, False, True, False, False, False, True,
                                           False]
    assert results[0].board_value == pytest.approx(0.02, rel=1e-12)
    assert results[4].board_value == pytest.approx(0.05, rel=1e-12)
    assert results[5].board_value is None and "no entry for model 'DeepONet'" in results[5].reason
    assert "metric 'wiggle' not in the entry's scores" in results[8].reason
    assert str(results[0]).startswith("PASS condiff/cubic0.1_grid16 FNO-64 rel_l2")
    assert str(results[2]).startswith("FAIL")


def test_board_value_is_the_mean_over_samples(board, tmp_path):
    from pdeforge.leaderboard.entries import read_entry

    entry = read_entry(board / "entries" / DS / CFG / "fno-64")
    mean = float(np.mean(entry.scores()["max_err"].values))
    res = check_claims(_file(tmp_path, _claim(metric="max_err", value=mean, tolerance=0.0)),
                       board)
    assert res[0].passed and res[0].board_value == mean


@pytest.mark.parametrize("text, fragment", [
    ("", "no [[claim]] tables"),
    ("[claim]\nx = 1\n", "no [[claim]] tables"),
    ("title = 'x'\n" + _claim(), "unknown top-level key(s) title"),
    (_claim().replace('metric = "rel_l2"\n', ""), "claim 1: missing 'metric'"),
    (_claim(tolerance=-1.0), "'tolerance' must be a finite number >= 0"),
    (_claim() + _claim().replace("value = 0.02", 'value = "0.02"'),
     "claim 2: 'value' must be a finite number"),
    (_claim(extra="source = 'paper'"), "unknown key(s) source"),
    ("[[claim\n", "not valid TOML"),
])
def test_malformed_claims(tmp_path, text, fragment):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ClaimsError) as info:
        read_claims(path)
    assert fragment in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, PdeforgeError)


def test_note_is_optional_and_kept(tmp_path):
    claims = read_claims(_file(tmp_path, _claim(extra='note = "Table 2"')))
    assert claims[0].note == "Table 2" and claims[0].tolerance == 1e-6


def test_cli_check_claims_exit_codes(board, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "EXTRA_COMMANDS", ["pdeforge.leaderboard.commands"])
    ok = _file(tmp_path, _claim())
    assert cli.main(["check-claims", str(ok), "--board", str(board)]) == 0
    assert "1 of 1 claims pass" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(_claim() + _claim(value=0.5))
    assert cli.main(["check-claims", str(bad), "--board", str(board)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 of 2 claims pass" in out
    assert cli.main(["check-claims", str(tmp_path / "none.toml"), "--board", str(board)]) == 2
