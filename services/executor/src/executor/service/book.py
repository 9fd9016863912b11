"""What the executor holds in memory: plan records, order tracks, the flags, and each running
plan's runtime state.

Everything durable in it is rebuilt from the streams at start (``recovery.py``) with the same
functions the live handlers use: plan events through ``core.plan.apply``, our SubmitOrders
through :meth:`Book.add_order`, order events through :meth:`Book.on_order_event`. Order tracks
are created *before* their SubmitOrder is published, so an event can never arrive for an order
the book does not know.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from executor.core.plan import ACTIVE, OPEN, PlanRecord, apply
from executor.core.tracking import OrderTrack, apply_order_event
from shared.contracts.base import Message, Side
from shared.contracts.order_commands import SubmitOrder
from shared.plans.view import HaltView
from shared.rebalancing.ids import ClientOrderId

TRIGGERS_KEPT = 10_000


@dataclass
class PlanRun:
    """Runtime state of a plan being approved or executed (rebuilt as needed, never durable)."""

    changed: asyncio.Event = field(default_factory=asyncio.Event)
    abort: str | None = None
    cash_at_gate: Decimal | None = None
    cash_before_fx: dict[str, Decimal] | None = None
    """Cash per currency when the FX legs were sized (None after a restart)."""


@dataclass
class Book:
    """All plans by id, order tracks by client order id, and the global flags."""

    records: dict[str, PlanRecord] = field(default_factory=dict)
    orders: dict[str, OrderTrack] = field(default_factory=dict)
    by_plan: dict[str, dict[str, OrderTrack]] = field(default_factory=dict)
    sized: dict[str, dict[int, Decimal]] = field(default_factory=dict)
    """Buys as sized after the sells: plan -> leg -> quantity (0: skipped)."""
    halt: HaltView = field(default_factory=HaltView)
    gateway_ready: bool = False
    gateway_changed: asyncio.Event = field(default_factory=asyncio.Event)
    daily: dict[tuple[str, date], tuple[int, Decimal]] = field(default_factory=dict)
    seen_commands: set[str] = field(default_factory=set)
    triggers: dict[str, datetime] = field(default_factory=dict)
    """When each recent rebalance was requested, by correlation id (the trigger's message id)."""
    runs: dict[str, PlanRun] = field(default_factory=dict)

    # ------------------------------------------------------------------ plans

    def apply(self, event: Message) -> PlanRecord:
        """Apply a plan event to its record (strict: an unlisted move raises)."""
        plan_id = str(getattr(event, "plan_id", ""))
        record = apply(self.records.get(plan_id), event)
        self.records[plan_id] = record
        self.run(plan_id).changed.set()
        return record

    def run(self, plan_id: str) -> PlanRun:
        """The runtime state of a plan (made on first use)."""
        return self.runs.setdefault(plan_id, PlanRun())

    def open_records(self) -> list[PlanRecord]:
        """Plans not yet in a terminal state."""
        return [r for r in self.records.values() if r.status in OPEN]

    def active_plan(self, account_id: str, other_than: str) -> str | None:
        """Id of another approved or executing plan of the account, if any."""
        for record in self.records.values():
            if (
                record.account_id == account_id
                and record.plan_id != other_than
                and record.status in ACTIVE
            ):
                return record.plan_id
        return None

    # ------------------------------------------------------------------ orders

    def add_order(self, command: SubmitOrder, reference_price: Decimal) -> OrderTrack | None:
        """Track one of our SubmitOrders (before it is published, or when replayed)."""
        parsed = ClientOrderId.parse(command.client_order_id)
        if parsed is None or command.client_order_id in self.orders:
            return None
        track = OrderTrack(
            command.client_order_id,
            parsed.leg,
            parsed.attempt,
            command.symbol,
            command.side,
            command.quantity,
            command.order_type.value,
        )
        self.orders[track.client_order_id] = track
        self.by_plan.setdefault(parsed.plan_id, {})[track.client_order_id] = track
        if parsed.attempt == 0 and command.side == Side.BUY:
            self.sized.setdefault(parsed.plan_id, {}).setdefault(parsed.leg, command.quantity)
        self.count_order(
            command.account_id, command.ts_init.date(), command.quantity * reference_price
        )
        return track

    def _store(self, track: OrderTrack) -> None:
        self.orders[track.client_order_id] = track
        plan_id = track.plan_id
        if plan_id is not None:
            self.by_plan.setdefault(plan_id, {})[track.client_order_id] = track
            self.run(plan_id).changed.set()

    def mark_cancel_requested(self, client_order_id: str) -> None:
        """Remember that a CancelOrder went out for an order."""
        track = self.orders.get(client_order_id)
        if track is not None and not track.cancel_requested:
            self._store(replace(track, cancel_requested=True))

    def on_order_event(self, event: Message) -> bool:
        """Follow an order of ours; return whether its track changed (its plan is woken)."""
        coid = getattr(event, "client_order_id", None)
        track = self.orders.get(coid) if coid else None
        if track is None:
            return False  # not ours (or an order of a plan long gone)
        moved = apply_order_event(track, event)
        if moved is track:
            return False
        self._store(moved)
        return True

    def attempts(self, plan_id: str) -> dict[int, list[OrderTrack]]:
        """Every order of a plan, by leg, in attempt order."""
        found: dict[int, list[OrderTrack]] = {}
        for track in self.by_plan.get(plan_id, {}).values():
            found.setdefault(track.leg, []).append(track)
        for tracks in found.values():
            tracks.sort(key=lambda t: t.attempt)
        return found

    def last_attempt(self, plan_id: str, leg: int) -> OrderTrack | None:
        """The newest order sent for a leg, if any."""
        tracks = self.attempts(plan_id).get(leg)
        return tracks[-1] if tracks else None

    def plan_orders(self, plan_id: str) -> list[OrderTrack]:
        """Every order of a plan."""
        return list(self.by_plan.get(plan_id, {}).values())

    def open_sells(self, account_id: str, other_than: str) -> dict[str, Decimal]:
        """Unfilled quantity of working sells of the account's other plans, by symbol."""
        result: dict[str, Decimal] = {}
        for plan_id, tracks in self.by_plan.items():
            record = self.records.get(plan_id)
            if record is None or record.account_id != account_id or plan_id == other_than:
                continue
            for track in tracks.values():
                if track.side == Side.SELL and not track.final:
                    result[track.symbol] = result.get(track.symbol, Decimal(0)) + track.left
        return result

    def count_order(self, account_id: str, day: date, notional: Decimal) -> None:
        """Add one order to the account's daily counters."""
        count, total = self.daily.get((account_id, day), (0, Decimal(0)))
        self.daily[(account_id, day)] = (count + 1, total + notional)

    def today(self, account_id: str, day: date) -> tuple[int, Decimal]:
        """Orders and notional sent today for the account."""
        return self.daily.get((account_id, day), (0, Decimal(0)))

    # ------------------------------------------------------------------ triggers, gateway

    def note_trigger(self, correlation_id: str, at: datetime) -> None:
        """Remember a trigger's time; only the newest TRIGGERS_KEPT are kept (bounded memory)."""
        self.triggers.pop(correlation_id, None)
        self.triggers[correlation_id] = at
        while len(self.triggers) > TRIGGERS_KEPT:
            del self.triggers[next(iter(self.triggers))]

    def triggered_at(self, correlation_id: str | None) -> datetime | None:
        """When the rebalance behind ``correlation_id`` was requested, if the trigger was seen."""
        return self.triggers.get(correlation_id) if correlation_id else None

    def set_gateway(self, ready: bool) -> None:
        """Record the gateway's state and wake whoever waits for it."""
        self.gateway_ready = ready
        self.gateway_changed.set()
