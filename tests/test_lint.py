"""The codebase stays `ruff check` and `ruff format --check` clean (settings in pyproject.toml),
and its functions short."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ruff() -> list[str]:
    exe = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    if not os.path.exists(exe):
        pytest.fail("ruff is not installed; it is pinned in requirements.txt")
    return [exe]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff_clean(args):
    result = subprocess.run(ruff() + args, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def own_lines(node) -> int:
    """Lines of a function's own, nested functions and classes excluded."""
    lines = set(range(node.lineno, node.end_lineno + 1))
    for child in ast.walk(node):
        if child is not node and isinstance(child, (ast.FunctionDef, ast.ClassDef)):
            lines -= set(range(child.lineno, child.end_lineno + 1))
    return len(lines)


def test_own_lines_hand_worked():
    tree = ast.parse("def f(x):\n    def g():\n        return 1\n\n    return g() + x\n")
    (f,) = tree.body
    assert own_lines(f) == 3  # `def f`, the blank line and `return`: g's 2 lines excluded


def test_no_library_function_is_longer_than_80_lines_of_its_own():
    """Functions short enough to hold in your head (STYLE.md, house rule 12)."""
    long = []
    for path in sorted(Path(ROOT, "jaxdqn").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and own_lines(node) > 80:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, long
