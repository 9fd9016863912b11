"""Fold ``events.plans.v1`` into one view per plan, with one status vocabulary for everyone.

Every decision about a plan is an event on the stream (proposed, dry run reported, awaiting
approval, approved, started, completed, failed, rejected, expired), so the stream is the one
truth: the executor rebuilds its plans from it after a restart, the notifier serves it on
``GET /api/v1/plans``, and the CLI lists it with ``rebalancer plans``.

:data:`TRANSITIONS` says which event may follow which status. The executor applies it
strictly (an unlisted event is a broken invariant); :func:`fold` is a reader and ignores
an event the table does not list (a redelivery, or a producer it does not know), so a plan's
final state is never rewound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.contracts.base import Message, Reason
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.contracts.plans import (
    BatchSummary,
    DriftRow,
    LegResult,
    PlanApproved,
    PlanAwaitingApproval,
    PlanCompleted,
    PlanDryRunReported,
    PlanExecutionStarted,
    PlanExpired,
    PlanFailed,
    PlanLeg,
    PlanProposed,
    PlanRejected,
)


class PlanStatus(StrEnum):
    """Where a plan stands; the same words in the executor, the HTTP API and the CLI."""

    PROPOSED = "proposed"
    DRY_RUN = "dry_run"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"


S = PlanStatus

TRANSITIONS: dict[tuple[PlanStatus | None, type[Message]], PlanStatus] = {
    (None, PlanProposed): S.PROPOSED,
    (None, PlanRejected): S.REJECTED,  # the planner or the notifier could make no plan
    (S.PROPOSED, PlanDryRunReported): S.DRY_RUN,
    (S.PROPOSED, PlanAwaitingApproval): S.AWAITING_APPROVAL,
    (S.PROPOSED, PlanApproved): S.APPROVED,  # auto approval
    (S.PROPOSED, PlanRejected): S.REJECTED,  # risk gate, halt
    (S.PROPOSED, PlanExpired): S.EXPIRED,  # outside its window, or the gateway never came
    (S.PROPOSED, PlanFailed): S.FAILED,  # cancelled while the auto approval ran
    (S.AWAITING_APPROVAL, PlanApproved): S.APPROVED,
    (S.AWAITING_APPROVAL, PlanRejected): S.REJECTED,
    (S.AWAITING_APPROVAL, PlanExpired): S.EXPIRED,
    (S.AWAITING_APPROVAL, PlanFailed): S.FAILED,  # cancelled by the operator
    (S.APPROVED, PlanExecutionStarted): S.EXECUTING,
    (S.APPROVED, PlanFailed): S.FAILED,  # halted or cancelled before the first order
    (S.EXECUTING, PlanCompleted): S.COMPLETED,
    (S.EXECUTING, PlanFailed): S.FAILED,
}
"""(status before, event) -> status after; ``None`` before is a plan not seen yet."""

TERMINAL = frozenset({S.DRY_RUN, S.COMPLETED, S.FAILED, S.REJECTED, S.EXPIRED})
ACTIVE = frozenset({S.APPROVED, S.EXECUTING})
"""Statuses that hold the account: one active plan per account."""
OPEN = frozenset({S.PROPOSED, S.AWAITING_APPROVAL, S.APPROVED, S.EXECUTING})


def next_status(status: PlanStatus | None, event: Message) -> PlanStatus | None:
    """The status after ``event``, or None when the table does not list the move."""
    return TRANSITIONS.get((status, type(event)))


def plan_key(event: Message) -> str | None:
    """The key of the plan an event is about: its plan id, or for a PlanRejected without one
    (no plan could be made) its allocation id, else its own message id."""
    plan_id = getattr(event, "plan_id", None)
    if plan_id:
        return str(plan_id)
    if isinstance(event, PlanRejected):
        return event.allocation_id or event.message_id
    return None


@dataclass(frozen=True)
class PlanView:
    """What is known about one plan from the stream."""

    plan_id: str
    account_id: str
    status: PlanStatus
    updated_at: datetime
    proposed_at: datetime | None = None
    allocation_id: str | None = None
    correlation_id: str | None = None
    execution: str | None = None
    valid_until: datetime | None = None
    legs: int | None = None
    summary: BatchSummary | None = None
    reasons: tuple[Reason, ...] = ()
    results: tuple[LegResult, ...] = ()
    approved_by: str | None = None
    approved_at: datetime | None = None
    finished_at: datetime | None = None
    why: str | None = None
    """Why the plan is a dry run, or the stage of its rejection."""
    report_paths: tuple[str, ...] = ()
    history: tuple[str, ...] = field(default=())
    leg_details: tuple[PlanLeg, ...] = ()
    """The legs as planned (``legs`` is their count)."""
    drift: tuple[DriftRow, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def terminal(self) -> bool:
        """Whether the plan reached its final state."""
        return self.status in TERMINAL

    @property
    def filled_legs(self) -> int:
        """Legs whose orders filled completely."""
        return sum(1 for leg in self.results if leg.status == "filled")

    def as_json(self) -> dict[str, Any]:
        """The view as a JSON-ready dict (the HTTP API's plan object): status, legs (symbol,
        side, quantity, estimated price and value, note), drift table, summary, warnings."""
        return {
            "plan_id": self.plan_id,
            "account_id": self.account_id,
            "status": self.status.value,
            "updated_at": self.updated_at.isoformat(),
            "proposed_at": self.proposed_at.isoformat() if self.proposed_at else None,
            "allocation_id": self.allocation_id,
            "correlation_id": self.correlation_id,
            "execution": self.execution,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "leg_count": self.legs,
            "legs": [_leg_json(leg, self.drift) for leg in self.leg_details],
            "drift": [row.model_dump(mode="json") for row in self.drift],
            "warnings": list(self.warnings),
            "summary": self.summary.model_dump(mode="json") if self.summary else None,
            "reasons": [r.model_dump(mode="json") for r in self.reasons],
            "results": [r.model_dump(mode="json") for r in self.results],
            "approved_by": self.approved_by,
            "why": self.why,
            "report_path": next((p for p in self.report_paths if "_post_" in p), None),
            "report_paths": list(self.report_paths),
            "history": list(self.history),
        }


def _leg_json(leg: PlanLeg, drift: tuple[DriftRow, ...]) -> dict[str, Any]:
    """One leg for the API; its note is the drift row's (why it was cut), or the order's."""
    row = next((r for r in drift if r.symbol == leg.symbol), None)
    note = row.skip_reason if row is not None else None
    if leg.order is not None:
        note = note or f"manual {leg.order.order_type.value} order"
    return {
        "leg": leg.leg,
        "symbol": leg.symbol,
        "side": leg.side.value,
        "quantity": str(leg.quantity),
        "estimated_price": str(leg.reference_price),
        "estimated_value": str(leg.estimated_value),
        "note": note,
        "order": leg.order.model_dump(mode="json") if leg.order is not None else None,
    }


def _reports(view: PlanView, event: Message) -> tuple[str, ...]:
    new = tuple(p for p in getattr(event, "report_paths", ()) if p not in view.report_paths)
    return view.report_paths + new


def _started(event: Message, key: str, status: PlanStatus) -> PlanView:
    """The first view of a plan: its proposal, or a rejection without one."""
    if isinstance(event, PlanProposed):
        return PlanView(
            plan_id=key,
            account_id=event.account_id,
            status=status,
            updated_at=event.ts_event,
            proposed_at=event.ts_event,
            allocation_id=event.allocation_id,
            correlation_id=event.correlation_id,
            execution=event.execution.value,
            valid_until=event.valid_until,
            legs=len(event.legs),
            summary=event.summary,
            history=(status.value,),
            leg_details=event.legs,
            drift=event.drift,
            warnings=event.warnings,
        )
    return PlanView(
        plan_id=key,
        account_id=str(getattr(event, "account_id", "?")),
        status=status,
        updated_at=event.ts_event,
        correlation_id=event.correlation_id,
    )


def _details(event: Message) -> dict[str, Any]:
    """The fields an event sets on the view besides its status."""
    if isinstance(event, PlanRejected):
        return {"reasons": event.reasons, "why": event.stage, "finished_at": event.ts_event}
    if isinstance(event, PlanDryRunReported):
        return {"why": event.why, "finished_at": event.ts_event}
    if isinstance(event, PlanAwaitingApproval):
        return {"valid_until": event.valid_until}
    if isinstance(event, PlanApproved):
        return {"approved_by": event.approved_by, "approved_at": event.ts_event}
    if isinstance(event, PlanCompleted):
        return {"results": event.legs, "finished_at": event.ts_event}
    if isinstance(event, PlanFailed):
        return {"reasons": event.reasons, "results": event.legs, "finished_at": event.ts_event}
    if isinstance(event, PlanExpired):
        return {"finished_at": event.ts_event}
    return {}


def fold(view: PlanView | None, event: Message) -> PlanView | None:
    """Return ``view`` moved on by ``event`` (unchanged when the table does not list the move)."""
    key = plan_key(event)
    if key is None:
        return view
    status = next_status(view.status if view else None, event)
    if status is None:
        return view  # redelivered, late, or not a move of the plan's life: never rewind
    if view is None:
        view = _started(event, key, status)
        if isinstance(event, PlanProposed):
            return view
    details = _details(event)
    if isinstance(event, PlanRejected):
        details.setdefault("allocation_id", event.allocation_id or view.allocation_id)
    return replace(
        view,
        status=status,
        updated_at=event.ts_event,
        report_paths=_reports(view, event),
        history=(*view.history, status.value)
        if view.history[-1:] != (status.value,)
        else view.history,
        **details,
    )


def fold_all(events: Iterable[Message]) -> dict[str, PlanView]:
    """Views of every plan in ``events`` (stream order), by plan key."""
    views: dict[str, PlanView] = {}
    for event in events:
        key = plan_key(event)
        if key is None:
            continue
        view = fold(views.get(key), event)
        if view is not None:
            views[key] = view
    return views


@dataclass(frozen=True)
class HaltView:
    """The kill switch as the last HaltTrading or ResumeTrading left it."""

    halted: bool = False
    reason: str | None = None
    since: datetime | None = None


def fold_halt(view: HaltView, command: Message) -> HaltView:
    """Return the kill switch after one message of ``commands.plans.v1``."""
    if isinstance(command, HaltTrading):
        return HaltView(True, command.reason, command.ts_event)
    if isinstance(command, ResumeTrading):
        return HaltView()
    return view
