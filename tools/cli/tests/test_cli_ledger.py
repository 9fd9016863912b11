"""``rebalancer pnl`` and ``rebalancer trades`` against the real ledger service and Redis."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from executor.reports import POST_COLUMNS
from rebalancer_cli.app import app
from rebalancer_cli.ledger_views import TRADE_COLUMNS
from rebalancer_testkit.ledger_dbs import Database
from rebalancer_testkit.ledger_events import (
    ACCOUNT,
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
from shared.contracts.ledger import PnlView

D = Decimal


@pytest.fixture
async def ledger(redis_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    stack = Stack(redis_url, Database("sqlite", tmp_path / "ledger"))
    await stack.start()
    await stack.publish(
        account_values(daily="80.00"),
        quote("SPY", bid="1504", ask="1506", close="1495", when=at(2)),
        snapshot(position("SPY", "15", "1499"), when=at(1)),
        filled("b1", quantity="5", price="1502.125", when=at(0)),
        commission("b1", "1.00"),
        filled("s1", symbol="QQQ", side=Side.SELL, quantity="4", price="400", when=at(1)),
        commission("s1", "1.00", "1019.00", symbol="QQQ"),
        external_fill("x1", quantity="2", price="1501", when=at(3)),
    )
    await stack.trades_once_committed(3, with_commission=2)

    async def priced() -> PnlView | None:
        view = await stack.pnl(ACCOUNT)
        return view if isinstance(view, PnlView) and view.accounts[0].complete else None

    await eventually(priced, 20, "the ledger's PnL with prices")
    yield stack
    await stack.stop()


async def cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.output


async def test_trades_csv_has_the_run_reports_columns_and_plain_numbers(
    ledger: Stack, redis_url: str
) -> None:
    code, out = await cli("trades", "--csv", "--oldest-first", "--redis-url", redis_url)
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["exec_id"] for r in rows] == ["b1", "s1", "x1"]
    shared = [c for c in POST_COLUMNS if c in TRADE_COLUMNS]
    assert shared == [c for c in TRADE_COLUMNS if c in POST_COLUMNS]  # same order
    assert len(shared) == 10
    b1, s1, x1 = rows
    assert (b1["filled_quantity"], b1["average_price"], b1["value"]) == (
        "5",
        "1502.1250",
        "7510.62",
    )
    assert (b1["plan_id"], b1["leg"], b1["commission"]) == ("pl1", "0", "1.00")
    assert s1["realized_pnl"] == "1019.00"
    assert (x1["external"], x1["client_order_id"], x1["commission"]) == (
        "true",
        "external:555",
        "",
    )

    code, out = await cli(
        "trades", "-s", "QQQ", "--since", at(0).isoformat(), "--redis-url", redis_url
    )
    assert code == 0, out
    assert "QQQ" in out
    assert "SPY" not in out
    code, out = await cli("trades", "--limit", "1", "--csv", "--redis-url", redis_url)
    assert [r["exec_id"] for r in csv.DictReader(io.StringIO(out))] == ["x1"]


async def test_pnl_table_and_csv_add_up(ledger: Stack, redis_url: str) -> None:
    code, out = await cli("pnl", "--account", ACCOUNT, "--redis-url", redis_url)
    assert code == 0, out
    assert "1,019.00" in out  # QQQ's realized PnL, digits grouped for people
    code, out = await cli("pnl", "--csv", "--redis-url", redis_url)
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    positions = [r for r in rows if r["row"] == "position"]
    (account,) = [r for r in rows if r["row"] == "account"]
    assert {r["symbol"] for r in positions} == {"SPY", "QQQ"}
    assert D(account["total_pnl"]) == D(account["realized_pnl"]) + D(account["unrealized_pnl"])
    assert D(account["total_pnl"]) == sum(D(r["total_pnl"]) for r in positions)
    assert account["realized_pnl"] == "1019.00"


async def test_bad_input_and_no_ledger_say_what_to_do(redis_url: str) -> None:
    code, out = await cli("trades", "--since", "last week", "--redis-url", redis_url)
    assert code == 2
    assert "--since" in out
    code, out = await cli("pnl", "--timeout", "0.5", "--redis-url", redis_url)
    assert code == 1
    assert "ledger did not answer" in out
