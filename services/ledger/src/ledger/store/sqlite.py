"""The ledger in one SQLite file: the default, embedded backend.

WAL mode with ``synchronous=FULL``: a trade is on disk when its event is acknowledged.
Money and quantities are TEXT holding the decimal string (never REAL), times are TEXT in one
fixed ISO form in UTC (``2026-03-02T14:30:00.000000+00:00``) so that text order is time order.
Calls are synchronous and short (one connection, no await inside a transaction), so the
coroutines of the service never interleave inside one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.store.base import Migration, SqlLedgerStore, Transaction

MIGRATIONS = (
    Migration(
        1,
        (
            """CREATE TABLE trades (
                exec_id TEXT PRIMARY KEY,
                exec_base TEXT,
                exec_revision INTEGER,
                account_id TEXT NOT NULL,
                symbol TEXT,
                side TEXT,
                quantity TEXT,
                price TEXT,
                executed_at TEXT,
                client_order_id TEXT,
                plan_id TEXT,
                leg INTEGER,
                ib_order_id INTEGER,
                perm_id INTEGER,
                external INTEGER,
                correlation_id TEXT,
                filled_recorded_at TEXT,
                commission TEXT,
                commission_currency TEXT,
                realized_pnl TEXT,
                commission_recorded_at TEXT,
                superseded_by TEXT
            )""",
            "CREATE INDEX trades_time ON trades (executed_at, exec_id)",
            "CREATE INDEX trades_account_time ON trades (account_id, executed_at, exec_id)",
            "CREATE INDEX trades_exec_base ON trades (exec_base)",
            """CREATE TABLE positions (
                account_id TEXT NOT NULL,
                symbol TEXT NOT NULL,
                position TEXT NOT NULL,
                as_of TEXT NOT NULL,
                message_id TEXT NOT NULL,
                PRIMARY KEY (account_id, symbol)
            )""",
            """CREATE TABLE position_history (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                account_id TEXT NOT NULL,
                symbol TEXT NOT NULL,
                ts TEXT NOT NULL,
                quantity TEXT NOT NULL,
                average_cost TEXT NOT NULL,
                market_price TEXT,
                market_value TEXT,
                message_id TEXT NOT NULL,
                UNIQUE (message_id, symbol)
            )""",
            "CREATE INDEX position_history_account ON position_history (account_id, symbol, ts)",
        ),
    ),
)


def ts_text(value: datetime) -> str:
    """The one text form of a time: UTC, microseconds, explicit offset."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class _SqliteTransaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, tuple(params)).rowcount

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._db.execute(sql, tuple(params)).fetchall()]


class SqliteLedgerStore(SqlLedgerStore):
    """LedgerStore in a SQLite file (WAL, synchronous FULL)."""

    backend = "sqlite"
    migrations = MIGRATIONS

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    async def open(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE ... COMMIT).
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        self._db = db
        async with self.transaction() as tx:
            return await self.migrate(tx)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> bool | str:
        if self._db is None:
            return "the ledger database is not open"
        try:
            self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error as error:
            return f"the ledger database {self.path} fails: {error}"
        return True

    def pragma(self, name: str) -> object:
        """Return a PRAGMA's value (tests check WAL and FULL)."""
        assert self._db is not None
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self._db is None:
            raise RuntimeError("the ledger database is not open (call open() first)")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTransaction(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def dec_in(self, value: Decimal | None) -> Any:
        return None if value is None else str(value)

    def ts_in(self, value: datetime | None) -> Any:
        return None if value is None else ts_text(value)

    def ts_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def bool_in(self, value: bool) -> Any:
        return int(value)
