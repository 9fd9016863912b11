"""``events.orders.v1``: every state change and fill of every order, from the gateway-bridge."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Message, Money, Price, Quantity, Side

STREAM = "events.orders.v1"

EXTERNAL_PREFIX = "external:"
"""``client_order_id`` of an execution of an order this system did not place (TWS, the phone,
another API client): ``external:<perm_id>`` (IB's permanent order id, unique per order)."""

_EXTERNAL = (
    "True for an execution of an order this system did not place (orderRef empty or not in "
    "the bridge's journal); its client_order_id is `external:<perm_id>` and plan_id is None."
)


class OrderEvent(Message):
    """Fields common to every order event."""

    client_order_id: str
    plan_id: str | None = None
    account_id: str
    symbol: str | None = None
    ib_order_id: int | None = None
    perm_id: int | None = None


class OrderAccepted(OrderEvent):
    """IB acknowledged the order (PreSubmitted or Submitted)."""

    type: Literal["OrderAccepted"] = "OrderAccepted"
    side: Side
    quantity: Quantity
    status: str = Field(description="IB's status when accepted, e.g. `Submitted`.")


class OrderFilled(OrderEvent):
    """One execution: published once per IB ``exec_id``."""

    type: Literal["OrderFilled"] = "OrderFilled"
    exec_id: str
    side: Side
    last_quantity: Quantity
    last_price: Price
    cumulative_quantity: Quantity
    average_price: Price
    remaining_quantity: Quantity | None = None
    external: bool = Field(default=False, description=_EXTERNAL)


class CommissionReported(OrderEvent):
    """Commission (and realized PnL) of one execution."""

    type: Literal["CommissionReported"] = "CommissionReported"
    exec_id: str
    commission: Money
    currency: str = "USD"
    realized_pnl: Money | None = None
    external: bool = Field(default=False, description=_EXTERNAL)


class OrderCancelled(OrderEvent):
    """The order ended cancelled; ``filled_quantity`` had filled before."""

    type: Literal["OrderCancelled"] = "OrderCancelled"
    filled_quantity: Quantity = Quantity("0")
    reason: str | None = None


class OrderRejected(OrderEvent):
    """The order was refused (by the bridge, before IB, or by IB with its code and text)."""

    type: Literal["OrderRejected"] = "OrderRejected"
    reason: str
    code: int | None = Field(default=None, description="IB error code when IB refused it.")
    field: str | None = Field(default=None, description="The offending field when we refused it.")


class OrderStatusUnknown(OrderEvent):
    """The outcome is not known (timeout, disconnect, crash after sending). Never a rejection."""

    type: Literal["OrderStatusUnknown"] = "OrderStatusUnknown"
    reason: str
    not_found_at_ib: bool = Field(
        default=False,
        description=(
            "True when the bridge reconciled with IB (open orders, completed orders, "
            "executions) and IB does not know the orderRef: it was never received, so a new "
            "attempt (a new client_order_id) is safe for a still-valid plan."
        ),
    )


OrderEventMessage = Annotated[
    OrderAccepted
    | OrderFilled
    | CommissionReported
    | OrderCancelled
    | OrderRejected
    | OrderStatusUnknown,
    Field(discriminator="type"),
]
MESSAGES: tuple[type[Message], ...] = (
    OrderAccepted,
    OrderFilled,
    CommissionReported,
    OrderCancelled,
    OrderRejected,
    OrderStatusUnknown,
)
