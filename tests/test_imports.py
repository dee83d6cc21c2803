"""Who imports whom: nothing below the CLI and ``webmon.jupyter`` goes through the package
root, whose lazy notebook exports lead to ``webmon.jupyter`` and from there to the server."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT, run_python

PACKAGE = ROOT / "webmon"
#: May import the package root (they sit above everything it exports).
ABOVE_THE_ROOT = ("cli.py", "jupyter/")


def imports_of_the_root(path: Path) -> list[int]:
    """Lines of ``path`` that import ``webmon`` itself (not one of its modules)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import) and any(a.name == "webmon" for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and (
                (node.level == 0 and node.module == "webmon")
                or (node.level > 0 and node.module is None
                    and len(path.relative_to(PACKAGE).parts) == node.level)):
            lines.append(node.lineno)
    return lines


def test_no_module_below_the_cli_and_jupyter_imports_the_package_root() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "__init__.py" or relative.startswith(ABOVE_THE_ROOT):
            continue
        if "node_modules" in path.parts:
            continue
        lines = imports_of_the_root(path)
        if lines:
            found[relative] = lines
    assert found == {}


def test_the_server_loads_without_the_notebook_helpers() -> None:
    done = run_python("import sys, webmon.server, webmon.apps\n"
                      "print(sorted(m for m in sys.modules if m.startswith('webmon.jupyter')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
