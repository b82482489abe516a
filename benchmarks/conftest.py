"""Collects the ConDiff speed measurements and prints/writes the comparison table."""

import json
from pathlib import Path

import pytest

RESULTS: dict = {}


@pytest.fixture(scope="session")
def results():
    return RESULTS


def pytest_sessionfinish(session, exitstatus):
    if not RESULTS:
        return
    from test_condiff_speed import table

    text = table(RESULTS)
    out = Path(session.config.rootpath) / ".benchmarks"
    out.mkdir(exist_ok=True)
    (out / "condiff_speed.md").write_text(text)
    (out / "condiff_speed.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    print("\n" + text)
