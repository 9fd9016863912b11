"""Follow one order from the bridge's events: a status table, fills by exec_id, commissions.

IB is the truth: fills always count, whatever the status says (IB can report a fill after a
cancel), and each execution counts once however often it is redelivered. A track is a frozen
value; :func:`apply_order_event` returns the next one (the same object when nothing changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from shared.contracts.base import Message, Side
from shared.contracts.orders import (
    CommissionReported,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderStatusUnknown,
)
from shared.contracts.plans import LegResult
from shared.rebalancing.ids import ClientOrderId

OrderStatus = Literal["sent", "accepted", "filled", "cancelled", "rejected", "unknown"]
LegStatus = Literal["filled", "partially_filled", "cancelled", "rejected", "unknown", "skipped"]
FINAL: frozenset[str] = frozenset({"filled", "cancelled", "rejected"})
NOT_FILLED: tuple[OrderStatus, ...] = ("sent", "accepted", "unknown", "cancelled", "rejected")

MOVES: dict[tuple[OrderStatus, type[Message]], OrderStatus] = {
    ("sent", OrderAccepted): "accepted",
    ("unknown", OrderAccepted): "accepted",
    ("sent", OrderStatusUnknown): "unknown",
    ("accepted", OrderStatusUnknown): "unknown",
    **{(status, OrderCancelled): "cancelled" for status in NOT_FILLED},
    **{(status, OrderRejected): "rejected" for status in NOT_FILLED},
}
"""(status, event) -> status for the events that move an order without a fill. A filled order
never moves again; a fill moves it (see ``apply_order_event``)."""


@dataclass(frozen=True)
class OrderTrack:
    """What is known about one client order id."""

    client_order_id: str
    leg: int
    attempt: int
    symbol: str
    side: Side
    quantity: Decimal
    order_type: str = "MKT"
    status: OrderStatus = "sent"
    fills: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    commissions: Mapping[str, Decimal] = field(default_factory=dict)
    reason: str | None = None
    code: int | None = None
    field: str | None = None
    cancel_requested: bool = False
    not_found_at_ib: bool = False
    last_fill_at: datetime | None = None

    @property
    def plan_id(self) -> str | None:
        """The plan the order belongs to."""
        parsed = ClientOrderId.parse(self.client_order_id)
        return parsed.plan_id if parsed else None

    @property
    def filled(self) -> Decimal:
        """Quantity filled so far (sum of distinct executions)."""
        return sum((q for q, _ in self.fills.values()), Decimal(0))

    @property
    def value(self) -> Decimal:
        """Money that changed hands (filled quantity x price)."""
        return sum((q * p for q, p in self.fills.values()), Decimal(0))

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted average fill price, None before the first fill."""
        filled = self.filled
        return self.value / filled if filled > 0 else None

    @property
    def commission(self) -> Decimal:
        """Commission reported so far."""
        return sum(self.commissions.values(), Decimal(0))

    @property
    def final(self) -> bool:
        """Whether the order is done (filled, cancelled or rejected)."""
        return self.status in FINAL

    @property
    def left(self) -> Decimal:
        """Quantity not filled yet."""
        return self.quantity - self.filled

    @property
    def commissions_missing(self) -> bool:
        """Whether a fill still waits for its commission report."""
        return bool(set(self.fills) - set(self.commissions))


def _filled(track: OrderTrack, event: OrderFilled) -> OrderTrack:
    if event.exec_id in track.fills:
        return track
    fills = {**track.fills, event.exec_id: (event.last_quantity, event.last_price)}
    latest = track.last_fill_at
    if latest is None or event.ts_event > latest:
        latest = event.ts_event
    moved = replace(track, fills=fills, last_fill_at=latest)
    if moved.filled >= moved.quantity:
        return replace(moved, status="filled")
    return replace(moved, status=MOVES.get((track.status, OrderAccepted), track.status))


def apply_order_event(track: OrderTrack, event: Message) -> OrderTrack:
    """Return ``track`` after one order event (the same object when nothing changed)."""
    moved = _moved(track, event)
    return track if moved == track else moved


def _moved(track: OrderTrack, event: Message) -> OrderTrack:
    if isinstance(event, OrderFilled):
        return _filled(track, event)
    if isinstance(event, CommissionReported):
        if event.exec_id in track.commissions:
            return track
        return replace(track, commissions={**track.commissions, event.exec_id: event.commission})
    status = MOVES.get((track.status, type(event)))
    if status is None:
        return track
    if isinstance(event, OrderRejected):
        if track.fills:  # rejected after a partial fill: the rest will never fill
            return replace(track, status="cancelled", reason=event.reason)
        return replace(
            track, status=status, reason=event.reason, code=event.code, field=event.field
        )
    if isinstance(event, OrderCancelled):
        return replace(track, status=status, reason=event.reason)
    if isinstance(event, OrderStatusUnknown):
        # IB was asked after a reconnect and has no trace of it (never received): a new attempt
        # may be sent; an unknown outcome without this stays unknown (never resent).
        found = event.not_found_at_ib and not track.fills
        return replace(track, status=status, reason=event.reason, not_found_at_ib=found)
    return replace(track, status=status)


def needs_new_attempt(track: OrderTrack) -> bool:
    """Whether IB confirmed it never received this order, so a new attempt may be sent."""
    return track.status == "unknown" and track.not_found_at_ib and not track.fills


def leg_status(planned: Decimal, tracks: list[OrderTrack]) -> LegStatus:
    """Summarise the attempts of one leg into its result status."""
    if planned <= 0 or not tracks:
        return "skipped"
    filled = sum((t.filled for t in tracks), Decimal(0))
    last = max(tracks, key=lambda t: t.attempt)
    if filled >= planned or last.status == "filled":
        return "filled"
    if filled > 0:
        return "partially_filled"
    if last.status == "rejected":
        return "rejected"
    if last.status == "cancelled":
        return "cancelled"
    return "unknown"


def leg_result(
    leg: int, symbol: str, side: Side, ordered: Decimal, tracks: list[OrderTrack], plan_id: str
) -> LegResult:
    """One LegResult over every attempt at a leg (``ordered``: what the plan sized)."""
    filled = sum((t.filled for t in tracks), Decimal(0))
    value = sum((t.value for t in tracks), Decimal(0))
    return LegResult(
        leg=leg,
        client_order_id=tracks[-1].client_order_id
        if tracks
        else str(ClientOrderId(plan_id, leg, 0)),
        symbol=symbol,
        side=side,
        ordered_quantity=ordered,
        filled_quantity=filled,
        average_price=(value / filled) if filled > 0 else None,
        commission=sum((t.commission for t in tracks), Decimal(0)),
        status=leg_status(ordered, tracks),
    )
