"""``commands.orders.v1``: the executor's instructions to the gateway-bridge."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Command, Price, Quantity, Side

STREAM = "commands.orders.v1"


class OrderType(StrEnum):
    """Order types the system sends; ``ADAPTIVE`` is IB's Adaptive algo on a market order."""

    MARKET = "MKT"
    LIMIT = "LMT"
    MIDPRICE = "MIDPRICE"
    ADAPTIVE = "ADAPTIVE"


class AdaptivePriority(StrEnum):
    """Urgency of IB's Adaptive algo."""

    PATIENT = "Patient"
    NORMAL = "Normal"
    URGENT = "Urgent"


class TimeInForce(StrEnum):
    """How long an order works."""

    DAY = "DAY"
    GTC = "GTC"


class SubmitOrder(Command):
    """Place one order; the bridge sends one ``client_order_id`` to IB at most once."""

    type: Literal["SubmitOrder"] = "SubmitOrder"
    client_order_id: str = Field(description="<plan_id>.<leg>.<attempt>; travels as orderRef.")
    plan_id: str | None = None
    account_id: str
    symbol: str
    con_id: int | None = None
    currency: str = "USD"
    exchange: str = "SMART"
    side: Side
    quantity: Quantity
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    adaptive_priority: AdaptivePriority | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    outside_rth: bool = False


class CancelOrder(Command):
    """Cancel the order placed for ``client_order_id``."""

    type: Literal["CancelOrder"] = "CancelOrder"
    client_order_id: str
    account_id: str | None = None
    reason: str | None = None


class CancelAllOrders(Command):
    """Cancel every open order of the accounts named (all accounts when empty).

    It names no single order, so it has no ``client_order_id``; each cancelled order is
    reported by its own ``OrderCancelled`` event.
    """

    type: Literal["CancelAllOrders"] = "CancelAllOrders"
    account_ids: tuple[str, ...] = ()
    reason: str | None = None


OrderCommand = Annotated[SubmitOrder | CancelOrder | CancelAllOrders, Field(discriminator="type")]
MESSAGES: tuple[type[Command], ...] = (SubmitOrder, CancelOrder, CancelAllOrders)
