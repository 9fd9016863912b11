"""The ledger in PostgreSQL (``LEDGER_DATABASE_URL=postgresql://...``), with psycopg 3.

Money and quantities are NUMERIC (exact), times TIMESTAMPTZ (the session runs in UTC),
``exec_id`` sorts with the "C" collation so pages come in the same order as on SQLite. One
connection in autocommit mode with explicit transactions, used by one coroutine at a time; a
connection that broke is replaced at the next call (the failed call raises, and the kit
delivers its message again). Migrations run under an advisory lock, so two ledgers starting
on one database never apply the same version twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from ledger.store.base import Migration, SqlLedgerStore, Transaction

MIGRATION_LOCK = 0x1ED6E5
"""Advisory lock key held while migrations run."""

MIGRATIONS = (
    Migration(
        1,
        (
            """CREATE TABLE trades (
                exec_id TEXT COLLATE "C" PRIMARY KEY,
                exec_base TEXT COLLATE "C",
                exec_revision INTEGER,
                account_id TEXT NOT NULL,
                symbol TEXT,
                side TEXT,
                quantity NUMERIC,
                price NUMERIC,
                executed_at TIMESTAMPTZ,
                client_order_id TEXT,
                plan_id TEXT,
                leg INTEGER,
                ib_order_id BIGINT,
                perm_id BIGINT,
                external BOOLEAN,
                correlation_id TEXT,
                filled_recorded_at TIMESTAMPTZ,
                commission NUMERIC,
                commission_currency TEXT,
                realized_pnl NUMERIC,
                commission_recorded_at TIMESTAMPTZ,
                superseded_by TEXT
            )""",
            "CREATE INDEX trades_time ON trades (executed_at, exec_id)",
            "CREATE INDEX trades_account_time ON trades (account_id, executed_at, exec_id)",
            "CREATE INDEX trades_exec_base ON trades (exec_base)",
            """CREATE TABLE positions (
                account_id TEXT NOT NULL,
                symbol TEXT NOT NULL,
                position TEXT NOT NULL,
                as_of TIMESTAMPTZ NOT NULL,
                message_id TEXT NOT NULL,
                PRIMARY KEY (account_id, symbol)
            )""",
            """CREATE TABLE position_history (
                id BIGSERIAL PRIMARY KEY,
                account_id TEXT NOT NULL,
                symbol TEXT NOT NULL,
                ts TIMESTAMPTZ NOT NULL,
                quantity NUMERIC NOT NULL,
                average_cost NUMERIC NOT NULL,
                market_price NUMERIC,
                market_value NUMERIC,
                message_id TEXT NOT NULL,
                UNIQUE (message_id, symbol)
            )""",
            "CREATE INDEX position_history_account ON position_history (account_id, symbol, ts)",
        ),
    ),
)


def _pg(sql: str) -> str:
    """The shared SQL's ``?`` placeholders in psycopg's style."""
    return sql.replace("?", "%s")


class _PgTransaction:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(_pg(sql), tuple(params))
        return max(cursor.rowcount, 0)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = await self._conn.execute(_pg(sql), tuple(params))
        return [tuple(r) for r in await cursor.fetchall()]


class PostgresLedgerStore(SqlLedgerStore):
    """LedgerStore in a PostgreSQL database."""

    backend = "postgresql"
    migrations = MIGRATIONS
    utc_day = "(ts AT TIME ZONE 'UTC')::date"

    def __init__(self, url: str, connect_timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout = connect_timeout_s
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                await self._conn.close()
            self._conn = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(1, int(self._timeout)),
                options="-c timezone=UTC",
                application_name="rebalancer-ledger",
            )
        return self._conn

    async def open(self) -> bool:
        async with self.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            return await self.migrate(tx)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def ping(self) -> bool | str:
        try:
            async with self.transaction() as tx:
                await tx.fetch("SELECT 1")
        except psycopg.Error as error:
            return f"the ledger's PostgreSQL does not answer: {type(error).__name__}: {error}"
        return True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            conn = await self._connection()
            async with conn.transaction():
                yield _PgTransaction(conn)

    def ts_out(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
