"""Fold ``events.plans.v1`` into one status row per plan (for ``GET /api/v1/plans``).

A PlanRejected without a plan id (no plan could be made) gets a row keyed by its
allocation id, or by its own message id, so every outcome a requester waits for is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from shared.contracts.base import Message
from shared.contracts.plans import (
    PlanApproved,
    PlanCompleted,
    PlanExecutionStarted,
    PlanExpired,
    PlanFailed,
    PlanProposed,
    PlanRejected,
)

PlanState = Literal[
    "proposed", "rejected", "approved", "executing", "completed", "failed", "expired"
]

TERMINAL: frozenset[str] = frozenset({"rejected", "completed", "failed", "expired"})


@dataclass(frozen=True)
class PlanRow:
    """What is known about one plan."""

    plan_id: str
    account_id: str
    status: PlanState
    updated_at: datetime
    allocation_id: str | None = None
    correlation_id: str | None = None
    execution: str | None = None
    valid_until: datetime | None = None
    legs: int | None = None
    summary: dict[str, Any] | None = None
    reasons: tuple[dict[str, Any], ...] = ()
    results: tuple[dict[str, Any], ...] = ()
    approved_by: str | None = None
    report_path: str | None = None
    history: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict."""
        return {
            "plan_id": self.plan_id,
            "account_id": self.account_id,
            "status": self.status,
            "updated_at": self.updated_at.isoformat(),
            "allocation_id": self.allocation_id,
            "correlation_id": self.correlation_id,
            "execution": self.execution,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "legs": self.legs,
            "summary": self.summary,
            "reasons": list(self.reasons),
            "results": list(self.results),
            "approved_by": self.approved_by,
            "report_path": self.report_path,
            "history": list(self.history),
        }


def row_key(event: Message) -> str | None:
    """Return the key of the row an event updates (None for events of no plan)."""
    plan_id = getattr(event, "plan_id", None)
    if plan_id:
        return str(plan_id)
    if isinstance(event, PlanRejected):
        return event.allocation_id or event.message_id
    return None


def fold(row: PlanRow | None, event: Message) -> PlanRow | None:
    """Return ``row`` updated by ``event`` (a new row for a proposal or a rejection)."""
    key = row_key(event)
    if key is None:
        return row
    at = event.ts_event
    if isinstance(event, PlanProposed):
        base = PlanRow(
            plan_id=key,
            account_id=event.account_id,
            status="proposed",
            updated_at=at,
            allocation_id=event.allocation_id,
            correlation_id=event.correlation_id,
            execution=event.execution.value,
            valid_until=event.valid_until,
            legs=len(event.legs),
            summary=event.summary.model_dump(mode="json"),
        )
        if row is not None and row.status != "proposed":
            return row  # a late or redelivered proposal never rewinds a plan's state
        return replace(base, history=(*(row.history if row else ()), "proposed"))
    account_id = getattr(event, "account_id", "?")
    if row is None:
        row = PlanRow(plan_id=key, account_id=account_id, status="proposed", updated_at=at)
    update: dict[str, Any] = {"updated_at": at}
    if isinstance(event, PlanRejected):
        update.update(
            status="rejected",
            allocation_id=event.allocation_id or row.allocation_id,
            correlation_id=event.correlation_id or row.correlation_id,
            reasons=tuple(r.model_dump(mode="json") for r in event.reasons),
        )
    elif isinstance(event, PlanApproved):
        update.update(status="approved", approved_by=event.approved_by)
    elif isinstance(event, PlanExecutionStarted):
        update.update(status="executing")
    elif isinstance(event, PlanCompleted):
        update.update(
            status="completed",
            results=tuple(r.model_dump(mode="json") for r in event.legs),
            report_path=event.report_path,
        )
    elif isinstance(event, PlanFailed):
        update.update(
            status="failed",
            reasons=tuple(r.model_dump(mode="json") for r in event.reasons),
            results=tuple(r.model_dump(mode="json") for r in event.legs),
        )
    elif isinstance(event, PlanExpired):
        update.update(status="expired")
    else:
        return row
    if row.status in TERMINAL and update["status"] not in TERMINAL:
        return row  # out-of-order delivery: keep the final state
    return replace(row, history=(*row.history, update["status"]), **update)
