"""Fixtures shared by the leaderboard tests."""

import pytest

from pdeforge import cli


@pytest.fixture
def run_cli(monkeypatch, capsys):
    monkeypatch.setattr(cli, "EXTRA_COMMANDS", ["pdeforge.leaderboard.commands"])

    def run(*argv):
        rc = cli.main([str(a) for a in argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run
