"""The import layering of issue #12, drawn from the source (ast), so a cycle cannot creep back.

Rules (folder → folders it may import at module level or inside functions):
* ``datasets`` (the data layer) never imports ``generators``, ``baselines``, ``leaderboard``,
  ``contracts``: families are found by name (``importlib`` on the card's generator), not imported.
* ``generators`` imports the data layer's contracts, never ``baselines`` / ``leaderboard``.
* ``contracts`` imports only the data layer and the top-level helpers.
* ``baselines`` never imports ``leaderboard``; ``leaderboard`` may import ``baselines`` only in
  ``reproduce.py`` (retraining an entry).
* no two modules import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "pdeforge"
FORBIDDEN = {
    "datasets": {"generators", "baselines", "leaderboard", "contracts"},
    "generators": {"baselines", "leaderboard", "contracts"},
    "contracts": {"generators", "baselines", "leaderboard"},
    "baselines": {"leaderboard", "generators"},
    "leaderboard": {"generators"},
}
ALLOWED = {("leaderboard/reproduce.py", "baselines")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: resolve against the package
            base = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-node.level])
            out.add(f"{base}.{node.module}" if node.module else base)
    return {m for m in out if m == "pdeforge" or m.startswith("pdeforge.")}


def _modules():
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PKG / parts[1]).is_dir()) else None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_folder_rules(path):
    rel = path.relative_to(PKG)
    if len(rel.parts) < 2:
        return
    here = rel.parts[0]
    bad = []
    for module in _imports(path):
        there = _folder(module)
        if there in FORBIDDEN.get(here, set()) and (str(rel), there) not in ALLOWED:
            bad.append(module)
    assert not bad, f"{rel} imports {bad}"


def test_no_two_modules_import_each_other():
    graph = {}
    for path in _modules():
        name = ".".join(path.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = _imports(path)
    pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps
                    if b in graph and b != a and a in graph[b]})
    # a package __init__ importing its own submodule, imported back, is not a cycle of ideas
    pairs = [p for p in pairs if not (p[1].startswith(p[0] + ".") or p[0].startswith(p[1] + "."))]
    assert pairs == [], pairs
