"""Both stores behind one suite: idempotent halves of a trade, corrections, paging, positions.

Every test runs on SQLite and on a real PostgreSQL server (see conftest).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from ledger.core.positions import update_of
from ledger.core.query import Cursor, TradesQuery
from ledger.core.trades import commission_part, fill_part
from ledger.store.base import SqlLedgerStore
from rebalancer_testkit.ledger_dbs import Database
from rebalancer_testkit.ledger_events import (
    ACCOUNT,
    OTHER,
    T0,
    at,
    changed,
    commission,
    filled,
    position,
    snapshot,
)
from shared.contracts.base import Side
from shared.contracts.positions import PositionChanged, PositionsSnapshot

D = Decimal


@pytest.fixture
async def store(database: Database) -> AsyncIterator[SqlLedgerStore]:
    s = database.new_store()
    await s.open()
    yield s
    await s.close()


def everything(**kw: object) -> TradesQuery:
    values: dict[str, object] = {
        "account_id": None,
        "symbol": None,
        "since": None,
        "until": None,
        "order": "oldest_first",
        "limit": 1000,
    }
    return TradesQuery(**(values | kw))  # type: ignore[arg-type]


async def record(store: SqlLedgerStore, *events: object) -> list[bool]:
    results = []
    for e in events:
        if e.__class__.__name__ == "OrderFilled":
            results.append(await store.record_fill(fill_part(e, T0)))  # type: ignore[arg-type]
        else:
            results.append(await store.record_commission(commission_part(e, T0)))  # type: ignore[arg-type]
    return results


async def test_a_new_database_is_migrated_once_and_says_it_was_new(database: Database) -> None:
    first = database.new_store()
    assert await first.open() is True
    assert await first.schema_version() == 1
    await first.close()
    again = database.new_store()
    assert await again.open() is False
    assert await again.schema_version() == 1
    await again.close()


async def test_fill_then_commission_make_one_trade(store: SqlLedgerStore) -> None:
    assert await record(store, filled("e1"), commission("e1", "1.25", "-3.50")) == [True, True]
    (trade,) = await store.trades(everything())
    assert trade.fill.exec_id == "e1"
    assert trade.fill.quantity == D("10")
    assert trade.fill.price == D("500.00")
    assert trade.commission == D("1.25")
    assert trade.realized_pnl == D("-3.50")
    assert trade.fill.executed_at == T0


async def test_commission_before_fill_makes_the_same_trade(store: SqlLedgerStore) -> None:
    assert await record(store, commission("e1", "1.25", "-3.50")) == [True]
    assert await store.trades(everything()) == [], "a commission alone is not a trade yet"
    assert await record(store, filled("e1")) == [True]
    (trade,) = await store.trades(everything())
    assert (trade.fill.symbol, trade.commission, trade.realized_pnl) == (
        "SPY",
        D("1.25"),
        D("-3.50"),
    )


async def test_the_same_halves_twice_change_nothing(store: SqlLedgerStore) -> None:
    await record(store, filled("e1"), commission("e1", "1.25"))
    before = await store.trades(everything())
    again = await record(
        store,
        filled("e1", price="999"),  # a redelivery never rewrites what is stored
        commission("e1", "7.00"),
        filled("e1"),
        commission("e1", "1.25"),
    )
    assert again == [False, False, False, False]
    assert await store.trades(everything()) == before


async def test_an_exec_correction_replaces_the_earlier_revision(store: SqlLedgerStore) -> None:
    await record(store, filled("0001.a.01.01", quantity="10"), commission("0001.a.01.01", "1"))
    await record(store, filled("0001.a.01.02", quantity="8"), commission("0001.a.01.02", "0.8"))
    (trade,) = await store.trades(everything())
    assert (trade.fill.exec_id, trade.fill.quantity) == ("0001.a.01.02", D("8"))
    (total,) = await store.realized_totals(None)
    assert (total.trades, total.commissions) == (1, D("0.8"))


async def test_a_correction_read_before_the_original_still_wins(store: SqlLedgerStore) -> None:
    await record(store, filled("0001.a.01.02", quantity="8"))
    await record(store, filled("0001.a.01.01", quantity="10"))
    assert [t.fill.exec_id for t in await store.trades(everything())] == ["0001.a.01.02"]


async def test_amounts_are_stored_exactly(store: SqlLedgerStore) -> None:
    await record(
        store,
        filled("e1", quantity="0.3333", price="123.456789"),
        commission("e1", "0.0000001", "1234567890.123456789"),
    )
    (trade,) = await store.trades(everything())
    assert trade.fill.quantity == D("0.3333")
    assert trade.fill.price == D("123.456789")
    assert trade.commission == D("0.0000001")
    assert trade.realized_pnl == D("1234567890.123456789")
    assert trade.value == D("41.1481477737")


async def test_pages_follow_the_cursor_without_gaps_or_repeats(store: SqlLedgerStore) -> None:
    # Three executions share one timestamp: the exec id orders them.
    for n, minute in enumerate([0, 1, 1, 1, 2, 3, 4]):
        await record(store, filled(f"e{n}", when=at(minute)))
    for order in ("newest_first", "oldest_first"):
        seen: list[str] = []
        after = None
        while True:
            page = await store.trades(everything(order=order, after=after), limit=3)
            seen += [t.fill.exec_id for t in page]
            if len(page) < 3:
                break
            after = Cursor(page[-1].fill.executed_at, page[-1].fill.exec_id)
        expected = [f"e{n}" for n in range(7)]
        assert seen == (expected if order == "oldest_first" else expected[::-1])


async def test_filters_by_account_symbol_and_time(store: SqlLedgerStore) -> None:
    await record(
        store,
        filled("a", when=at(0)),
        filled("b", symbol="AGG", when=at(10)),
        filled("c", account=OTHER, when=at(20)),
        filled("d", when=at(30)),
    )

    async def ids(**kw: object) -> list[str]:
        return [t.fill.exec_id for t in await store.trades(everything(**kw))]

    assert await ids(account_id=ACCOUNT) == ["a", "b", "d"]
    assert await ids(symbol="AGG") == ["b"]
    assert await ids(since=at(10), until=at(30)) == ["b", "c"]
    assert await ids(account_id=OTHER, symbol="SPY") == ["c"]


async def test_external_executions_are_kept_and_counted_apart(store: SqlLedgerStore) -> None:
    await record(
        store,
        filled("mine"),
        filled("theirs", client_order_id="external:99", plan_id=None, external=True),
    )
    trades = {t.fill.exec_id: t.fill for t in await store.trades(everything())}
    assert trades["theirs"].external is True
    assert trades["theirs"].plan_id is None
    assert trades["mine"].external is False
    assert (trades["mine"].plan_id, trades["mine"].leg) == ("pl1", 0)
    assert await store.trade_counts() == {(ACCOUNT, False): 1, (ACCOUNT, True): 1}


async def test_realized_totals_sum_per_symbol(store: SqlLedgerStore) -> None:
    await record(
        store,
        filled("b1"),
        commission("b1", "1.00"),
        filled("s1", side=Side.SELL, quantity="4", price="510"),
        commission("s1", "1.00", "38.00"),
        filled("s2", side=Side.SELL, quantity="6", price="490"),
        commission("s2", "1.00", "-61.00"),
        filled("x", symbol="AGG"),
    )
    totals = {t.symbol: t for t in await store.realized_totals(ACCOUNT)}
    assert totals["SPY"].realized_pnl == D("-23.00")
    assert totals["SPY"].commissions == D("3.00")
    assert totals["SPY"].trades == 3
    assert (totals["AGG"].realized_pnl, totals["AGG"].trades) == (0, 1)


async def apply(store: SqlLedgerStore, event: PositionsSnapshot | PositionChanged) -> int:
    held = await store.held_positions(event.account_id)
    last = await store.last_history(event.account_id)
    return await store.apply_positions(update_of(event, held, last))


async def test_positions_follow_snapshots_and_changes_by_event_time(store: SqlLedgerStore) -> None:
    await apply(store, snapshot(position("SPY", "10", "500"), position("AGG", "5", "98")))
    await apply(store, changed(position("SPY", "15", "501"), when=at(5)))
    await apply(store, changed(position("SPY", "12", "499"), when=at(1)))  # older news
    held = {h.position.symbol: h.position for h in await store.held_positions(ACCOUNT)}
    assert held["SPY"].quantity == 15
    await apply(store, snapshot(position("SPY", "15", "501"), when=at(10)))
    assert [h.position.symbol for h in await store.held_positions(ACCOUNT)] == ["SPY"]


async def test_history_has_a_row_per_snapshot_and_per_trade_not_per_price(
    store: SqlLedgerStore,
) -> None:
    first = snapshot(position("SPY", "10", "500"), position("AGG", "5", "98"))
    assert await apply(store, first) == 2
    assert await apply(store, first) == 0, "the same snapshot again writes nothing"
    price_only = position("SPY", "10", "500", market_price=D("505"))
    assert await apply(store, changed(price_only, when=at(1))) == 0
    assert await apply(store, changed(position("SPY", "12", "500.5"), when=at(2))) == 1
    assert await apply(store, snapshot(position("SPY", "12", "500.5"), when=at(3))) == 2
    rows = await store.history(ACCOUNT)
    assert [(r.symbol, r.quantity) for r in rows] == [
        ("AGG", 5),
        ("SPY", 10),
        ("SPY", 12),
        ("SPY", 12),
        ("AGG", 0),  # closed by the last snapshot
    ]


async def test_old_history_is_thinned_to_one_row_per_symbol_and_day(store: SqlLedgerStore) -> None:
    for hour in range(0, 48, 6):  # two days, four changes a day
        q = str(10 + hour)
        await apply(store, changed(position("SPY", q, "500"), when=T0.replace(hour=0) + _h(hour)))
    assert len(await store.history(ACCOUNT)) == 8
    removed = await store.downsample_history(T0.replace(hour=0) + _h(30))
    rows = await store.history(ACCOUNT)
    assert removed == 3  # the first day keeps its last row; the second day is partly recent
    assert [r.quantity for r in rows] == [28, 34, 40, 46, 52]


def _h(hours: int):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(hours=hours)


async def test_data_survives_closing_and_reopening(database: Database) -> None:
    first = database.new_store()
    await first.open()
    await record(first, filled("e1"), commission("e1", "1"))
    await apply(first, snapshot(position("SPY", "10", "500")))
    await first.close()
    again = database.new_store()
    await again.open()
    assert [t.fill.exec_id for t in await again.trades(everything())] == ["e1"]
    assert [h.position.symbol for h in await again.held_positions(None)] == ["SPY"]
    assert await again.accounts() == [ACCOUNT]
    await again.close()


async def test_sqlite_runs_in_wal_with_full_sync(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ledger.store.sqlite import SqliteLedgerStore

    store = SqliteLedgerStore(tmp_path / "l.sqlite3")
    await store.open()
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2
    await store.close()
    raw = sqlite3.connect(tmp_path / "l.sqlite3")
    types = {row[1]: row[2] for row in raw.execute("PRAGMA table_info(trades)")}
    assert types["quantity"] == types["price"] == types["commission"] == "TEXT"
    raw.close()
