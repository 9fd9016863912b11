"""IB order statuses, error codes and executions -> our order events, by table."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ib_async import Fill, Trade

from gateway_bridge.parsing.numbers import decimal_or_none, price_or_none, quantity
from shared.contracts.base import Side
from shared.contracts.orders import (
    EXTERNAL_PREFIX,
    CommissionReported,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
)
from shared.rebalancing.ids import ClientOrderId


class IbStatus(StrEnum):
    """What an IB order status means for us."""

    PENDING = "pending"  # not yet acknowledged by IB
    WORKING = "working"  # acknowledged, live at IB
    FILLED = "filled"
    CANCELLED = "cancelled"
    INACTIVE = "inactive"  # IB refused or deactivated it: a rejection
    WARNING = "warning"  # ib_async's "ValidationError": a warning, the order lives on


ORDER_STATUS: dict[str, IbStatus] = {
    "PendingSubmit": IbStatus.PENDING,
    "ApiPending": IbStatus.PENDING,
    "PreSubmitted": IbStatus.WORKING,
    "Submitted": IbStatus.WORKING,
    "PendingCancel": IbStatus.WORKING,
    "Filled": IbStatus.FILLED,
    "Cancelled": IbStatus.CANCELLED,
    "ApiCancelled": IbStatus.CANCELLED,
    "Inactive": IbStatus.INACTIVE,
    # ib_async sets this status when IB sends a warning (399, 404, 2104, ...) for a live order.
    "ValidationError": IbStatus.WARNING,
}

WARNING_CODES = frozenset({105, 110, 165, 321, 329, 399, 404, 434, 492, 2104, 2106, 2158, 10167})
"""IB codes that inform and never end an order (ib_async also treats 2100-2199 so)."""

CANCEL_CODES = frozenset({202, 10148})
"""Errors that report a cancellation (ours or IB's), not a refusal."""

CONNECTIVITY_CODES = frozenset({1100, 1101, 1102, 2110})


def is_warning(code: int) -> bool:
    """Return whether an IB code is a warning that leaves orders and the connection alone."""
    return code in WARNING_CODES or 2100 <= code < 2200


def classify(status: str) -> IbStatus:
    """Map an IB status string (unknown ones count as PENDING, the cautious reading)."""
    return ORDER_STATUS.get(status, IbStatus.PENDING)


@dataclass(frozen=True)
class OrderRefs:
    """Identity fields of every order event of one order."""

    client_order_id: str
    plan_id: str | None
    account_id: str
    symbol: str | None
    ib_order_id: int | None
    perm_id: int | None
    correlation_id: str | None = None


def plan_id_of(client_order_id: str) -> str | None:
    """Return the plan id of one of our client order ids (``<plan_id>.<leg>.<attempt>``)."""
    parsed = ClientOrderId.parse(client_order_id)
    return parsed.plan_id if parsed else None


def refs_of(trade: Trade, *, source_account: str | None = None) -> OrderRefs:
    """Return the identity of an IB trade (its orderRef is our client_order_id)."""
    order = trade.order
    return OrderRefs(
        client_order_id=order.orderRef,
        plan_id=plan_id_of(order.orderRef),
        account_id=order.account or source_account or "",
        symbol=trade.contract.symbol or None,
        ib_order_id=order.orderId or trade.orderStatus.orderId or None,
        perm_id=order.permId or trade.orderStatus.permId or None,
    )


def event_ids(refs: OrderRefs) -> dict[str, object]:
    """The identity fields every order event of one order carries."""
    return {
        "client_order_id": refs.client_order_id,
        "plan_id": refs.plan_id,
        "account_id": refs.account_id,
        "symbol": refs.symbol,
        "ib_order_id": refs.ib_order_id,
        "perm_id": refs.perm_id,
        "correlation_id": refs.correlation_id,
    }


def last_error(trade: Trade) -> tuple[int, str] | None:
    """Return the last error code and text IB logged on the trade (warnings excluded)."""
    for entry in reversed(trade.log):
        if entry.errorCode and not is_warning(entry.errorCode):
            return entry.errorCode, entry.message
    return None


def side_of(action: str) -> Side:
    """Map IB's action ('BUY'/'SELL', executions say 'BOT'/'SLD')."""
    return Side.BUY if action.upper() in ("BUY", "BOT") else Side.SELL


def accepted(trade: Trade, refs: OrderRefs, source: str) -> OrderAccepted:
    """Return OrderAccepted for an acknowledged trade."""
    status = trade.orderStatus.status
    return OrderAccepted(
        source=source,
        **event_ids(refs),
        side=side_of(trade.order.action),
        quantity=quantity(trade.order.totalQuantity),
        status=status if classify(status) == IbStatus.WORKING else "Submitted",
    )


def cancelled(trade: Trade, refs: OrderRefs, source: str) -> OrderCancelled:
    """Return OrderCancelled with what had filled before."""
    error = last_error(trade)
    return OrderCancelled(
        source=source,
        **event_ids(refs),
        filled_quantity=filled_quantity(trade),
        reason=f"{error[0]}: {error[1]}" if error else trade.orderStatus.status,
    )


def rejected(trade: Trade, refs: OrderRefs, source: str) -> OrderRejected:
    """Return OrderRejected with IB's code and text."""
    error = last_error(trade)
    if error:
        return OrderRejected(source=source, **event_ids(refs), code=error[0], reason=error[1])
    return OrderRejected(
        source=source,
        **event_ids(refs),
        reason=f"IB set the order {trade.orderStatus.status}",
    )


def ends_as(trade: Trade) -> str | None:
    """Return how a finished trade ends for us: 'filled', 'cancelled', 'rejected' or None.

    IB shows a refusal as ``Inactive``, or as ``Cancelled`` with an error code (201 and
    friends) before anything filled; a cancellation (ours, 202) is not a refusal.
    """
    kind = classify(trade.orderStatus.status)
    if kind == IbStatus.FILLED:
        return "filled"
    if kind == IbStatus.INACTIVE:
        return "rejected"
    if kind == IbStatus.CANCELLED:
        error = last_error(trade)
        filled = filled_quantity(trade)
        if error and error[0] not in CANCEL_CODES and filled == 0:
            return "rejected"
        return "cancelled"
    return None


def external_refs(fill: Fill) -> OrderRefs:
    """The identity of an execution of an order this system did not place.

    ``external:<perm_id>``: IB's permanent order id is unique per order across sessions and
    clients, so every execution of one external order shares it; the colon keeps it from ever
    parsing as our ``<plan>.<leg>.<attempt>``. Without a perm id, ``external:exec:<exec_id>``.
    """
    execution = fill.execution
    perm_id = execution.permId or None
    key = str(perm_id) if perm_id else f"exec:{execution.execId}"
    return OrderRefs(
        client_order_id=f"{EXTERNAL_PREFIX}{key}",
        plan_id=None,
        account_id=execution.acctNumber,
        symbol=fill.contract.symbol or None,
        ib_order_id=execution.orderId or None,
        perm_id=perm_id,
    )


def filled(
    fill: Fill, refs: OrderRefs, total: Decimal | None, source: str, *, external: bool = False
) -> OrderFilled:
    """Return OrderFilled for one execution (``external``: of an order we did not place)."""
    execution = fill.execution
    cumulative = quantity(execution.cumQty)
    return OrderFilled(
        source=source,
        external=external,
        ts_event=fill.time,
        **{**event_ids(refs), "account_id": execution.acctNumber or refs.account_id},
        exec_id=execution.execId,
        side=side_of(execution.side),
        last_quantity=quantity(execution.shares),
        last_price=price_or_none(execution.price) or Decimal(0),
        cumulative_quantity=cumulative,
        average_price=price_or_none(execution.avgPrice) or Decimal(0),
        remaining_quantity=(total - cumulative) if total is not None else None,
    )


def commission(
    fill: Fill, refs: OrderRefs, source: str, *, external: bool = False
) -> CommissionReported | None:
    """Return CommissionReported, or None while IB has not reported the commission yet."""
    report = fill.commissionReport
    amount = decimal_or_none(report.commission)
    if not report.execId or amount is None:
        return None
    return CommissionReported(
        source=source,
        external=external,
        **{**event_ids(refs), "account_id": fill.execution.acctNumber or refs.account_id},
        exec_id=report.execId,
        commission=amount,
        currency=report.currency or "USD",
        realized_pnl=decimal_or_none(report.realizedPNL),
    )


def filled_quantity(trade: Trade) -> Decimal:
    """Return what has filled of a trade (completed orders carry it on the order only)."""
    on_order = trade.order.filledQuantity
    from_order = quantity(on_order) if on_order else Decimal(0)
    return max(quantity(trade.orderStatus.filled), from_order)
