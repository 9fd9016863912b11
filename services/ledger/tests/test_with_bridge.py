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

from gateway_bridge.main import create_app as create_bridge
from gateway_bridge.settings import GatewayBridgeSettings
from ib_emulator import Emulator
from rebalancer_testkit.ledger_dbs import Database
from rebalancer_testkit.ledger_stack import Stack
from rebalancer_testkit.waiting import eventually
from shared.contracts.base import Side, utc_now
from shared.contracts.ledger import PnlView
from shared.contracts.order_commands import OrderType, SubmitOrder
from shared.kit.service import Service

ACCOUNT = "DU1000001"
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


@pytest.fixture
async def real_stack(
    redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, Emulator, Service]]:
    emulator = Emulator(admin_port=None, seed=7)
    await emulator.start()
    n = next(_ids)
    # The bridge trades only accounts its accounts file lets trade (defence in depth).
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text(f"accounts:\n  - id: {ACCOUNT}\n    approval: auto\n")
    settings: dict[str, Any] = {
        "accounts_file": accounts_file,
        "redis_url": redis_url,
        "ib_port": emulator.port,
        "ib_client_id": 60 + n % 30,
        "data_dir": tmp_path / "bridge",
        "ops_port": 0,
        "consumer_name": f"bridge-ledger-test-{n}",
        "read_only": False,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 1.0,
        "restart_window_start": "03:00",
        "restart_window_end": "03:00",
    }
    bridge = create_bridge(GatewayBridgeSettings(**settings))
    await bridge.start()
    await eventually(
        lambda: _true(bridge.bridge.gate.is_open),  # type: ignore[attr-defined]
        15,
        "the bridge to reconcile with the emulator",
    )
    stack = Stack(redis_url, Database("sqlite", tmp_path / "ledger"))
    stack.clock = utc_now  # real executions happen now
    await stack.start()
    yield stack, emulator, bridge
    await asyncio.wait_for(stack.stop(), 20)
    await asyncio.wait_for(bridge.stop(), 20)
    await asyncio.wait_for(emulator.stop(), 20)


async def _true(value: object) -> bool:
    return bool(value)


async def test_executions_at_ib_are_the_ledgers_trades_with_ibs_commission_and_pnl(
    real_stack: tuple[Stack, Emulator, Service],
) -> None:
    stack, emulator, _bridge = real_stack
    held = _emulator_quantity(emulator, "SPY")
    await stack.publish(submit("ledgerplan.0.0", Side.BUY, 10))
    await stack.trades_once_committed(1, with_commission=1)
    await stack.publish(submit("ledgerplan.1.0", Side.SELL, 4))
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
