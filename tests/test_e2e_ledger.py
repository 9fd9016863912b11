"""The trade ledger over the real stack: Redis, the IB emulator, the gateway-bridge, the ledger
and the notifier, each its own process.

An order placed directly on the emulator by another API client (a raw ib_async client with its
own client id, as TWS or a script would) reaches the ledger as an external trade with IB's
commission; PnL per position adds up to the account's; the ledger keeps every trade across a
SIGKILL of every service and a Redis restart (an execution made while the ledger was down
included); and a ledger on a new PostgreSQL database, rebuilt from the streams, answers the
same trades and realized PnL as the SQLite one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, MarketOrder, Stock

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.ledger_dbs import new_postgres_database
from rebalancer_testkit.postgres import PostgresServer, require_bin_dir
from rebalancer_testkit.waiting import eventually

ACCOUNT = "DU1000001"
OTHER_CLIENT_ID = 71
SERVICES = ("gateway-bridge", "ledger", "notifier")
D = Decimal


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    running = E2EStack(
        tmp_path,
        accounts_file(**{ACCOUNT: {"approval": "manual"}}),
        notifier=True,
        ledger=True,
        ready_timeout_s=120,  # a cold start of three Python services on a shared machine
    )
    try:
        yield await running.start(*SERVICES)
    finally:
        await running.stop()


@pytest.fixture
def postgres() -> AsyncIterator[PostgresServer]:
    server = PostgresServer(require_bin_dir()).start()
    yield server  # type: ignore[misc]
    server.remove()


async def place_elsewhere(stack: E2EStack, side: str, quantity: int) -> None:
    """A market order placed on the emulator by another API client, not through the system."""
    other = IB()
    await other.connectAsync("127.0.0.1", stack.ib_port, clientId=OTHER_CLIENT_ID, timeout=20)
    try:
        trade = other.placeOrder(
            Stock("SPY", "SMART", "USD"), MarketOrder(side, quantity, account=ACCOUNT)
        )

        async def done() -> bool:
            return trade.isDone()

        await eventually(done, 20, "the other client's order to fill")
    finally:
        other.disconnect()


async def emulator_execs(stack: E2EStack) -> set[str]:
    return {f["exec_id"] for o in await stack.ib_orders() for f in o.get("fills", [])}


async def ledger_trades(stack: E2EStack, count: int) -> list[dict[str, Any]]:
    """The ledger's trades over the HTTP API, once it has ``count`` with their commission."""

    async def probe() -> list[dict[str, Any]] | None:
        response = await stack.api("GET", f"/api/v1/trades?account={ACCOUNT}&order=oldest_first")
        if response.status_code != 200:
            return None
        trades: list[dict[str, Any]] = response.json()["trades"]
        done = [t for t in trades if t["commission"] is not None]
        return trades if len(trades) >= count and len(done) >= count else None

    found: list[dict[str, Any]] = await eventually(probe, 60, f"{count} trades in the ledger")
    return found


async def account_pnl(stack: E2EStack) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        response = await stack.api("GET", f"/api/v1/pnl?account={ACCOUNT}")
        if response.status_code != 200:
            return None
        (account,) = response.json()["accounts"]
        return account if account["complete"] else None

    found: dict[str, Any] = await eventually(probe, 60, "the account's PnL with prices")
    return found


def same(trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What two ledgers must agree on (recorded_at is when each one wrote it)."""
    return [{k: v for k, v in t.items() if k != "recorded_at"} for t in trades]


async def test_external_orders_reach_the_ledger_which_survives_restarts_on_both_databases(
    stack: E2EStack, postgres: PostgresServer
) -> None:
    await place_elsewhere(stack, "BUY", 5)
    await place_elsewhere(stack, "SELL", 2)
    trades = await ledger_trades(stack, 2)
    assert {t["exec_id"] for t in trades} == await emulator_execs(stack)
    assert all(t["external"] for t in trades)
    assert all(t["client_order_id"].startswith("external:") for t in trades)
    assert all(D(t["commission"]) > 0 for t in trades)
    assert trades[1]["realized_pnl"] is not None  # IB realizes PnL on the closing trade

    account = await account_pnl(stack)
    positions = account["positions"]
    assert D(account["total_pnl"]) == sum(D(p["total_pnl"]) for p in positions)
    assert D(account["realized_pnl"]) == sum(D(p["realized_pnl"]) for p in positions)
    assert D(account["total_pnl"]) == D(account["realized_pnl"]) + D(account["unrealized_pnl"])
    assert D(account["realized_pnl"]) == D(trades[1]["realized_pnl"]).quantize(D("0.01"))

    # The ledger is down while another execution happens; then Redis and every service
    # restart (SIGKILL, no cleanup).
    stack.kill("ledger")
    await place_elsewhere(stack, "BUY", 3)
    await stack.restart_redis()
    for name in SERVICES:
        await stack.restart(name)
    after = await ledger_trades(stack, 3)
    assert {t["exec_id"] for t in after} == await emulator_execs(stack)
    assert same(after[:2]) == same(trades)
    sqlite_realized = (await account_pnl(stack))["realized_pnl"]

    # A ledger on a new PostgreSQL database rebuilds itself from the streams.
    stack.kill("ledger")
    stack.extra["ledger"] = {"LEDGER_DATABASE_URL": new_postgres_database(postgres)}
    stack.spawn("ledger")
    await stack.wait_healthy("ledger")
    on_postgres = await ledger_trades(stack, 3)
    assert same(on_postgres) == same(after)
    assert (await account_pnl(stack))["realized_pnl"] == sqlite_realized
