"""The ledger service in this process on a real Redis, on SQLite and on PostgreSQL.

Events are published on the real streams as the gateway-bridge publishes them; trades and
PnL are read back over ``rpc.ledger.v1`` with the kit's RpcClient, as the HTTP API and the
CLI will. Every scenario runs on both databases (the ``database`` fixture).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rebalancer_cli.embedded_redis import RedisServer
from rebalancer_testkit.ledger_dbs import Database, new_postgres_database
from rebalancer_testkit.ledger_events import (
    ACCOUNT,
    OTHER,
    account_values,
    at,
    commission,
    external_fill,
    filled,
    position,
    quote,
    snapshot,
)
from rebalancer_testkit.ledger_stack import Stack
from rebalancer_testkit.waiting import eventually
from shared.contracts.base import Side
from shared.contracts.ledger import (
    GetPnl,
    GetTrades,
    LedgerQueryRefused,
    PnlView,
    Trade,
)

D = Decimal


@pytest.fixture
async def stack(redis_url: str, database: Database) -> AsyncIterator[Stack]:
    s = Stack(redis_url, database)
    await s.start()
    yield s
    await s.stop()


async def test_fills_and_commissions_become_trades_with_external_ones_marked(stack: Stack) -> None:
    await stack.publish(
        filled("e1", when=at(0)),
        commission("e1", "1.00"),
        external_fill("e2", symbol="AGG", side=Side.SELL, quantity="3", price="98.5", when=at(1)),
        commission(
            "e2", "0.35", "4.10", client_order_id="external:555", symbol="AGG", external=True
        ),
    )
    e1, e2 = await stack.trades_once_committed(2, with_commission=2)
    assert (e1.exec_id, e1.client_order_id, e1.plan_id, e1.leg, e1.external) == (
        "e1",
        "pl1.0.0",
        "pl1",
        0,
        False,
    )
    assert (e1.quantity, e1.price, e1.value, e1.commission) == (10, D("500.00"), D("5000.00"), 1)
    assert e1.correlation_id == "trigger-1"
    assert (e2.client_order_id, e2.plan_id, e2.external, e2.perm_id) == (
        "external:555",
        None,
        True,
        555,
    )
    assert (e2.side, e2.realized_pnl, e2.commission) == (Side.SELL, D("4.10"), D("0.35"))


async def test_a_commission_read_before_its_fill_joins_it(stack: Stack) -> None:
    await stack.publish(commission("e1", "2.00", "10.00"))
    await stack.publish(filled("e1"))
    (trade,) = await stack.trades_once_committed(1, with_commission=1)
    assert (trade.commission, trade.realized_pnl) == (D("2.00"), D("10.00"))


async def test_events_delivered_twice_record_one_trade(stack: Stack) -> None:
    events = (filled("e1"), commission("e1", "1.00"), filled("e2", when=at(1)))
    await stack.publish(*events, *events)
    assert stack.ledger is not None
    registry = stack.ledger.metrics.registry

    async def duplicates_counted() -> bool:
        value = registry.get_sample_value(
            "rebalancer_ledger_duplicate_events_total", {"type": "OrderFilled"}
        )
        return value == 2

    await eventually(duplicates_counted, within=20, what="both repeated fills seen")
    trades = await stack.all_trades()
    assert sorted(t.exec_id for t in trades) == ["e1", "e2"]
    labels = {"account": ACCOUNT, "origin": "system"}
    assert registry.get_sample_value("rebalancer_ledger_trades_recorded_total", labels) == 2


async def test_pages_over_rpc_cover_every_trade_once(stack: Stack) -> None:
    await stack.publish(*(filled(f"e{n:02}", when=at(n)) for n in range(25)))
    await stack.trades_once_committed(25)
    first = await stack.trades(limit=10)
    assert len(first.trades) == 10
    assert first.trades[0].exec_id == "e24"  # newest first by default
    every = await stack.all_trades(limit=10)
    assert [t.exec_id for t in every] == [f"e{n:02}" for n in reversed(range(25))]
    window = await stack.all_trades(since=at(5), until=at(8), order="oldest_first")
    assert [t.exec_id for t in window] == ["e05", "e06", "e07"]


async def test_the_ledger_survives_a_restart_and_reads_what_came_meanwhile(stack: Stack) -> None:
    await stack.publish(filled("e1"), commission("e1", "1.00"))
    await stack.trades_once_committed(1, with_commission=1)
    await stack.stop_ledger()
    await stack.publish(filled("e2", when=at(1)), commission("e2", "1.00"))
    await stack.start_ledger()
    trades = await stack.trades_once_committed(2, with_commission=2)
    assert [t.exec_id for t in trades] == ["e1", "e2"]


async def test_a_new_database_is_rebuilt_from_the_streams(
    stack: Stack, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    await stack.publish(
        snapshot(position("SPY", "10", "500")),
        filled("e1"),
        commission("e1", "1.00"),
        external_fill("e2", when=at(1)),
    )
    before = await stack.trades_once_committed(2, with_commission=1)
    await stack.stop_ledger()
    # The database is lost: a new one (same backend) under the same consumer group.
    if stack.database.backend == "postgresql":
        fresh = Database(
            "postgresql",
            tmp_path / "new",
            new_postgres_database(request.getfixturevalue("postgres_server")),
        )
    else:
        fresh = Database("sqlite", tmp_path / "new")
    await stack.start_ledger(fresh)
    after = await stack.trades_once_committed(2, with_commission=1)
    assert [_comparable(t) for t in after] == [_comparable(t) for t in before]
    await eventually(lambda: _holds(stack, "SPY", D(10)), within=20, what="the replayed position")


async def test_pnl_adds_up_per_position_and_account(stack: Stack) -> None:
    await stack.publish(
        account_values(daily="80.00"),
        quote("SPY", bid="504", ask="506", close="495", when=at(2)),
        quote("AGG", last="99", close="98", when=at(2)),
        snapshot(position("SPY", "15", "499"), position("AGG", "20", "97.5"), when=at(1)),
        filled("b1", quantity="5", price="502"),
        commission("b1", "1.00"),
        filled("s1", symbol="QQQ", side=Side.SELL, quantity="4", price="400"),
        commission("s1", "1.00", "19.00", symbol="QQQ"),
    )
    await stack.trades_once_committed(2, with_commission=2)

    async def priced() -> PnlView | None:
        reply = await stack.pnl(ACCOUNT)
        assert isinstance(reply, PnlView)
        (account,) = reply.accounts
        # Quotes, positions and account values come on three streams, each at its own pace.
        ready = len(account.positions) == 3 and account.complete and account.ib_daily_pnl
        return reply if ready else None

    view = await eventually(priced, within=20, what="PnL of three symbols and the account's values")
    (account,) = view.accounts
    by = {p.symbol: p for p in account.positions}
    assert by["SPY"].unrealized_pnl == D("90.00")  # 15 x (505 - 499)
    assert by["AGG"].unrealized_pnl == D("30.00")  # 20 x (99 - 97.5)
    assert (by["QQQ"].quantity, by["QQQ"].realized_pnl) == (0, D("19.00"))
    assert account.realized_pnl == D("19.00")
    assert account.unrealized_pnl == D("120.00")
    assert account.total_pnl == account.realized_pnl + account.unrealized_pnl
    assert account.total_pnl == sum((p.total_pnl or 0) for p in account.positions)
    assert by["SPY"].daily_pnl == D("114.00")  # 10 x (505 - 495) + 5 x (505 - 502) - 1
    assert account.ib_daily_pnl == D("80.00")
    assert account.net_liquidation == D("100000")

    assert stack.ledger is not None
    registry = stack.ledger.metrics.registry

    async def gauges() -> bool:
        # Recomputed every 0.2 s: wait for the computation that saw everything.
        total = registry.get_sample_value("rebalancer_ledger_total_pnl_usd", {"account": ACCOUNT})
        return total == pytest.approx(139.0)

    await eventually(gauges, within=20, what="the total PnL gauge to read 139")
    assert registry.get_sample_value(
        "rebalancer_ledger_position_unrealized_pnl_usd", {"account": ACCOUNT, "symbol": "SPY"}
    ) == pytest.approx(90.0)
    assert (
        registry.get_sample_value(
            "rebalancer_ledger_position_unrealized_pnl_usd", {"account": ACCOUNT, "symbol": "QQQ"}
        )
        is None
    ), "a closed symbol has no unrealized series"
    assert (
        registry.get_sample_value(
            "rebalancer_ledger_trades", {"account": ACCOUNT, "origin": "system"}
        )
        == 2
    )


async def test_last_quotes_and_account_values_are_read_back_after_a_restart(stack: Stack) -> None:
    await stack.publish(
        quote("SPY", last="510", when=at(1)),
        account_values(daily="5"),
        snapshot(position("SPY", "1", "500")),
    )

    async def unrealized() -> Decimal | None:
        reply = await stack.pnl(ACCOUNT)
        if not isinstance(reply, PnlView) or not reply.accounts[0].positions:
            return None
        return reply.accounts[0].positions[0].unrealized_pnl

    assert await eventually(unrealized, within=20, what="a priced position") == D("10.00")
    await stack.stop_ledger()
    await stack.start_ledger()
    reply = await stack.pnl(ACCOUNT)
    assert isinstance(reply, PnlView)
    (account,) = reply.accounts
    assert account.positions[0].unrealized_pnl == D("10.00")
    assert account.ib_daily_pnl == D("5.00")


async def test_requests_the_ledger_cannot_answer_get_a_reason(stack: Stack) -> None:
    too_big = await stack.ask(GetTrades(source="t", valid_until=stack.valid_until(), limit=5000))
    assert isinstance(too_big, LedgerQueryRefused)
    assert (too_big.code, too_big.field) == ("invalid_request", "limit")
    assert "1 to 1000" in too_big.reason
    unknown = await stack.pnl("DU404")
    assert isinstance(unknown, LedgerQueryRefused)
    assert (unknown.code, unknown.field) == ("unknown_account", "account_id")
    expired = await stack.ask(GetPnl(source="t", valid_until=stack.valid_until(-1)))
    assert isinstance(expired, LedgerQueryRefused)
    assert expired.code == "expired"


async def test_every_account_is_listed_when_none_is_named(stack: Stack) -> None:
    await stack.publish(filled("e1"), filled("e2", account=OTHER))
    await stack.trades_once_committed(2)
    reply = await stack.pnl()
    assert isinstance(reply, PnlView)
    assert [a.account_id for a in reply.accounts] == [ACCOUNT, OTHER]


async def test_the_ledger_survives_a_redis_restart(
    fresh_redis: RedisServer, database: Database
) -> None:
    stack = Stack(fresh_redis.url, database)
    await stack.start()
    try:
        await stack.publish(filled("e1"), commission("e1", "1.00"))
        await stack.trades_once_committed(1, with_commission=1)
        await stack.stop()
        fresh_redis.kill()
        fresh_redis.restart()
        stack = Stack(fresh_redis.url, database)
        await stack.start()
        await stack.publish(filled("e2", when=at(1)))
        trades = await stack.trades_once_committed(2)
        assert [t.exec_id for t in trades] == ["e1", "e2"]
    finally:
        await stack.stop()


async def _holds(stack: Stack, symbol: str, quantity: Decimal) -> bool:
    reply = await stack.pnl(ACCOUNT)
    if not isinstance(reply, PnlView):
        return False
    return any(p.symbol == symbol and p.quantity == quantity for p in reply.accounts[0].positions)


async def _complete(stack: Stack) -> PnlView | None:
    reply = await stack.pnl(ACCOUNT)
    if isinstance(reply, PnlView) and reply.accounts[0].complete:
        return reply
    return None


def _comparable(trade: Trade) -> dict[str, Any]:
    """A trade without the time the ledger recorded it (differs between two ledgers)."""
    return trade.model_dump(mode="json", exclude={"recorded_at"})


async def test_sqlite_and_postgresql_give_the_same_answers(
    redis_url: str, both_databases: tuple[Database, Database]
) -> None:
    sqlite_db, pg_db = both_databases
    stack = Stack(redis_url, sqlite_db)
    await stack.start()
    try:
        await stack.publish(
            quote("SPY", bid="504", ask="506", close="495"),
            quote("AGG", last="98.07", close="97.9"),
            snapshot(position("SPY", "15", "499.123456"), position("AGG", "3", "97.5")),
            *(filled(f"e{n}", quantity="1.5", price=f"50{n}.25", when=at(n % 3)) for n in range(8)),
            *(commission(f"e{n}", "0.3333", f"{n}.125") for n in range(0, 8, 2)),
            filled("0001.x.01.01", symbol="AGG", when=at(4)),
            filled("0001.x.01.02", symbol="AGG", quantity="9", when=at(4)),
            external_fill("ext", symbol="AGG", when=at(5)),
        )
        answers = []
        for db in (sqlite_db, pg_db):
            await stack.stop_ledger()
            await stack.start_ledger(db)  # a new database reads every stream from its start
            trades = await stack.trades_once_committed(10, with_commission=4)
            # Positions and the quote come on their own streams: wait until both are in.
            await eventually(
                lambda: _holds(stack, "AGG", D(3)), within=20, what="the replayed positions"
            )
            pnl = await eventually(lambda: _complete(stack), within=20, what="a complete PnL")
            answers.append(
                (
                    [_comparable(t) for t in trades],
                    [_comparable(t) for t in await stack.all_trades(limit=3)],
                    pnl.accounts[0].model_dump(mode="json"),
                )
            )
        assert answers[0] == answers[1]
        assert len(answers[0][0]) == 10
    finally:
        await stack.stop()
