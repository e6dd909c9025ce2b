"""The benchmark and training scripts name only what `qa` really exports: they are not imported by
the suite (they need data and minutes), so a renamed function would otherwise break them silently."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted([*ROOT.glob("bench/*.py"), *ROOT.glob("train/*.py")])

pytestmark = pytest.mark.unit


def qa_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from qa... import name` in a script."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa"
            for alias in node.names]


def test_there_are_scripts_to_check() -> None:
    assert len(SCRIPTS) >= 10 and all(qa_imports(p) is not None for p in SCRIPTS)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_imports_exist(path: Path) -> None:
    missing = []
    for module, name in qa_imports(path):
        imported = importlib.import_module(module)
        if not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{path.name} imports names qa does not have: {missing}"
