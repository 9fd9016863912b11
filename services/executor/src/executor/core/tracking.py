"""Follow one order from the bridge's events: status, fills (by exec_id), commissions.

IB is the truth: fills always count, whatever the status says (IB can report a fill after a
cancel), and each execution counts once however often it is redelivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

OrderStatus = Literal["sent", "accepted", "filled", "cancelled", "rejected", "unknown"]
FINAL: frozenset[str] = frozenset({"filled", "cancelled", "rejected"})
LegStatus = Literal["filled", "partially_filled", "cancelled", "rejected", "unknown", "skipped"]


@dataclass
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
    fills: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    commissions: dict[str, Decimal] = field(default_factory=dict)
    reason: str | None = None
    code: int | None = None
    field: str | None = None
    cancel_requested: bool = False
    not_found_at_ib: bool = False
    last_fill_at: datetime | None = None

    @property
    def filled(self) -> Decimal:
        """Quantity filled so far (sum of distinct executions)."""
        return sum((q for q, _ in self.fills.values()), Decimal(0))

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted average fill price, None before the first fill."""
        filled = self.filled
        if filled <= 0:
            return None
        return sum((q * p for q, p in self.fills.values()), Decimal(0)) / filled

    @property
    def commission(self) -> Decimal:
        """Commission reported so far."""
        return sum(self.commissions.values(), Decimal(0))

    @property
    def final(self) -> bool:
        """Whether the order is done (filled, cancelled or rejected)."""
        return self.status in FINAL

    @property
    def value(self) -> Decimal:
        """Money that changed hands (filled quantity x price)."""
        return sum((q * p for q, p in self.fills.values()), Decimal(0))


def apply_order_event(track: OrderTrack, event: Message) -> bool:
    """Update ``track`` with one order event; return whether anything changed."""
    before = (track.status, len(track.fills), len(track.commissions))
    if isinstance(event, OrderFilled):
        track.fills.setdefault(event.exec_id, (event.last_quantity, event.last_price))
        if track.last_fill_at is None or event.ts_event > track.last_fill_at:
            track.last_fill_at = event.ts_event
        if track.filled >= track.quantity:
            track.status = "filled"
        elif track.status in ("sent", "unknown"):
            track.status = "accepted"
    elif isinstance(event, CommissionReported):
        track.commissions.setdefault(event.exec_id, event.commission)
    elif isinstance(event, OrderAccepted):
        if track.status in ("sent", "unknown"):
            track.status = "accepted"
    elif isinstance(event, OrderCancelled):
        if track.status != "filled":
            track.status = "cancelled"
            track.reason = event.reason
    elif isinstance(event, OrderRejected):
        if track.status != "filled" and not track.fills:
            track.status = "rejected"
            track.reason = event.reason
            track.code = event.code
            track.field = event.field
        elif track.status != "filled":
            track.status = "cancelled"
            track.reason = event.reason
    elif isinstance(event, OrderStatusUnknown) and track.status in ("sent", "accepted"):
        track.status = "unknown"
        track.reason = event.reason
        # IB was asked after a reconnect and has no trace of it (never received): the runner
        # may send a new attempt; an unknown outcome without this stays unknown (never resent).
        track.not_found_at_ib = event.not_found_at_ib and not track.fills
    return before != (track.status, len(track.fills), len(track.commissions))


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
