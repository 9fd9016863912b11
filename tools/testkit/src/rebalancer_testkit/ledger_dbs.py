"""Where a test's ledger lives: a database on SQLite or on the session's PostgreSQL server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ledger.settings import LedgerSettings
from ledger.store.base import SqlLedgerStore
from ledger.store.postgres import PostgresLedgerStore
from ledger.store.sqlite import SqliteLedgerStore
from rebalancer_testkit.postgres import PostgresServer


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
