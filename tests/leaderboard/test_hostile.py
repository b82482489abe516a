"""Issue #13, board side: what a hostile or careless submitter could get onto the board.

Each test reproduces one fault of the review (huge predictions scored inf, the stored truth
ranked first, mixed test sets in one table, a corrupted truth shard, oversized notes, an
unwritable --out, colliding slugs, placeholder authors and future dates, hand-edited
``meta.json``, a missing or read-only board folder) and checks the refusal.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdeforge.contracts.errors import SubmissionError
from pdeforge.contracts.predictions import write_predictions
from pdeforge.datasets.runner import generate_dataset
from pdeforge.datasets.store import open_split
from pdeforge.errors import CorruptFileError
from pdeforge.leaderboard.entries import read_entry
from pdeforge.leaderboard.errors import BoardError, MetadataError
from pdeforge.leaderboard.render import render
from pdeforge.leaderboard.reproduce import reproduce
from pdeforge.leaderboard.score import score
from pdeforge.leaderboard.submit import slugify, submit, validate_metadata

DS = "condiff"
CFG = "cubic0.1_grid16"
REPO = Path(__file__).resolve().parents[2]

META = """\
model = "{model}"
authors = {authors}
parameters = 1000
train_time_hours = 0.5
hardware = "1x CPU"
train_split = "train"
date = {date}
"""


def _truth(root, config=CFG):
    with open_split(DS, config=config, split="test", root=root) as t:
        return t["u"].values


def _pred(root, path, values=None, model="M", config=CFG, scale=1.02):
    u = _truth(root, config) if values is None else values
    return write_predictions(path, u * scale if values is None else u, DS, config, model,
                             root=root)


def _meta(path, model="M", authors='["Ann Author"]', date="2025-01-31", extra=""):
    path.write_text(META.format(model=model, authors=authors, date=date) + extra)
    return path


def _entries(board) -> list[Path]:
    return sorted(p.parent for p in Path(board).rglob("meta.json"))




# ------------------------------------------------------------------ 5. huge predictions


def test_huge_finite_predictions_are_refused_at_submit(tiny_root, tmp_path):
    """1e300 * u is finite (the predictions check passes) but its squared error overflows."""
    u = _truth(tiny_root)
    pred = _pred(tiny_root, tmp_path / "huge.nc", values=u * 1e300)
    scores = score(pred, DS, root=tiny_root)  # scoring itself is fine: the values are inf
    assert np.isinf(scores["rel_l2"].values).all()
    with pytest.raises(SubmissionError) as info:
        submit(pred, _meta(tmp_path / "m.toml"), DS, board_dir=tmp_path / "b", root=tiny_root)
    msg = str(info.value)
    assert str(pred) in msg and "not finite" in msg
    assert "rel_l2 (3 of 3 samples, inf)" in msg and "rmse (3 of 3 samples, inf)" in msg
    assert "max_err" not in msg  # |e| = 1e300 * |u| is still finite
    assert _entries(tmp_path / "b") == []


# ------------------------------------------------------------------ 6. the truth itself


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_truth_copy_is_refused_unless_allowed_and_then_flagged(tiny_root, tmp_path, dtype):
    u = _truth(tiny_root).astype(dtype)  # float32: rel_l2 ~ 3e-8, float32 round-off
    pred = _pred(tiny_root, tmp_path / "copy.nc", values=u, model="Oracle")
    meta = _meta(tmp_path / "m.toml", model="Oracle")
    board = tmp_path / "b"
    with pytest.raises(SubmissionError, match="round-off") as info:
        submit(pred, meta, DS, board_dir=board, root=tiny_root)
    assert "--allow-exact" in str(info.value)
    assert _entries(board) == []
    entry = submit(pred, meta, DS, board_dir=board, root=tiny_root, allow_exact=True)
    other = _pred(tiny_root, tmp_path / "real.nc", model="Real")
    submit(other, _meta(tmp_path / "r.toml", model="Real"), DS, board_dir=board, root=tiny_root)
    render(board, root=tmp_path / "no-data")
    md = (board / "LEADERBOARD.md").read_text()
    table = md.split("## condiff / cubic0.1")[1]
    oracle = [line for line in table.splitlines() if line.startswith("| 1 | Oracle")]
    assert oracle and "at round-off" in oracle[0]
    real = [line for line in table.splitlines() if line.startswith("| 2 | Real")]
    assert real and "round-off" not in real[0]
    assert "1e-06" in md  # the threshold is stated where the flag is explained
    page = (board / "index.html").read_text()
    assert page.count('class="flag"') == 1 and "at round-off" in page
    assert read_entry(entry).model == "Oracle"


def test_score_cli_notes_round_off(tiny_root, tmp_path, run_cli):
    pred = _pred(tiny_root, tmp_path / "copy.nc", values=_truth(tiny_root))
    rc, out, _ = run_cli("score", pred, "--dataset", DS, "--root", tiny_root)
    assert rc == 0 and "round-off" in out


# ------------------------------------------------------------------ 7. the test set


@pytest.fixture(scope="module")
def small_test_root(tmp_path_factory):
    """The tiny dataset's cubic0.1 config with a 2-sample test split (same content key)."""
    root = tmp_path_factory.mktemp("data-n2")
    generate_dataset(DS, {"grid": "16", "n_train": "6", "n_test": "2", "n_val": "2",
                          "configs": "cubic0.1", "samples_per_shard": "4"},
                     root=root, workers=1, progress=False, log=lambda *a: None)
    return root


def test_entries_on_another_test_set_are_refused_and_rendered_apart(
        tiny_root, small_test_root, tmp_path):
    manifests = [json.loads((r / DS / CFG / "manifest.json").read_text())
                 for r in (tiny_root, small_test_root)]
    assert manifests[0]["content_key"] == manifests[1]["content_key"]  # the premise of #13.7
    board = tmp_path / "board"
    big = submit(_pred(tiny_root, tmp_path / "a.nc", model="A"),
                 _meta(tmp_path / "a.toml", model="A"), DS, board_dir=board, root=tiny_root)
    test_set = json.loads((big / "meta.json").read_text())["test_set"]
    assert test_set["n_samples"] == 3 and len(test_set["indices_sha256"]) == 64
    small_pred = _pred(small_test_root, tmp_path / "b.nc", model="B", scale=1.001)
    small_meta = _meta(tmp_path / "b.toml", model="B")
    with pytest.raises(BoardError, match="another test set") as info:
        submit(small_pred, small_meta, DS, board_dir=board, root=small_test_root)
    assert "3 test samples" in str(info.value) and "2 test samples" in str(info.value)
    assert len(_entries(board)) == 1
    # a board assembled by hand (entry copied in) gets one table per test set, and each
    # table's header counts its own samples
    elsewhere = submit(small_pred, small_meta, DS, board_dir=tmp_path / "other",
                       root=small_test_root)
    shutil.copytree(elsewhere, board / "entries" / DS / CFG / "b")
    render(board, root=tmp_path / "no-data")
    md = (board / "LEADERBOARD.md").read_text()
    heads = [line for line in md.splitlines() if line.startswith("## condiff / cubic0.1")]
    assert len(heads) == 2, heads
    assert "3 test samples" in md and "2 test samples" in md
    assert md.count("entries of this config were scored on different test sets") == 2
    page = (board / "index.html").read_text()
    assert page.count("<h2>condiff / cubic0.1_grid16") == 2


def test_header_sample_count_is_not_taken_from_the_first_row(tiny_root, small_test_root,
                                                            tmp_path):
    board = tmp_path / "board"
    # the 2-sample entry ranks first (smaller error) on a hand-assembled board
    b = submit(_pred(small_test_root, tmp_path / "b.nc", model="B", scale=1.001),
               _meta(tmp_path / "b.toml", model="B"), DS, board_dir=tmp_path / "x",
               root=small_test_root)
    submit(_pred(tiny_root, tmp_path / "a.nc", model="A"), _meta(tmp_path / "a.toml", model="A"),
           DS, board_dir=board, root=tiny_root)
    shutil.copytree(b, board / "entries" / DS / CFG / "b")
    render(board, root=tmp_path / "no-data")
    md = (board / "LEADERBOARD.md").read_text()
    for section in md.split("## condiff / ")[1:]:
        rows = [line for line in section.splitlines() if line.startswith("| 1 |")]
        n = 3 if "| 1 | A |" in rows[0] else 2
        assert f"{n} test samples" in section


# ------------------------------------------------------------------ 4. corrupted truth


def _flip_byte_in_value(shard: Path, variable: str = "u", sample: int = 1) -> None:
    """Flip the lowest mantissa byte of one stored value (size kept, value stays finite)."""
    with h5py.File(shard, "r") as f:
        info = f[variable].id.get_chunk_info(sample)
        itemsize = f[variable].dtype.itemsize
    offset = info.byte_offset + (info.size // itemsize // 2) * itemsize  # a mid-chunk value
    size = shard.stat().st_size
    with open(shard, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x01]))
    assert shard.stat().st_size == size


def test_corrupted_truth_shard_is_refused(tiny_copy, tmp_path):
    pred = _pred(tiny_copy, tmp_path / "p.nc")  # made on intact data
    meta = _meta(tmp_path / "m.toml")
    _flip_byte_in_value(tiny_copy / DS / CFG / "test" / "shard-00000.nc")
    for call in (lambda: score(pred, DS, root=tiny_copy, out=tmp_path / "s.nc"),
                 lambda: submit(pred, meta, DS, board_dir=tmp_path / "b", root=tiny_copy)):
        with pytest.raises((CorruptFileError, SubmissionError)) as info:
            call()
        assert "shard-00000.nc" in str(info.value)
    assert not (tmp_path / "s.nc").exists()
    assert _entries(tmp_path / "b") == []


# ------------------------------------------------------------------ free text, slugs, authors


def _raw(**changes):
    import tomllib

    meta = tomllib.loads(META.format(model="M", authors='["Ann Author"]', date="2025-01-31"))
    meta.update(changes)
    return meta


@pytest.mark.parametrize("key, value, fragment", [
    ("notes", "x" * 3_000_000, "'notes' is 3000000 characters long; at most 2000"),
    ("model", "m" * 101, "'model' is 101 characters long; at most 100"),
    ("hardware", "h" * 201, "at most 200"),
    ("authors", ["a" * 201], "at most 200"),
    ("authors", [f"Author {i}" for i in range(101)], "at most 100 authors"),
    ("paper", "https://x.org/" + "p" * 500, "at most 500"),
])
def test_free_text_size_limits(key, value, fragment):
    with pytest.raises(MetadataError, match="characters long|at most") as info:
        validate_metadata(_raw(**{key: value}), label="m.toml")
    assert fragment in str(info.value)
    assert len(str(info.value)) < 500  # the message does not echo the text


def test_multi_megabyte_notes_never_reach_the_page(tiny_root, tmp_path):
    meta = _meta(tmp_path / "m.toml", extra=f'notes = "{"x" * 3_000_000}"\n')
    with pytest.raises(MetadataError, match="'notes'"):
        submit(_pred(tiny_root, tmp_path / "p.nc"), meta, DS, board_dir=tmp_path / "b",
               root=tiny_root)
    assert _entries(tmp_path / "b") == []


def test_non_ascii_model_names_get_distinct_slugs():
    names = ["Модель", "模型", "モデル", "Café-Net", "Cafe-Net", "!!!", "???"]
    slugs = [slugify(n) for n in names]
    assert len(set(slugs)) == len(names), slugs
    assert slugify("Café-Net").startswith("cafe-net-")  # transliterated, plus a name hash
    assert slugify("Cafe-Net") == "cafe-net" and slugify("FNO-64") == "fno-64"  # ASCII: as before
    assert all(s != "model" for s in slugs)
    assert slugify("Модель") == slugify("Модель")  # deterministic


def test_non_ascii_models_are_stored_apart(tiny_root, tmp_path):
    board = tmp_path / "b"
    for name in ("Модель", "模型"):
        submit(_pred(tiny_root, tmp_path / f"{name}.nc", model=name),
               _meta(tmp_path / f"{name}.toml", model=name), DS, board_dir=board,
               root=tiny_root)
    assert sorted(read_entry(e).model for e in _entries(board)) == sorted(["Модель", "模型"])


def test_force_does_not_replace_another_models_entry(tiny_root, tmp_path):
    board = tmp_path / "b"
    submit(_pred(tiny_root, tmp_path / "a.nc", model="FNO 64"),
           _meta(tmp_path / "a.toml", model="FNO 64"), DS, board_dir=board, root=tiny_root)
    other = _pred(tiny_root, tmp_path / "b.nc", model="fno-64")
    with pytest.raises(BoardError, match="holds model 'FNO 64'"):
        submit(other, _meta(tmp_path / "b.toml", model="fno-64"), DS, board_dir=board,
               root=tiny_root, overwrite=True)
    assert [read_entry(e).model for e in _entries(board)] == ["FNO 64"]


@pytest.mark.parametrize("authors", ['["FILL IN"]', '["TODO"]', '["Ann", "tbd"]', '[""]',
                                     '["  "]', '["Anonymous"]', '["A. Author", "B. Author"]',
                                     '["<your name>"]'])
def test_placeholder_authors_are_refused(authors, tmp_path):
    import tomllib

    meta = tomllib.loads(META.format(model="M", authors=authors, date="2025-01-31"))
    with pytest.raises(MetadataError, match="'authors'"):
        validate_metadata(meta, label="m.toml")


def test_future_dates_are_refused():
    import datetime as dt

    today = dt.datetime.now(dt.timezone.utc).date()
    validate_metadata(_raw(date=today.isoformat()))
    validate_metadata(_raw(date=(today + dt.timedelta(days=1)).isoformat()))  # time zones
    with pytest.raises(MetadataError, match="in the future"):
        validate_metadata(_raw(date=(today + dt.timedelta(days=2)).isoformat()))
    with pytest.raises(MetadataError, match="in the future"):
        validate_metadata(_raw(date="2999-01-01"))


# ------------------------------------------------------------------ hand-edited meta.json


@pytest.fixture
def board_entry(tiny_root, tmp_path):
    board = tmp_path / "board"
    entry = submit(_pred(tiny_root, tmp_path / "p.nc", model="M"), _meta(tmp_path / "m.toml"),
                   DS, board_dir=board, root=tiny_root)
    return board, entry


def _edit(entry, fn):
    path = entry / "meta.json"
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m["submission"].update(train_split="test"), "test split"),
    (lambda m: m["submission"].update(parameters=-5), "'parameters'"),
    (lambda m: m["submission"].update(model="Better-Name"), "differs from the model"),
    (lambda m: m["submission"].update(authors=["TODO"]), "'authors'"),
    (lambda m: m["submission"].update(date="2999-01-01"), "after the entry was scored"),
    (lambda m: m["test_set"].update(n_samples=200), "test set"),
    (lambda m: m.update(config="poisson_grid16"), "config"),
])
def test_hand_edited_meta_is_refused_on_render_and_reproduce(tiny_root, board_entry, edit,
                                                            fragment, run_cli):
    board, entry = board_entry
    assert reproduce(entry, root=tiny_root).ok
    _edit(entry, edit)
    with pytest.raises(BoardError) as info:
        render(board, root=tiny_root)
    assert str(entry / "meta.json") in str(info.value) and fragment in str(info.value)
    with pytest.raises(BoardError) as info:
        reproduce(entry, root=tiny_root)
    assert str(entry / "meta.json") in str(info.value)
    rc, _, err = run_cli("reproduce", entry, "--root", tiny_root)
    assert rc == 2 and "meta.json" in err and "REPRODUCED" not in err


# ------------------------------------------------------------------ files and folders


def test_score_out_to_an_unwritable_path_is_one_line(tiny_root, tmp_path, run_cli):
    pred = _pred(tiny_root, tmp_path / "p.nc")
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    for out in (a_file / "s.nc", tmp_path):  # parent is a file; an existing directory
        rc, _, err = run_cli("score", pred, "--dataset", DS, "--root", tiny_root, "--out", out)
        assert rc == 2, err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
        assert str(out) in err


def test_check_claims_on_a_missing_board_is_an_error(tmp_path, run_cli):
    claims = tmp_path / "c.toml"
    claims.write_text('[[claim]]\ndataset = "condiff"\nconfig = "c"\nmodel = "m"\n'
                      'metric = "rel_l2"\nvalue = 0.1\ntolerance = 0.01\n')
    rc, out, err = run_cli("check-claims", claims, "--board", tmp_path / "no-board")
    assert rc == 2 and "no-board" in err and "FAIL" not in out


@contextlib.contextmanager
def _read_only(path: Path):
    """Make ``path`` read-only for this process (chmod; as root, the immutable attribute)."""
    os.chmod(path, 0o555)
    immutable = False
    probe = path / ".probe"
    try:
        try:
            probe.write_text("")
            probe.unlink()
            writable = True
        except OSError:
            writable = False
        if writable and shutil.which("chattr"):  # root ignores the mode bits
            immutable = subprocess.run(["chattr", "+i", str(path)],
                                       capture_output=True).returncode == 0
            try:
                probe.write_text("")
                probe.unlink()
            except OSError:
                writable = False
        if writable:
            pytest.skip("cannot make a directory read-only here")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        os.chmod(path, 0o755)


def test_read_only_board_is_one_line(tiny_root, board_entry, tmp_path, run_cli):
    board, _ = board_entry
    pred = _pred(tiny_root, tmp_path / "q.nc", model="Q")
    meta = _meta(tmp_path / "q.toml", model="Q")
    parent = board / "entries" / DS / CFG
    with _read_only(parent):
        rc, _, err = run_cli("submit", pred, "--meta", meta, "--dataset", DS, "--board", board,
                             "--root", tiny_root)
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(parent) in err
    with _read_only(board):
        rc, _, err = run_cli("leaderboard", "--board", board, "--root", tiny_root)
        assert rc == 2 and err.count("\n") == 1 and str(board) in err, err


# ------------------------------------------------------------------ the published board


def test_published_entries_still_validate_and_render(tmp_path):
    """Every entry under leaderboard/entries passes the render-time checks and renders to the
    committed LEADERBOARD.md (render is deterministic; no data is needed for the tables)."""
    src = REPO / "leaderboard"
    board = tmp_path / "board"
    shutil.copytree(src / "entries", board / "entries")
    from pdeforge.leaderboard.entries import list_entries
    from pdeforge.leaderboard.render import _aggregate, _build_sections, _markdown

    entries = list_entries(board)
    assert len(entries) >= 28
    for e in entries:
        e.validate()
    sections = _build_sections(entries)
    # each section counts its own test set: ConDiff's 200 samples, the CFD cards' test cases
    assert all(s.n_samples == 200 for s in sections if s.dataset == "condiff")
    assert all(s.n_samples > 0 and not s.split_tables for s in sections)
    md = _markdown(sections, _aggregate(sections))
    committed = (src / "LEADERBOARD.md").read_text()
    strip = lambda text: [line for line in text.splitlines()
                          if line.strip() and not line.startswith("![")]
    assert strip(md) == strip(committed)
