"""The import rules that keep the architecture honest, checked on the source itself.

* only the gateway-bridge imports ib_async;
* only the notifier imports ably (and the HTTP framework, FastAPI);
* only the ledger imports psycopg (its PostgreSQL store);
* no ``core/`` package imports faststream, redis, asyncio or ib_async (pure and synchronous);
* services import ``shared`` and never each other; ``shared`` imports no service.
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
}
SHARED = ROOT / "shared/src/shared"
OWNED_BY = {
    "ib_async": "gateway_bridge",
    "ably": "notifier",
    "fastapi": "notifier",
    "psycopg": "ledger",
}
FORBIDDEN_IN_CORE = {"faststream", "redis", "asyncio", "ib_async"}


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a Python file imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def sources(package_dir: Path) -> list[Path]:
    return sorted(package_dir.rglob("*.py"))


def test_every_service_package_exists() -> None:
    for name, path in SERVICES.items():
        assert (path / "__init__.py").exists(), name


@pytest.mark.parametrize("library", sorted(OWNED_BY))
def test_only_the_owning_service_imports_a_vendor_library(library: str) -> None:
    owner = OWNED_BY[library]
    offenders = [
        str(path.relative_to(ROOT))
        for name, package in [*SERVICES.items(), ("shared", SHARED)]
        if name != owner
        for path in sources(package)
        if library in imported_roots(path)
    ]
    assert offenders == [], f"only {owner} may import {library}"


def test_core_packages_are_pure() -> None:
    offenders = []
    for package in [*SERVICES.values(), SHARED]:
        for core in package.rglob("core"):
            for path in sources(core):
                bad = imported_roots(path) & FORBIDDEN_IN_CORE
                if bad:
                    offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_services_import_shared_and_never_each_other() -> None:
    offenders = []
    for name, package in SERVICES.items():
        others = set(SERVICES) - {name}
        for path in sources(package):
            bad = imported_roots(path) & others
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    for path in sources(SHARED):
        bad = imported_roots(path) & set(SERVICES)
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "leak.py"
    bad.write_text("import asyncio\nfrom ib_async import IB\nfrom planner.core import x\n")
    assert imported_roots(bad) == {"asyncio", "ib_async", "planner"}
