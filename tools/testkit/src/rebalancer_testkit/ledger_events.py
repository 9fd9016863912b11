"""Builders of the events the gateway-bridge publishes, as the ledger receives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.contracts.account import AccountSnapshot
from shared.contracts.base import Side
from shared.contracts.orders import CommissionReported, OrderFilled
from shared.contracts.positions import Position, PositionChanged, PositionsSnapshot
from shared.contracts.prices import PriceUpdated

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York, a Monday
ACCOUNT = "DU111111"
OTHER = "DU222222"
D = Decimal


def at(minutes: float) -> datetime:
    """T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


def filled(
    exec_id: str,
    symbol: str = "SPY",
    side: Side = Side.BUY,
    quantity: str = "10",
    price: str = "500.00",
    *,
    when: datetime = T0,
    account: str = ACCOUNT,
    client_order_id: str = "pl1.0.0",
    **extra: Any,
) -> OrderFilled:
    """An OrderFilled as the bridge publishes it for one execution."""
    values: dict[str, Any] = {
        "source": "gateway-bridge",
        "ts_event": when,
        "client_order_id": client_order_id,
        "plan_id": client_order_id.partition(".")[0] if "." in client_order_id else None,
        "account_id": account,
        "symbol": symbol,
        "ib_order_id": 7,
        "perm_id": 1007,
        "exec_id": exec_id,
        "side": side,
        "last_quantity": D(quantity),
        "last_price": D(price),
        "cumulative_quantity": D(quantity),
        "average_price": D(price),
        "correlation_id": "trigger-1",
    }
    return OrderFilled(**(values | extra))


def external_fill(exec_id: str, perm_id: int = 555, **kw: Any) -> OrderFilled:
    """An execution of an order placed outside the system (TWS), as the bridge must send it."""
    return filled(
        exec_id,
        client_order_id=f"external:{perm_id}",
        plan_id=None,
        perm_id=perm_id,
        ib_order_id=0,
        external=True,
        correlation_id=None,
        **kw,
    )


def commission(
    exec_id: str,
    amount: str = "1.00",
    realized: str | None = None,
    *,
    account: str = ACCOUNT,
    symbol: str = "SPY",
    client_order_id: str = "pl1.0.0",
    **extra: Any,
) -> CommissionReported:
    """The CommissionReported of one execution."""
    values: dict[str, Any] = {
        "source": "gateway-bridge",
        "client_order_id": client_order_id,
        "account_id": account,
        "symbol": symbol,
        "exec_id": exec_id,
        "commission": D(amount),
        "realized_pnl": None if realized is None else D(realized),
    }
    return CommissionReported(**(values | extra))


def position(symbol: str, quantity: str, average_cost: str, **extra: Any) -> Position:
    """A Position as IB reports it."""
    return Position(symbol=symbol, quantity=D(quantity), average_cost=D(average_cost), **extra)


def snapshot(
    *positions: Position, when: datetime = T0, account: str = ACCOUNT
) -> PositionsSnapshot:
    """A PositionsSnapshot of an account."""
    return PositionsSnapshot(
        source="gateway-bridge", ts_event=when, account_id=account, positions=positions
    )


def changed(p: Position, when: datetime = T0, account: str = ACCOUNT) -> PositionChanged:
    """A PositionChanged of one symbol."""
    return PositionChanged(source="gateway-bridge", ts_event=when, account_id=account, position=p)


def quote(
    symbol: str,
    bid: str | None = None,
    ask: str | None = None,
    last: str | None = None,
    close: str | None = None,
    when: datetime = T0,
) -> PriceUpdated:
    """A PriceUpdated."""

    def d(v: str | None) -> Decimal | None:
        return None if v is None else D(v)

    return PriceUpdated(
        source="gateway-bridge",
        ts_event=when,
        symbol=symbol,
        bid=d(bid),
        ask=d(ask),
        last=d(last),
        close=d(close),
    )


def account_values(
    account: str = ACCOUNT, when: datetime = T0, daily: str | None = None, **extra: Any
) -> AccountSnapshot:
    """An AccountSnapshot."""
    return AccountSnapshot(
        source="gateway-bridge",
        ts_event=when,
        account_id=account,
        net_liquidation=D("100000"),
        total_cash=D("50000"),
        daily_pnl=None if daily is None else D(daily),
        **extra,
    )
