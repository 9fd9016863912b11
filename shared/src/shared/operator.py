"""The operator's commands, built in one place for the CLI and the notifier's HTTP API.

Each function returns the contract message to publish, valid for :data:`COMMAND_TTL` unless
told otherwise (the notifier passes its ``NOTIFIER_TRIGGER_TTL_S``). :func:`approval_refused`
is the one precondition of an approval, read from the shared plan view, so the HTTP API (409)
and the CLI (exit 1) refuse the same plans with the same sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from shared.contracts.base import ExecutionMode, TargetWeight, utc_now
from shared.contracts.order_commands import ManualOrder
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading, ResumeTrading
from shared.contracts.triggers import RequestRebalance, TriggerSource
from shared.plans.view import PlanStatus, PlanView

COMMAND_TTL = timedelta(minutes=10)
"""How long an operator command stays valid after it is made (then it is refused)."""


def request_rebalance(
    *,
    source: str,
    accounts: Iterable[str] = (),
    group: str | None = None,
    targets: tuple[TargetWeight, ...] | None = None,
    execute: bool = False,
    by: str | None = None,
    trigger_source: TriggerSource = "cli",
    trigger_id: str | None = None,
    correlation_id: str | None = None,
    message_id: str | None = None,
    ttl: timedelta = COMMAND_TTL,
    hold_for_approval: bool = False,
    order: ManualOrder | None = None,
) -> RequestRebalance:
    """Ask the notifier to rebalance accounts (or a group); a dry run unless ``execute``.

    With ``order`` (one account, no targets) it is one operator order: a one-leg plan.
    """
    extra = {"message_id": message_id} if message_id else {}
    return RequestRebalance(
        **extra,
        source=source,
        correlation_id=correlation_id or message_id,
        valid_until=utc_now() + ttl,
        account_ids=tuple(dict.fromkeys(accounts)),
        group=group,
        execution=ExecutionMode.REBALANCE if execute else ExecutionMode.DRY_RUN,
        targets=targets,
        trigger_source=trigger_source,
        trigger_id=trigger_id,
        requested_by=by,
        hold_for_approval=hold_for_approval,
        order=order,
    )


def place_order(
    order: ManualOrder,
    *,
    account: str,
    source: str,
    request_id: str,
    execute: bool = True,
    by: str | None = None,
    trigger_source: TriggerSource = "cli",
    ttl: timedelta = COMMAND_TTL,
    hold_for_approval: bool = False,
) -> RequestRebalance:
    """Ask for one order on ``account`` (a one-leg plan through the same path as any plan).

    ``request_id`` should come from an idempotency key: the same id is the same order, so a
    retry never trades twice.
    """
    return request_rebalance(
        source=source,
        accounts=(account,),
        execute=execute,
        by=by,
        trigger_source=trigger_source,
        message_id=request_id,
        ttl=ttl,
        order=order,
        hold_for_approval=hold_for_approval,
    )


def approve(
    plan_id: str,
    *,
    source: str,
    by: str,
    correlation_id: str | None = None,
    ttl: timedelta = COMMAND_TTL,
) -> ApprovePlan:
    """Approve a plan that awaits approval."""
    return ApprovePlan(
        source=source,
        correlation_id=correlation_id,
        valid_until=utc_now() + ttl,
        plan_id=plan_id,
        approved_by=by,
    )


def cancel(
    plan_id: str,
    *,
    source: str,
    by: str,
    reason: str = "cancelled by operator",
    correlation_id: str | None = None,
    ttl: timedelta = COMMAND_TTL,
) -> CancelPlan:
    """Cancel a plan: dropped before it starts, its working orders cancelled after."""
    return CancelPlan(
        source=source,
        correlation_id=correlation_id,
        valid_until=utc_now() + ttl,
        plan_id=plan_id,
        reason=reason,
        requested_by=by,
    )


def halt(reason: str, *, source: str, by: str, ttl: timedelta = COMMAND_TTL) -> HaltTrading:
    """The kill switch: cancel every open order and refuse new plans until a resume."""
    return HaltTrading(source=source, valid_until=utc_now() + ttl, reason=reason, requested_by=by)


def resume(*, source: str, by: str, ttl: timedelta = COMMAND_TTL) -> ResumeTrading:
    """Lift the kill switch."""
    return ResumeTrading(source=source, valid_until=utc_now() + ttl, requested_by=by)


APPROVAL_REFUSALS: dict[PlanStatus, str] = {
    PlanStatus.PROPOSED: "the executor has not decided on it yet; retry in a moment, or see "
    "`rebalancer plans`",
    PlanStatus.DRY_RUN: "it is a dry run and will never trade; rebalance again with --execute "
    "(execute=true) for an account whose approval is manual or auto",
    PlanStatus.APPROVED: "it is approved already",
    PlanStatus.EXECUTING: "it is executing already",
    PlanStatus.COMPLETED: "it is completed",
    PlanStatus.FAILED: "it failed; rebalance again for a new plan",
    PlanStatus.REJECTED: "it was rejected; fix what its reasons say and rebalance again",
    PlanStatus.EXPIRED: "it expired before it was approved; rebalance again for a new plan",
}


def approval_refused(plan_id: str, view: PlanView | None) -> str | None:
    """Why ``plan_id`` cannot be approved (a sentence with what to do), or None if it can."""
    if view is None or view.plan_id != plan_id:
        return f"no plan {plan_id!r} is known; see `rebalancer plans` (GET /api/v1/plans)"
    if view.status == PlanStatus.AWAITING_APPROVAL:
        return None
    return f"plan {plan_id} is {view.status.value}, not awaiting approval: {APPROVAL_REFUSALS[view.status]}"
