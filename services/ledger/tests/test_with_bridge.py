"""The ledger behind the real gateway-bridge and the IB emulator (TWS wire protocol).

Orders go to the bridge as SubmitOrder, the emulator fills them, the bridge publishes the fills
and commission reports it reads with ib_async, and the ledger records them: its trades must be
exactly the emulator's executions, with IB's commission and realized PnL.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from ib_async import IB, MarketOrder, Stock

from gateway_bridge.main import create_app as create_bridge
from gateway_bridge.settings import GatewayBridgeSettings
from ib_emulator import Emulator
from ib_emulator.scenario import default_scenario
from rebalancer_testkit.ledger_dbs import Database
from rebalancer_testkit.ledger_stack import Stack
from rebalancer_testkit.waiting import eventually
from shared.contracts.base import Side, utc_now
from shared.contracts.ledger import PnlView
from shared.contracts.order_commands import OrderType, SubmitOrder
from shared.contracts.portfolio import PortfolioView
from shared.kit.portfolio import PortfolioClient
from shared.kit.service import Service

ACCOUNT = "DU1000001"
BRIDGE_CLIENT_ID = 17
OTHER_CLIENT_ID = 71
_ids = itertools.count(1)


def submit(coid: str, side: Side, quantity: int) -> SubmitOrder:
    return SubmitOrder(
        source="test",
        valid_until=utc_now() + timedelta(seconds=60),
        client_order_id=coid,
        plan_id=coid.split(".")[0],
        account_id=ACCOUNT,
        symbol="SPY",
        side=side,
        quantity=Decimal(quantity),
        order_type=OrderType.MARKET,
    )


def bridge_settings(redis_url: str, emulator: Emulator, tmp_path: Path, n: int) -> dict[str, Any]:
    return {
        "redis_url": redis_url,
        "ib_port": emulator.port,
        "ib_client_id": BRIDGE_CLIENT_ID,
        "data_dir": tmp_path / "bridge",
        # The bridge trades only accounts of the accounts file (defence in depth).
        "accounts_file": _accounts_file(tmp_path / "accounts.yaml"),
        "ops_port": 0,
        "consumer_name": f"bridge-ledger-test-{n}",
        "read_only": False,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 1.0,
        "restart_window_start": "03:00",
        "restart_window_end": "03:00",
    }


async def start_bridge(settings: dict[str, Any]) -> Service:
    bridge = create_bridge(GatewayBridgeSettings(**settings))
    await bridge.start()
    await eventually(
        lambda: _true(bridge.bridge.gate.is_open),  # type: ignore[attr-defined]
        15,
        "the bridge to reconcile with the emulator",
    )
    return bridge


@pytest.fixture
async def real_stack(
    redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, Emulator, Service]]:
    # The bridge is the gateway's Master API client ID: it hears every client's executions.
    scenario = default_scenario().model_copy(update={"master_client_id": BRIDGE_CLIENT_ID})
    emulator = Emulator(scenario, admin_port=None, seed=7)
    await emulator.start()
    settings = bridge_settings(redis_url, emulator, tmp_path, next(_ids))
    bridge = await start_bridge(settings)
    stack = Stack(redis_url, Database("sqlite", tmp_path / "ledger"))
    stack.clock = utc_now  # real executions happen now
    await stack.start()
    yield stack, emulator, bridge
    await asyncio.wait_for(stack.stop(), 20)
    await asyncio.wait_for(bridge.stop(), 20)
    await asyncio.wait_for(emulator.stop(), 20)


async def _true(value: object) -> bool:
    return bool(value)


def _accounts_file(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"accounts": [{"id": ACCOUNT, "approval": "manual"}]}))
    return path


async def _placed(stack: Stack, emulator: Emulator, order_ref: str) -> None:
    """Wait for the order at the emulator; fail at once with the bridge's reason if refused."""

    async def probe() -> bool:
        for _id, fields in await stack.bridge.redis.xrange("events.orders.v1"):
            body = b"".join(fields.values())
            refused = b'"type":"OrderRejected"' in body and order_ref.encode() in body
            assert not refused, body[body.find(b"{") :].decode()
        return any(o["order_ref"] == order_ref for o in emulator.orders())

    await eventually(probe, 15, f"{order_ref} at the emulator")


async def test_executions_at_ib_are_the_ledgers_trades_with_ibs_commission_and_pnl(
    real_stack: tuple[Stack, Emulator, Service],
) -> None:
    stack, emulator, _bridge = real_stack
    held = _emulator_quantity(emulator, "SPY")
    await stack.publish(submit("ledgerplan.0.0", Side.BUY, 10))
    await _placed(stack, emulator, "ledgerplan.0.0")
    await stack.trades_once_committed(1, with_commission=1)
    await stack.publish(submit("ledgerplan.1.0", Side.SELL, 4))
    await _placed(stack, emulator, "ledgerplan.1.0")
    trades = await stack.trades_once_committed(2, with_commission=2)

    booked = {
        fill["exec_id"]: (order["order_ref"], fill)
        for order in emulator.orders()
        for fill in order.get("fills", [])  # type: ignore[attr-defined]
    }
    assert {t.exec_id for t in trades} == set(booked)
    buy, sell = trades
    assert (buy.client_order_id, buy.side, buy.quantity) == ("ledgerplan.0.0", Side.BUY, 10)
    assert (sell.client_order_id, sell.side, sell.quantity, sell.leg) == (
        "ledgerplan.1.0",
        Side.SELL,
        4,
        1,
    )
    assert all(t.commission is not None and t.commission > 0 for t in trades)
    assert sell.realized_pnl is not None  # IB realizes PnL on the closing trade only
    assert not any(t.external for t in trades)

    async def pnl_after_both() -> PnlView | None:
        reply = await stack.pnl(ACCOUNT)
        if not isinstance(reply, PnlView):
            return None
        spy = [p for a in reply.accounts for p in a.positions if p.symbol == "SPY"]
        return reply if spy and spy[0].quantity == held + 6 else None

    view = await eventually(pnl_after_both, 15, "the position after both trades in the ledger")
    (account,) = view.accounts
    (spy,) = [p for p in account.positions if p.symbol == "SPY"]
    assert spy.realized_pnl == sell.realized_pnl.quantize(Decimal("0.01"))
    assert spy.trades == 2
    assert account.realized_pnl == sum(p.realized_pnl for p in account.positions)
    assert spy.quantity == _emulator_quantity(emulator, "SPY")


def _emulator_quantity(emulator: Emulator, symbol: str) -> Decimal:
    for account in emulator.state()["accounts"]:  # type: ignore[attr-defined]
        if account["id"] == ACCOUNT:
            for p in account["positions"]:
                if p["symbol"] == symbol:
                    return Decimal(p["quantity"])
    return Decimal(0)


async def place_elsewhere(emulator: Emulator, side: str, quantity: int) -> None:
    """Place a market order on the emulator as another API client would (TWS, the phone)."""
    other = IB()
    await other.connectAsync("127.0.0.1", emulator.port, clientId=OTHER_CLIENT_ID, timeout=10)
    try:
        order = MarketOrder(side, quantity, account=ACCOUNT)
        trade = other.placeOrder(Stock("SPY", "SMART", "USD"), order)
        await eventually(lambda: _true(trade.isDone()), 10, "the other client's order to fill")
    finally:
        other.disconnect()


def _emulator_execs(emulator: Emulator, *, order_ref: str = "") -> set[str]:
    return {
        fill["exec_id"]
        for order in emulator.orders()
        if order["order_ref"] == order_ref
        for fill in order.get("fills", [])  # type: ignore[attr-defined]
    }


async def test_an_order_placed_by_another_client_is_an_external_trade_with_commission(
    real_stack: tuple[Stack, Emulator, Service],
) -> None:
    stack, emulator, _bridge = real_stack
    await place_elsewhere(emulator, "BUY", 5)
    await place_elsewhere(emulator, "SELL", 2)
    trades = await stack.trades_once_committed(2, with_commission=2)

    assert {t.exec_id for t in trades} == _emulator_execs(emulator)
    buy, sell = trades
    assert all(t.external and t.plan_id is None and t.leg is None for t in trades)
    assert (buy.side, buy.quantity, sell.side, sell.quantity) == (Side.BUY, 5, Side.SELL, 2)
    assert buy.client_order_id == f"external:{buy.perm_id}"
    assert buy.perm_id
    assert all(t.commission is not None and t.commission > 0 for t in trades)
    assert sell.realized_pnl is not None

    # The bridge never acted on them: its journal holds no order for them.
    journal = _bridge.bridge.journal  # type: ignore[attr-defined]
    assert journal.entries() == []


async def test_executions_placed_elsewhere_while_the_bridge_was_down_reach_the_ledger(
    redis_url: str, tmp_path: Path
) -> None:
    # No master client id: the bridge hears other clients' executions only from
    # reqExecutions, in the reconciliation after it (re)connects: the gap is rebuilt from IB.
    emulator = Emulator(admin_port=None, seed=7)
    await emulator.start()
    settings = bridge_settings(redis_url, emulator, tmp_path, next(_ids))
    bridge = await start_bridge(settings)
    stack = Stack(redis_url, Database("sqlite", tmp_path / "ledger"))
    stack.clock = utc_now
    await stack.start()
    try:
        await stack.publish(submit("gapplan.0.0", Side.BUY, 3))
        await _placed(stack, emulator, "gapplan.0.0")
        await stack.trades_once_committed(1, with_commission=1)
        await asyncio.wait_for(bridge.stop(), 20)
        await place_elsewhere(emulator, "BUY", 4)
        bridge = await start_bridge(settings)
        trades = await stack.trades_once_committed(2, with_commission=2)
        assert {t.exec_id for t in trades} == _emulator_execs(emulator) | _emulator_execs(
            emulator, order_ref="gapplan.0.0"
        )
        # One of each, in whatever order the ledger lists them (both within the same second).
        (ours,) = [t for t in trades if not t.external]
        (theirs,) = [t for t in trades if t.external]
        assert ours.client_order_id == "gapplan.0.0"
        assert theirs.external
        assert theirs.quantity == 4
        assert theirs.commission
    finally:
        await asyncio.wait_for(stack.stop(), 20)
        await asyncio.wait_for(bridge.stop(), 20)
        await asyncio.wait_for(emulator.stop(), 20)


async def test_held_positions_carry_ibs_daily_and_unrealized_pnl_per_position(
    real_stack: tuple[Stack, Emulator, Service],
) -> None:
    stack, emulator, _bridge = real_stack
    portfolio = PortfolioClient(
        stack.bridge.redis, stack.bridge.publisher, source="test", timeout_s=10
    )

    async def with_ib_pnl() -> PortfolioView | None:
        view = await portfolio.get(ACCOUNT)
        ok = view.positions and all(p.daily_pnl is not None for p in view.positions)
        return view if ok else None

    view = await eventually(with_ib_pnl, 15, "IB's pnlSingle on every held position")
    # Each is IB's own figure (the emulator's pnlSingle), subscribed once per position.
    singles = [
        key for s in emulator.sessions for key in s.subs.pnl_single.values() if key[0] == ACCOUNT
    ]
    assert sorted(k[2] for k in singles) == sorted(p.con_id for p in view.positions)
    assert all(p.unrealized_pnl is not None for p in view.positions)
