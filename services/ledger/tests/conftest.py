"""Ledger tests: both databases behind one fixture, PostgreSQL as a real server of the session.

``database`` is parametrized over ``sqlite`` and ``postgresql``: every test that takes it runs
against both. Each test gets a database of its own (a file in its tmp dir, or a new
PostgreSQL database on the session's server).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rebalancer_testkit.ledger_dbs import Database, new_postgres_database
from rebalancer_testkit.postgres import PostgresServer, require_bin_dir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (initdb + pg_ctl, unprivileged when root)."""
    server = PostgresServer(require_bin_dir()).start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The test's own ledger database, on each backend in turn."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return Database("postgresql", tmp_path / "ledger", new_postgres_database(server))
    return Database("sqlite", tmp_path / "ledger")


@pytest.fixture
def both_databases(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Database, Database]:
    """An SQLite and a PostgreSQL database, to compare their answers."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return (
        Database("sqlite", tmp_path / "sqlite"),
        Database("postgresql", tmp_path / "pg", new_postgres_database(server)),
    )
