"""The executor's decisions, as pure functions: from a plan's record, the account's policy,
what is known now and ``now`` itself, to a :class:`Decision`.

A decision is the plan events to publish (each is applied to the record with
:func:`executor.core.plan.apply`), the order commands to send, and the effects for the shell
to run (write a report, start the approval, wait for the deadline, start the run, abort a
run). Nothing here waits, reads a clock, talks to Redis or writes a file; the shell
(``executor.service``) does all of that and then asks again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from executor.core.orders import ALGO_TYPES, SOURCE
from executor.core.plan import PlanRecord, can
from executor.core.risk import RiskContext, RiskLeg, check_plan
from executor.core.tracking import OrderTrack, leg_result
from shared.contracts.base import Command, ExecutionMode, Message, Reason
from shared.contracts.order_commands import CancelAllOrders, CancelOrder
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading
from shared.contracts.plans import (
    LegResult,
    PlanApproved,
    PlanAwaitingApproval,
    PlanCompleted,
    PlanDryRunReported,
    PlanExecutionStarted,
    PlanExpired,
    PlanFailed,
    PlanRejected,
)
from shared.plans.view import PlanStatus
from shared.policy import ApprovalMode, ExecutionPolicy
from shared.rebalancing.ids import InvalidPlanId, check_plan_id

ReportKind = Literal["pre_trade", "post_trade", "summary"]
ALGO_ORDER_TYPES = frozenset(t.value for t in ALGO_TYPES)


@dataclass(frozen=True)
class WriteReport:
    """Write one CSV report of the plan (the summary after the outcome is applied)."""

    kind: ReportKind
    legs: tuple[LegResult, ...] = ()


@dataclass(frozen=True)
class StartApproval:
    """Run the approval in the background: trading window, gateway, risk gate."""

    by: str


@dataclass(frozen=True)
class ExpireAt:
    """Expire the plan at ``at`` unless something else happened to it first."""

    at: datetime


@dataclass(frozen=True)
class StartRun:
    """Execute the approved plan in the background."""


@dataclass(frozen=True)
class Abort:
    """Stop a running plan: it cancels its working orders and fails with ``reason``."""

    plan_id: str
    reason: str


Effect = WriteReport | StartApproval | ExpireAt | StartRun | Abort


@dataclass(frozen=True)
class Decision:
    """What to publish and do; an empty decision does nothing (``note`` says why)."""

    events: tuple[Message, ...] = ()
    commands: tuple[Command, ...] = ()
    effects: tuple[Effect, ...] = ()
    note: str | None = None

    def __add__(self, other: Decision) -> Decision:
        return Decision(
            self.events + other.events,
            self.commands + other.commands,
            self.effects + other.effects,
            self.note or other.note,
        )


NOTHING = Decision()


@dataclass(frozen=True)
class Facts:
    """What the shell knows at decision time besides the plan."""

    now: datetime
    halted: bool = False
    halt_reason: str | None = None
    order_valid_for: timedelta = timedelta(seconds=120)


def _envelope(record: PlanRecord, now: datetime) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "correlation_id": record.proposal.correlation_id,
        "ts_event": now,
        "plan_id": record.plan_id,
        "account_id": record.account_id,
    }


def halted_reason(reason: str | None) -> Reason:
    """The reason every plan refused during a halt carries."""
    return Reason(
        code="halted",
        message=f"trading is halted ({reason or 'HaltTrading'}); `rebalancer resume` lifts it",
    )


def is_live(record: PlanRecord, policy: ExecutionPolicy) -> bool:
    """Whether the plan may ever trade: asked to rebalance, for an account that may trade."""
    return (
        record.proposal.execution == ExecutionMode.REBALANCE
        and policy.approval != ApprovalMode.DRY_RUN
    )


def dry_run_why(record: PlanRecord, policy: ExecutionPolicy) -> str:
    """Why a plan is reported only."""
    if record.proposal.execution != ExecutionMode.REBALANCE:
        return "the trigger asked for a dry run"
    return f"the account's approval mode is {policy.approval.value}"


# ----------------------------------------------------------------- a plan arrives


def on_plan_proposed(record: PlanRecord, policy: ExecutionPolicy, facts: Facts) -> Decision:
    """Route a new plan: dry run, expired, refused (halt, unusable), wait for approval, or
    approve it automatically."""
    if record.status != PlanStatus.PROPOSED:
        return Decision(note=f"plan is {record.status.value} already")
    if not is_live(record, policy):
        why = dry_run_why(record, policy)
        reported = PlanDryRunReported(**_envelope(record, facts.now), why=why)
        return Decision((reported,), effects=(WriteReport("pre_trade"), WriteReport("summary")))
    if facts.now >= record.proposal.valid_until:
        return expire(record, facts.now)
    unusable = _unusable(record)
    if unusable:
        return reject(record, "approval", unusable, facts.now)
    if facts.halted:
        return reject(record, "approval", [halted_reason(facts.halt_reason)], facts.now)
    if policy.approval == ApprovalMode.MANUAL or record.proposal.hold_for_approval:
        event = PlanAwaitingApproval(
            **_envelope(record, facts.now),
            valid_until=record.proposal.valid_until,
            leg_count=len(record.proposal.legs),
        )
        return Decision((event,), effects=(ExpireAt(record.proposal.valid_until),))
    return Decision(effects=(StartApproval("auto"),))


def _unusable(record: PlanRecord) -> list[Reason]:
    """Why a live plan cannot be executed as it is, whatever the market says."""
    reasons = []
    try:
        check_plan_id(record.plan_id)
    except InvalidPlanId as error:
        reasons.append(Reason(code="invalid_plan_id", message=f"{error}; plan again"))
    if record.proposal.sizing is None and any(
        leg.side.value == "BUY" for leg in record.proposal.legs
    ):
        reasons.append(
            Reason(
                code="no_sizing_terms",
                message="the plan carries no sizing terms for its buys (made by an older "
                "planner); upgrade the planner and rebalance again",
            )
        )
    return reasons


def on_approve_plan(record: PlanRecord, command: ApprovePlan, now: datetime) -> Decision:
    """An operator approves: start the approval if the plan waits for it and is still valid."""
    if record.status != PlanStatus.AWAITING_APPROVAL:
        return Decision(note=f"ApprovePlan ignored: plan is {record.status.value}")
    if command.is_expired(now) or now >= record.proposal.valid_until:
        return expire(record, now)
    return Decision(effects=(StartApproval(command.approved_by),))


def approve(
    record: PlanRecord,
    policy: ExecutionPolicy,
    context: RiskContext | Reason,
    facts: Facts,
    by: str,
) -> Decision:
    """The last step of approval: halt, then the risk gate against a fresh view (or why there
    is none); PlanApproved and the run when everything passes."""
    if record.status not in (PlanStatus.PROPOSED, PlanStatus.AWAITING_APPROVAL):
        return Decision(note=f"approval dropped: plan is {record.status.value}")
    if facts.halted:
        return reject(record, "approval", [halted_reason(facts.halt_reason)], facts.now)
    if isinstance(context, Reason):
        return reject(record, "risk", [context], facts.now)
    legs = [
        RiskLeg(leg.symbol, leg.side, leg.quantity, leg.reference_price)
        for leg in record.proposal.legs
    ]
    reasons = check_plan(legs, policy, context)
    if reasons:
        return reject(record, "risk", reasons, facts.now)
    event = PlanApproved(**_envelope(record, facts.now), approved_by=by)
    return Decision((event,), effects=(WriteReport("pre_trade"), StartRun()))


def reject(record: PlanRecord, stage: str, reasons: list[Reason], now: datetime) -> Decision:
    """PlanRejected with every reason, the pre-trade report and the run summary."""
    if not can(record, PlanRejected):
        return Decision(note=f"no rejection: plan is {record.status.value}")
    event = PlanRejected(
        **_envelope(record, now),
        allocation_id=record.proposal.allocation_id,
        stage=stage,
        reasons=tuple(reasons),
    )
    return Decision((event,), effects=(WriteReport("pre_trade"), WriteReport("summary")))


def expire(record: PlanRecord, now: datetime) -> Decision:
    """PlanExpired for a plan that never started (its deadline, window or gateway passed)."""
    if not can(record, PlanExpired):
        return Decision(note=f"no expiry: plan is {record.status.value}")
    event = PlanExpired(**_envelope(record, now))
    return Decision((event,), effects=(WriteReport("summary"),))


def fail(
    record: PlanRecord, reasons: list[Reason], legs: tuple[LegResult, ...], now: datetime
) -> Decision:
    """PlanFailed with the reasons and whatever the legs did."""
    if not can(record, PlanFailed):
        return Decision(note=f"no failure: plan is {record.status.value}")
    event = PlanFailed(
        **_envelope(record, now),
        reasons=tuple(reasons),
        legs=legs,
    )
    effects: tuple[Effect, ...] = (WriteReport("summary", legs),)
    if any(leg.filled_quantity > 0 for leg in legs):
        effects = (WriteReport("post_trade", legs), *effects)
    return Decision((event,), effects=effects)


# ----------------------------------------------------------------- operator commands


def on_cancel_plan(
    record: PlanRecord, command: CancelPlan, open_orders: Iterable[OrderTrack], facts: Facts
) -> Decision:
    """Drop a plan that has not started, or abort a running one (its open orders cancelled)."""
    reason = Reason(code="cancelled", message=f"cancelled: {command.reason}")
    if record.status in (PlanStatus.PROPOSED, PlanStatus.AWAITING_APPROVAL):
        return fail(record, [reason], (), facts.now)
    if record.status not in (PlanStatus.APPROVED, PlanStatus.EXECUTING):
        return Decision(note=f"CancelPlan ignored: plan is {record.status.value}")
    cancels = tuple(
        cancel_order(record, track, "plan cancelled", facts)
        for track in open_orders
        if not track.final and not track.cancel_requested
    )
    return Decision(commands=cancels, effects=(Abort(record.plan_id, reason.message),))


def cancel_order(record: PlanRecord, track: OrderTrack, why: str, facts: Facts) -> CancelOrder:
    """Ask the bridge to cancel one order of the plan."""
    return CancelOrder(
        source=SOURCE,
        correlation_id=record.proposal.correlation_id,
        ts_event=facts.now,
        client_order_id=track.client_order_id,
        account_id=record.account_id,
        reason=why,
        valid_until=facts.now + facts.order_valid_for,
    )


def on_halt(command: HaltTrading, running: Iterable[PlanRecord], facts: Facts) -> Decision:
    """Kill switch: cancel every open order of every account and abort the running plans."""
    cancel_all = CancelAllOrders(
        source=SOURCE,
        ts_event=facts.now,
        reason=f"HaltTrading: {command.reason}",
        valid_until=facts.now + facts.order_valid_for,
    )
    aborts = tuple(
        Abort(record.plan_id, f"trading halted: {command.reason}")
        for record in running
        if record.status in (PlanStatus.APPROVED, PlanStatus.EXECUTING)
    )
    return Decision(commands=(cancel_all,), effects=aborts)


# ----------------------------------------------------------------- the run


def start(
    record: PlanRecord,
    policy: ExecutionPolicy,
    *,
    abort: str | None,
    has_orders: bool,
    facts: Facts,
) -> Decision:
    """Begin executing an approved plan (or fail it, when it was aborted before starting)."""
    if record.status != PlanStatus.APPROVED:
        return Decision(note=f"no start: plan is {record.status.value}")
    if abort:
        return fail(record, [Reason(code="aborted", message=abort)], (), facts.now)
    event = PlanExecutionStarted(
        **_envelope(record, facts.now),
        leg_count=len(record.proposal.legs),
    )
    commands: tuple[Command, ...] = ()
    if policy.cancel_open_orders_first and not has_orders:
        commands = (
            CancelAllOrders(
                source=SOURCE,
                correlation_id=record.proposal.correlation_id,
                ts_event=facts.now,
                account_ids=(record.account_id,),
                reason=f"plan {record.plan_id} cancels open orders first",
                valid_until=facts.now + facts.order_valid_for,
            ),
        )
    return Decision((event,), commands)


def results(
    record: PlanRecord, attempts: Mapping[int, list[OrderTrack]], sized: Mapping[int, Decimal]
) -> tuple[LegResult, ...]:
    """One LegResult per leg of the plan, over every attempt at it."""
    found = []
    for leg in record.proposal.legs:
        tracks = attempts.get(leg.leg, [])
        ordered = sized.get(leg.leg, tracks[0].quantity if tracks else Decimal(0))
        found.append(leg_result(leg.leg, leg.symbol, leg.side, ordered, tracks, record.plan_id))
    return tuple(found)


FAILED_LEG = ("rejected", "cancelled", "unknown", "partially_filled")


def finish(
    record: PlanRecord,
    attempts: Mapping[int, list[OrderTrack]],
    sized: Mapping[int, Decimal],
    *,
    abort: str | None,
    problems: list[Reason],
    facts: Facts,
) -> Decision:
    """The end of a run: PlanCompleted when every leg filled (or was sized to nothing), else
    PlanFailed with one reason per leg that did not, plus why the run stopped."""
    legs = results(record, attempts, sized)
    reasons = [Reason(code="aborted", message=abort)] if abort else []
    reasons += problems
    for leg in legs:
        if leg.status in FAILED_LEG:
            tracks = attempts.get(leg.leg, [])
            why = f": {tracks[-1].reason}" if tracks and tracks[-1].reason else ""
            reasons.append(
                Reason(
                    code=f"leg_{leg.status}",
                    symbol=leg.symbol,
                    message=f"{leg.side.value} {leg.symbol} {leg.status} "
                    f"({leg.filled_quantity}/{leg.ordered_quantity}){why}",
                )
            )
    if reasons:
        return fail(record, reasons, legs, facts.now)
    if not can(record, PlanCompleted):
        return Decision(note=f"no completion: plan is {record.status.value}")
    event = PlanCompleted(**_envelope(record, facts.now), legs=legs)
    effects: tuple[Effect, ...] = (WriteReport("summary", legs),)
    if any(leg.filled_quantity > 0 for leg in legs):
        effects = (WriteReport("post_trade", legs), *effects)
    return Decision((event,), effects=effects)


@dataclass(frozen=True)
class Retry:
    """A new attempt at a leg: its quantity, and whether it falls back to a market order."""

    leg: int
    quantity: Decimal
    attempt: int
    fallback: bool = False
    why: str = ""


def retries(last_attempts: Mapping[int, OrderTrack], policy: ExecutionPolicy) -> tuple[Retry, ...]:
    """New attempts for orders that never worked: IB confirmed it never received one, an algo
    IB refused (as a plain market order, when the account allows it), or an order the bridge
    refused because it read it after its ``valid_until``."""
    found = []
    for leg, track in last_attempts.items():
        if track.status == "unknown" and track.not_found_at_ib and not track.fills:
            found.append(
                Retry(
                    leg,
                    track.quantity,
                    track.attempt + 1,
                    why=f"never received by IB ({track.reason})",
                )
            )
            continue
        if track.status != "rejected":
            continue
        algo_refused = track.order_type in ALGO_ORDER_TYPES and policy.fallback_to_market
        if algo_refused or track.field == "valid_until":
            found.append(
                Retry(
                    leg,
                    track.quantity,
                    track.attempt + 1,
                    fallback=algo_refused,
                    why=track.reason or "",
                )
            )
    return tuple(found)
