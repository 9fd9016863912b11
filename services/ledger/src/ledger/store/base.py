"""The ledger's storage port, and the SQL both adapters share.

``LedgerStore`` is what the service needs; ``SqlLedgerStore`` implements it once over a small
transaction interface, and each adapter (SQLite, PostgreSQL) supplies the connection, the
column types and its migrations. Every write is one statement or one transaction that is
idempotent on its own: halves of a trade are upserts keyed by ``exec_id`` that only fill what
is still empty, history rows are keyed by (message, symbol), and a position is replaced only
by a newer event. Money and quantities are exact decimals end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from ledger.core.positions import HeldPosition, HistoryRow, PositionUpdate
from ledger.core.query import Cursor, TradesQuery
from ledger.core.trades import CommissionPart, FillPart, RealizedTotal, TradeRecord
from shared.contracts.base import Side, utc_now
from shared.contracts.positions import Position


@dataclass(frozen=True)
class Migration:
    """One schema version: the statements that bring the previous version to it."""

    version: int
    statements: tuple[str, ...]


class LedgerStore(Protocol):
    """Where the ledger keeps trades, positions and position history."""

    backend: str

    async def open(self) -> bool:
        """Connect and apply pending migrations; return True if the database was new."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> bool | str:
        """True when the database answers, else a sentence saying why not."""
        ...

    async def record_fill(self, fill: FillPart) -> bool:
        """Store a trade's fill half; True if it was not stored yet."""
        ...

    async def record_commission(self, part: CommissionPart) -> bool:
        """Store a trade's commission half; True if it was not stored yet."""
        ...

    async def trades(self, query: TradesQuery, limit: int | None = None) -> list[TradeRecord]:
        """Trades matching ``query`` in its order, after its cursor, at most ``limit``."""
        ...

    async def realized_totals(self, account_id: str | None) -> list[RealizedTotal]:
        """Realized PnL, commissions and trade counts per account and symbol."""
        ...

    async def trade_counts(self) -> dict[tuple[str, bool], int]:
        """Trades stored per (account, external)."""
        ...

    async def apply_positions(self, update: PositionUpdate) -> int:
        """Apply a positions update; return the history rows written."""
        ...

    async def held_positions(self, account_id: str | None) -> list[HeldPosition]:
        """Current positions (of one account, or all)."""
        ...

    async def last_history(self, account_id: str) -> dict[str, HistoryRow]:
        """The newest history row per symbol of an account."""
        ...

    async def history(
        self,
        account_id: str,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[HistoryRow]:
        """Position history of an account, oldest first."""
        ...

    async def downsample_history(self, cutoff: datetime) -> int:
        """Keep one row per account, symbol and UTC day before ``cutoff``; return rows deleted."""
        ...

    async def accounts(self) -> list[str]:
        """Every account with a trade or a position."""
        ...


class Transaction(Protocol):
    """What the shared SQL needs of one open transaction."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the rows it changed."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query; return its rows."""
        ...


FILL_COLUMNS = (
    "exec_base",
    "exec_revision",
    "account_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "executed_at",
    "client_order_id",
    "plan_id",
    "leg",
    "ib_order_id",
    "perm_id",
    "external",
    "correlation_id",
    "filled_recorded_at",
)
COMMISSION_COLUMNS = ("commission", "commission_currency", "realized_pnl", "commission_recorded_at")
TRADE_SELECT = ", ".join(("exec_id", *FILL_COLUMNS, *COMMISSION_COLUMNS))
HISTORY_SELECT = (
    "account_id, symbol, ts, quantity, average_cost, market_price, market_value, message_id"
)
LIVE = "side IS NOT NULL AND superseded_by IS NULL"
"""Rows that are trades: the fill is there and no correction replaced it."""


class SqlLedgerStore:
    """LedgerStore over SQL shared by both backends (``?`` placeholders, ANSI upserts)."""

    backend = "sql"
    migrations: tuple[Migration, ...] = ()
    utc_day = "substr(ts, 1, 10)"
    """Expression of a history row's UTC day (the backend's dialect)."""

    # -- what an adapter provides -------------------------------------------------------

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        raise NotImplementedError

    def dec_in(self, value: Decimal | None) -> Any:
        return value

    def dec_out(self, value: Any) -> Decimal | None:
        return None if value is None else Decimal(value)

    def dec_required(self, value: Any) -> Decimal:
        found = self.dec_out(value)
        if found is None:
            raise ValueError("a required amount is missing in the ledger database")
        return found

    def ts_in(self, value: datetime | None) -> Any:
        return value

    def ts_out(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value

    def bool_in(self, value: bool) -> Any:
        return value

    # -- migrations ---------------------------------------------------------------------

    async def migrate(self, tx: Transaction) -> bool:
        """Apply every migration newer than the database; True if it had none before."""
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        rows = await tx.fetch("SELECT version FROM schema_migrations")
        applied = {int(r[0]) for r in rows}
        for migration in self.migrations:
            if migration.version in applied:
                continue
            for statement in migration.statements:
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (migration.version, utc_now().isoformat()),
            )
        return not applied

    async def schema_version(self) -> int:
        """The newest migration applied."""
        async with self.transaction() as tx:
            rows = await tx.fetch("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    # -- trades -------------------------------------------------------------------------

    async def record_fill(self, fill: FillPart) -> bool:
        values = (
            fill.exec_id,
            fill.exec_base,
            fill.exec_revision,
            fill.account_id,
            fill.symbol,
            fill.side.value,
            self.dec_in(fill.quantity),
            self.dec_in(fill.price),
            self.ts_in(fill.executed_at),
            fill.client_order_id,
            fill.plan_id,
            fill.leg,
            fill.ib_order_id,
            fill.perm_id,
            self.bool_in(fill.external),
            fill.correlation_id,
            self.ts_in(fill.recorded_at),
        )
        columns = ", ".join(("exec_id", *FILL_COLUMNS))
        marks = ", ".join("?" for _ in values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in FILL_COLUMNS)
        async with self.transaction() as tx:
            new = await tx.execute(
                f"INSERT INTO trades ({columns}) VALUES ({marks}) ON CONFLICT (exec_id) "
                f"DO UPDATE SET {updates} WHERE trades.side IS NULL",
                values,
            )
            if not new:
                return False
            # A correction supersedes every lower revision of the same execution, and is
            # itself superseded if a higher revision arrived first (a replay out of order).
            await tx.execute(
                "UPDATE trades SET superseded_by = ? WHERE exec_base = ? AND exec_revision < ? "
                "AND exec_id <> ? AND side IS NOT NULL AND superseded_by IS NULL",
                (fill.exec_id, fill.exec_base, fill.exec_revision, fill.exec_id),
            )
            newer = await tx.fetch(
                "SELECT exec_id FROM trades WHERE exec_base = ? AND exec_revision > ? "
                "AND side IS NOT NULL ORDER BY exec_revision DESC LIMIT 1",
                (fill.exec_base, fill.exec_revision),
            )
            if newer:
                await tx.execute(
                    "UPDATE trades SET superseded_by = ? WHERE exec_id = ?",
                    (newer[0][0], fill.exec_id),
                )
            return True

    async def record_commission(self, part: CommissionPart) -> bool:
        async with self.transaction() as tx:
            changed = await tx.execute(
                "INSERT INTO trades (exec_id, account_id, symbol, commission, "
                "commission_currency, realized_pnl, commission_recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (exec_id) DO UPDATE SET "
                "commission = excluded.commission, "
                "commission_currency = excluded.commission_currency, "
                "realized_pnl = excluded.realized_pnl, "
                "commission_recorded_at = excluded.commission_recorded_at "
                "WHERE trades.commission IS NULL",
                (
                    part.exec_id,
                    part.account_id,
                    part.symbol,
                    self.dec_in(part.commission),
                    part.currency,
                    self.dec_in(part.realized_pnl),
                    self.ts_in(part.recorded_at),
                ),
            )
        return bool(changed)

    def _trade(self, row: Sequence[Any]) -> TradeRecord:
        (exec_id, base, revision, account, symbol, side, qty, price, executed_at, coid) = row[:10]
        (plan_id, leg, ib_order_id, perm_id, external, correlation_id, recorded_at) = row[10:17]
        commission, currency, realized, _commission_at = row[17:21]
        quantity, fill_price = self.dec_required(qty), self.dec_required(price)
        return TradeRecord(
            fill=FillPart(
                exec_id=exec_id,
                exec_base=base,
                exec_revision=int(revision),
                account_id=account,
                symbol=symbol or "",
                side=Side(side),
                quantity=quantity,
                price=fill_price,
                executed_at=self.ts_out(executed_at),
                client_order_id=coid,
                plan_id=plan_id,
                leg=None if leg is None else int(leg),
                ib_order_id=None if ib_order_id is None else int(ib_order_id),
                perm_id=None if perm_id is None else int(perm_id),
                external=bool(external),
                correlation_id=correlation_id,
                recorded_at=self.ts_out(recorded_at),
            ),
            commission=self.dec_out(commission),
            commission_currency=currency,
            realized_pnl=self.dec_out(realized),
        )

    async def trades(self, query: TradesQuery, limit: int | None = None) -> list[TradeRecord]:
        where, params = [LIVE], []
        if query.account_id:
            where.append("account_id = ?")
            params.append(query.account_id)
        if query.symbol:
            where.append("symbol = ?")
            params.append(query.symbol)
        if query.since:
            where.append("executed_at >= ?")
            params.append(self.ts_in(query.since))
        if query.until:
            where.append("executed_at < ?")
            params.append(self.ts_in(query.until))
        newest_first = query.order == "newest_first"
        if query.after is not None:
            after: Cursor = query.after
            where.append(f"(executed_at, exec_id) {'<' if newest_first else '>'} (?, ?)")
            params.extend((self.ts_in(after.executed_at), after.exec_id))
        direction = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT {TRADE_SELECT} FROM trades WHERE {' AND '.join(where)} "
            f"ORDER BY executed_at {direction}, exec_id {direction}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        async with self.transaction() as tx:
            rows = await tx.fetch(sql, params)
        return [self._trade(r) for r in rows]

    async def realized_totals(self, account_id: str | None) -> list[RealizedTotal]:
        where, params = LIVE, []
        if account_id:
            where += " AND account_id = ?"
            params.append(account_id)
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT account_id, symbol, realized_pnl, commission FROM trades WHERE {where}",
                params,
            )
        # Summed here, not in SQL: SQLite would sum the decimal strings as floats.
        sums: dict[tuple[str, str], tuple[Decimal, Decimal, int]] = {}
        for account, symbol, realized, commission in rows:
            key = (account, symbol or "")
            r, c, n = sums.get(key, (Decimal(0), Decimal(0), 0))
            sums[key] = (
                r + (self.dec_out(realized) or Decimal(0)),
                c + (self.dec_out(commission) or Decimal(0)),
                n + 1,
            )
        return [RealizedTotal(a, s, r, c, n) for (a, s), (r, c, n) in sorted(sums.items())]

    async def trade_counts(self) -> dict[tuple[str, bool], int]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT account_id, external, COUNT(*) FROM trades WHERE {LIVE} "
                "GROUP BY account_id, external"
            )
        return {(a, bool(e)): int(n) for a, e, n in rows}

    # -- positions ----------------------------------------------------------------------

    async def apply_positions(self, update: PositionUpdate) -> int:
        written = 0
        async with self.transaction() as tx:
            for held in update.hold:
                await tx.execute(
                    "INSERT INTO positions (account_id, symbol, position, as_of, message_id) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, symbol) DO UPDATE SET "
                    "position = excluded.position, as_of = excluded.as_of, "
                    "message_id = excluded.message_id WHERE positions.as_of <= excluded.as_of",
                    (
                        held.account_id,
                        held.position.symbol,
                        held.position.model_dump_json(),
                        self.ts_in(held.as_of),
                        held.message_id,
                    ),
                )
            for symbol in update.closed:
                await tx.execute(
                    "DELETE FROM positions WHERE account_id = ? AND symbol = ? AND as_of <= ?",
                    (update.account_id, symbol, self.ts_in(update.as_of)),
                )
            for row in update.history:
                written += await tx.execute(
                    "INSERT INTO position_history (account_id, symbol, ts, quantity, "
                    "average_cost, market_price, market_value, message_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (message_id, symbol) DO NOTHING",
                    (
                        row.account_id,
                        row.symbol,
                        self.ts_in(row.ts),
                        self.dec_in(row.quantity),
                        self.dec_in(row.average_cost),
                        self.dec_in(row.market_price),
                        self.dec_in(row.market_value),
                        row.message_id,
                    ),
                )
        return written

    async def held_positions(self, account_id: str | None) -> list[HeldPosition]:
        sql = "SELECT account_id, position, as_of, message_id FROM positions"
        params: list[Any] = []
        if account_id:
            sql += " WHERE account_id = ?"
            params.append(account_id)
        async with self.transaction() as tx:
            rows = await tx.fetch(sql + " ORDER BY account_id, symbol", params)
        return [
            HeldPosition(a, Position.model_validate_json(p), self.ts_out(t), m)
            for a, p, t, m in rows
        ]

    def _history(self, row: Sequence[Any]) -> HistoryRow:
        account, symbol, ts, quantity, average_cost, market_price, market_value, mid = row
        q, cost = self.dec_required(quantity), self.dec_required(average_cost)
        return HistoryRow(
            account_id=account,
            symbol=symbol,
            ts=self.ts_out(ts),
            quantity=q,
            average_cost=cost,
            market_price=self.dec_out(market_price),
            market_value=self.dec_out(market_value),
            message_id=mid,
        )

    async def last_history(self, account_id: str) -> dict[str, HistoryRow]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT {HISTORY_SELECT} FROM (SELECT {HISTORY_SELECT}, ROW_NUMBER() OVER "
                "(PARTITION BY symbol ORDER BY ts DESC, id DESC) AS rn "
                "FROM position_history WHERE account_id = ?) AS newest WHERE rn = 1",
                (account_id,),
            )
        return {r[1]: self._history(r) for r in rows}

    async def history(
        self,
        account_id: str,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[HistoryRow]:
        where, params = ["account_id = ?"], [account_id]
        if symbol:
            where.append("symbol = ?")
            params.append(symbol)
        if since:
            where.append("ts >= ?")
            params.append(self.ts_in(since))
        if until:
            where.append("ts < ?")
            params.append(self.ts_in(until))
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT {HISTORY_SELECT} FROM position_history WHERE {' AND '.join(where)} "
                "ORDER BY ts, id",
                params,
            )
        return [self._history(r) for r in rows]

    async def downsample_history(self, cutoff: datetime) -> int:
        async with self.transaction() as tx:
            return await tx.execute(
                "DELETE FROM position_history WHERE ts < ? AND id NOT IN ("
                "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY account_id, symbol, "
                f"{self.utc_day} ORDER BY ts DESC, id DESC) AS rn FROM position_history "
                "WHERE ts < ?) AS daily WHERE rn = 1)",
                (self.ts_in(cutoff), self.ts_in(cutoff)),
            )

    async def accounts(self) -> list[str]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT account_id FROM trades WHERE {LIVE} UNION SELECT account_id FROM positions"
            )
        return sorted({r[0] for r in rows})
