"""Ledger tests: both databases behind one fixture, PostgreSQL as a real server of the session.

``database`` is parametrized over ``sqlite`` and ``postgresql``: every test that takes it runs
against both. Each test gets a database of its own (a file in its tmp dir, or a new
PostgreSQL database on the session's server).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pg_server import PostgresServer, require_bin_dir

from ledger.settings import LedgerSettings
from ledger.store.base import SqlLedgerStore
from ledger.store.postgres import PostgresLedgerStore
from ledger.store.sqlite import SqliteLedgerStore


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (initdb + pg_ctl, unprivileged when root)."""
    server = PostgresServer(require_bin_dir()).start()
    yield server
    server.remove()


@dataclass
class Database:
    """Where one test's ledger lives, and how to open it (again)."""

    backend: str
    data_dir: Path
    url: str = ""

    def new_store(self) -> SqlLedgerStore:
        """A new store object on this database (a restart opens a new one)."""
        if self.backend == "postgresql":
            return PostgresLedgerStore(self.url)
        return SqliteLedgerStore(self.data_dir / "ledger.sqlite3")

    def settings(self, redis_url: str, **overrides: Any) -> LedgerSettings:
        """Ledger settings on this database and the test's Redis."""
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "data_dir": self.data_dir,
            "database_url": self.url,
            "ops_port": 0,
            "consumer_name": "ledger-test",
            "metrics_interval_s": 0.2,
            # A batch cut short by a stop stays pending until reclaimed: quickly, in tests.
            "reclaim_idle_ms": 500,
        }
        return LedgerSettings(**(values | overrides))


def new_postgres_database(server: PostgresServer) -> str:
    """Create an empty database on the server; return its URL."""
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


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
