"""The emulator's modules import each other as a tree: no cycle, no hidden local imports."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ib_emulator"


def local_imports(path: Path) -> tuple[set[str], list[int]]:
    """Modules of the package a file imports, and the lines of imports inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    deps: set[str] = set()
    nested: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            deps.update(
                [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            )
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested += [
                n.lineno for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)
            ]
    return deps, nested


def test_no_module_imports_itself_back_through_others() -> None:
    graph = {p.stem: local_imports(p)[0] for p in PACKAGE.glob("*.py")}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for dep in graph.get(module, set()):
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            else:
                visit(dep, [*path, dep])

    for module in graph:
        visit(module, [module])
    assert cycles == []


def test_no_function_level_imports_hide_a_dependency() -> None:
    nested = {p.name: lines for p in PACKAGE.glob("*.py") if (lines := local_imports(p)[1])}
    assert nested == {}


def test_handlers_do_not_depend_on_the_server() -> None:
    assert "server" not in local_imports(PACKAGE / "handlers.py")[0]
    assert "server" not in local_imports(PACKAGE / "session.py")[0]
