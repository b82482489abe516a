"""The command line: subcommands run on a tiny dataset; bad input exits 2 with a clear message."""

from pathlib import Path


from pdeforge.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unknown_dataset_exits_2_and_lists_known(capsys, tmp_path):
    code, _, err = run(capsys, "--root", tmp_path, "generate", "condif")
    assert code == 2 and "unknown dataset 'condif'" in err and "condiff" in err


def test_bad_override_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "condiff", "grid=3", "--root", tmp_path)
    assert code == 2 and "out of range" in err
    code, _, err = run(capsys, "generate", "condiff", "gridd=64", "--root", tmp_path)
    assert code == 2 and "known parameters" in err and "n_train" in err


def test_list_info_check_verify_plot(capsys, tiny_root, tmp_path):
    code, out, _ = run(capsys, "--root", tiny_root, "list")
    assert code == 0 and "cubic0.1_grid64" in out
    code, out, _ = run(capsys, "--root", tiny_root, "info", "condiff")
    assert code == 0 and "cubic0.1_grid16" in out and "('sample', 'x', 'y')" in out
    shard = next(Path(tiny_root).rglob("shard-00000.nc"))
    code, out, _ = run(capsys, "info", shard)
    assert code == 0 and "check: OK" in out
    code, out, _ = run(capsys, "check", tiny_root)
    assert code == 0 and "12 of 12 shards valid" in out
    code, out, _ = run(capsys, "--root", tiny_root, "verify", "condiff", "--regenerate", "1", "--seed", "3")
    assert code == 0 and "bit-identical" in out
    png = tmp_path / "p.png"
    code, out, _ = run(capsys, "--root", tiny_root, "plot", "condiff", "config=gaussian2.0_grid16", "n=2", "--out", png)
    assert code == 0 and png.stat().st_size > 10_000


def test_verify_reports_damage_with_exit_1(capsys, tiny_copy):
    shard = next(Path(tiny_copy).rglob("shard-00001.nc"))
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    code, _, err = run(capsys, "--root", tiny_copy, "verify", "condiff")
    assert code == 1 and str(shard) in err


def test_generate_via_key_value_run_options(capsys, tmp_path):
    code, out, _ = run(capsys, "generate", "condiff", "grid=8", "n_train=2", "n_test=1", "n_val=0",
                       "configs=poisson", f"root={tmp_path}", "workers=1", "progress=0")
    assert code == 0 and "wrote" in out
    assert (tmp_path / "condiff" / "poisson_grid8" / "manifest.json").is_file()
