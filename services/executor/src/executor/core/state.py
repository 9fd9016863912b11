"""The plan state machine: a transitions table and one ``apply`` that refuses anything else.

A plan enters as ``PROPOSED`` (a PlanProposed arrived) and ends in exactly one terminal state.
Statuses are what the executor knows; the published events on ``events.plans.v1`` are the
durable record from which the status is rebuilt after a restart.
"""

from __future__ import annotations

from enum import StrEnum


class PlanStatus(StrEnum):
    """Where a plan stands in the executor."""

    PROPOSED = "proposed"
    REPORTED = "dry_run"  # terminal: dry run, reported only
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"


class PlanTrigger(StrEnum):
    """What happens to a plan (an event received or a decision taken)."""

    DRY_RUN = "dry_run"
    AWAIT_APPROVAL = "await_approval"
    APPROVE = "approve"
    REJECT = "reject"
    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    EXPIRE = "expire"


S, T = PlanStatus, PlanTrigger

TRANSITIONS: dict[tuple[PlanStatus, PlanTrigger], PlanStatus] = {
    (S.PROPOSED, T.DRY_RUN): S.REPORTED,
    (S.PROPOSED, T.AWAIT_APPROVAL): S.AWAITING_APPROVAL,
    (S.PROPOSED, T.APPROVE): S.APPROVED,  # auto approval
    (S.PROPOSED, T.REJECT): S.REJECTED,  # risk gate, halt, one active plan per account
    (S.AWAITING_APPROVAL, T.APPROVE): S.APPROVED,
    (S.AWAITING_APPROVAL, T.REJECT): S.REJECTED,
    (S.AWAITING_APPROVAL, T.EXPIRE): S.EXPIRED,
    (S.AWAITING_APPROVAL, T.FAIL): S.FAILED,  # cancelled by the operator
    (S.APPROVED, T.START): S.EXECUTING,
    (S.APPROVED, T.FAIL): S.FAILED,  # halted or expired before the first order
    (S.EXECUTING, T.COMPLETE): S.COMPLETED,
    (S.EXECUTING, T.FAIL): S.FAILED,
}

TERMINAL = frozenset({S.REPORTED, S.COMPLETED, S.FAILED, S.REJECTED, S.EXPIRED})
ACTIVE = frozenset({S.APPROVED, S.EXECUTING})
"""Statuses that hold the account: one active plan per account."""
OPEN = frozenset({S.PROPOSED, S.AWAITING_APPROVAL, S.APPROVED, S.EXECUTING})


class IllegalTransition(ValueError):
    """A trigger that the table does not list for the current status (a broken invariant)."""


def apply(status: PlanStatus, trigger: PlanTrigger) -> PlanStatus:
    """Return the status after ``trigger``, or raise IllegalTransition."""
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise IllegalTransition(f"a {status.value} plan cannot {trigger.value}") from None


def can(status: PlanStatus, trigger: PlanTrigger) -> bool:
    """Return whether ``trigger`` is allowed from ``status``."""
    return (status, trigger) in TRANSITIONS
