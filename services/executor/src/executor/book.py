"""The executor's in-memory state: plans, their orders, the halt flag and the gateway.

Everything here is rebuilt from the streams at start (see ``recovery.py``); nothing in it is
the durable record. Order tracks are created *before* their SubmitOrder is published, so an
event can never arrive for an order the book does not know.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from executor.core.orders import parse_client_order_id
from executor.core.state import ACTIVE, PlanStatus, PlanTrigger, apply
from executor.core.tracking import OrderTrack
from shared.contracts.base import Reason, Side
from shared.contracts.plans import PlanLeg, PlanProposed
from shared.policy import ExecutionPolicy

TRIGGERS_KEPT = 10_000


@dataclass
class PlanRecord:
    """One plan: the proposal, its status, its orders and what the run decided."""

    proposal: PlanProposed
    status: PlanStatus = PlanStatus.PROPOSED
    approved_by: str | None = None
    started: bool = False
    reasons: tuple[Reason, ...] = ()
    tracks: dict[str, OrderTrack] = field(default_factory=dict)
    sized: dict[int, Decimal] = field(default_factory=dict)
    abort: str | None = None
    approved_at: datetime | None = None
    finished_at: datetime | None = None
    pre_leverage: Decimal | None = None
    cash_at_gate: Decimal | None = None
    reports: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def plan_id(self) -> str:
        return self.proposal.plan_id

    @property
    def account_id(self) -> str:
        return self.proposal.account_id

    def legs(self, side: Side) -> list[PlanLeg]:
        """The plan's legs of one side, in plan order."""
        return [leg for leg in self.proposal.legs if leg.side == side]

    def attempts(self, leg: int) -> list[OrderTrack]:
        """Every order sent for ``leg``, by attempt."""
        return sorted((t for t in self.tracks.values() if t.leg == leg), key=lambda t: t.attempt)

    def move(self, trigger: PlanTrigger) -> None:
        """Apply a state machine trigger (raises on an unlisted transition)."""
        self.status = apply(self.status, trigger)
        self.changed.set()


@dataclass
class Book:
    """All plans by id, order tracks by client order id, and the global flags."""

    plans: dict[str, PlanRecord] = field(default_factory=dict)
    orders: dict[str, OrderTrack] = field(default_factory=dict)
    halted: bool = False
    halt_reason: str | None = None
    gateway_ready: bool = False
    gateway_changed: asyncio.Event = field(default_factory=asyncio.Event)
    daily: dict[tuple[str, date], tuple[int, Decimal]] = field(default_factory=dict)
    seen_commands: set[str] = field(default_factory=set)
    # When each recent rebalance was requested, by correlation id (the trigger's message id).
    triggers: dict[str, datetime] = field(default_factory=dict)

    def note_trigger(self, correlation_id: str, at: datetime) -> None:
        """Remember a trigger's time; only the newest TRIGGERS_KEPT are kept (bounded memory)."""
        self.triggers.pop(correlation_id, None)
        self.triggers[correlation_id] = at
        while len(self.triggers) > TRIGGERS_KEPT:
            del self.triggers[next(iter(self.triggers))]

    def triggered_at(self, correlation_id: str | None) -> datetime | None:
        """When the rebalance behind ``correlation_id`` was requested, if the trigger was seen."""
        return self.triggers.get(correlation_id) if correlation_id else None

    def add_track(self, track: OrderTrack) -> None:
        """Register an order (before its SubmitOrder is published)."""
        self.orders[track.client_order_id] = track
        parsed = parse_client_order_id(track.client_order_id)
        if parsed and parsed[0] in self.plans:
            self.plans[parsed[0]].tracks[track.client_order_id] = track

    def plan_of(self, client_order_id: str) -> PlanRecord | None:
        """The plan an order belongs to, if it is one of ours."""
        parsed = parse_client_order_id(client_order_id)
        return self.plans.get(parsed[0]) if parsed else None

    def active_plan(self, account_id: str, other_than: str) -> str | None:
        """Id of another approved or executing plan of the account, if any."""
        for record in self.plans.values():
            if (
                record.account_id == account_id
                and record.plan_id != other_than
                and record.status in ACTIVE
            ):
                return record.plan_id
        return None

    def open_sells(self, account_id: str, other_than: str) -> dict[str, Decimal]:
        """Unfilled quantity of working sells of the account's other plans, by symbol."""
        result: dict[str, Decimal] = {}
        for record in self.plans.values():
            if record.account_id != account_id or record.plan_id == other_than:
                continue
            for track in record.tracks.values():
                if track.side == Side.SELL and not track.final:
                    left = track.quantity - track.filled
                    result[track.symbol] = result.get(track.symbol, Decimal(0)) + left
        return result

    def count_order(self, account_id: str, day: date, notional: Decimal) -> None:
        """Add one order to the account's daily counters."""
        count, total = self.daily.get((account_id, day), (0, Decimal(0)))
        self.daily[(account_id, day)] = (count + 1, total + notional)

    def today(self, account_id: str, day: date) -> tuple[int, Decimal]:
        """Orders and notional sent today for the account."""
        return self.daily.get((account_id, day), (0, Decimal(0)))


def policy_decimal(proposal: PlanProposed, key: str, default: Decimal) -> Decimal:
    """Read a number from the plan's recorded planning policy."""
    raw = proposal.policy.get(key)
    try:
        return Decimal(str(raw).strip('"')) if raw is not None else default
    except ArithmeticError:
        return default


def policy_flag(proposal: PlanProposed, key: str) -> bool:
    """Read a boolean from the plan's recorded planning policy."""
    return str(proposal.policy.get(key, "false")).lower() == "true"


def execution_policy_record(policy: ExecutionPolicy) -> dict[str, str]:
    """Flatten an execution policy for the read model."""
    return {k: str(v) for k, v in policy.model_dump(mode="json").items() if v is not None}
