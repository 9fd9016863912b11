"""Each order of a plan as its events tell it: state, filled quantity, average price, fills."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from shared.contracts.base import Message
from shared.contracts.orders import (
    CommissionReported,
    OrderAccepted,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderStatusUnknown,
)


@dataclass(frozen=True)
class Fill:
    exec_id: str
    quantity: Decimal
    price: Decimal
    at: datetime


@dataclass(frozen=True)
class OrderProgress:
    """One order (one ``client_order_id``) of a plan."""

    client_order_id: str
    symbol: str | None
    side: str | None = None
    quantity: Decimal | None = None
    state: str = "sent"
    filled: Decimal = Decimal("0")
    average_price: Decimal | None = None
    commission: Decimal = Decimal("0")
    detail: str | None = None
    fills: tuple[Fill, ...] = ()
    updated_at: datetime | None = None

    @property
    def leg(self) -> int | None:
        """The leg number of ``<plan>.<leg>.<attempt>``, when the id has that shape."""
        parts = self.client_order_id.rsplit(".", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


FINAL = frozenset({"filled", "cancelled", "rejected"})


def apply(order: OrderProgress | None, event: Message) -> OrderProgress | None:
    """Return the order moved on by one order event (None for a message of no order)."""
    if not isinstance(event, OrderEvent):
        return order
    order = order or OrderProgress(event.client_order_id, event.symbol)
    order = replace(order, updated_at=event.ts_event, symbol=order.symbol or event.symbol)
    if isinstance(event, OrderAccepted):
        state = order.state if order.state in FINAL or order.filled else "working"
        return replace(order, side=event.side.value, quantity=event.quantity, state=state)
    if isinstance(event, OrderFilled):
        return _filled(order, event)
    if isinstance(event, CommissionReported):
        return replace(order, commission=order.commission + event.commission)
    if isinstance(event, OrderCancelled):
        return replace(order, state="cancelled", detail=event.reason)
    if isinstance(event, OrderRejected):
        return replace(order, state="rejected", detail=event.reason)
    if isinstance(event, OrderStatusUnknown):
        return replace(order, state="unknown", detail=event.reason)
    return order


def _filled(order: OrderProgress, event: OrderFilled) -> OrderProgress:
    if any(f.exec_id == event.exec_id for f in order.fills):
        return order  # a redelivery: IB's exec_id is unique
    fills = (
        *order.fills,
        Fill(event.exec_id, event.last_quantity, event.last_price, event.ts_event),
    )
    filled = max(order.filled, event.cumulative_quantity)
    done = event.remaining_quantity == 0 or (
        order.quantity is not None and filled >= order.quantity
    )
    return replace(
        order,
        side=order.side or event.side.value,
        filled=filled,
        average_price=event.average_price,
        fills=fills,
        state="filled" if done else "partially_filled",
    )
