"""Between the core's values and the plan contracts: PlanProposed (with its sizing terms) and
PlanRejected; plan ids come from :mod:`shared.rebalancing.ids`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from planner.core import Plan
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import Reason
from shared.contracts.plans import PlanProposed, PlanRejected, SizingTerms
from shared.contracts.portfolio import PortfolioView
from shared.policy import PlanningPolicy
from shared.rebalancing.ids import plan_id_for

SOURCE = "planner"


def policy_record(policy: PlanningPolicy) -> dict[str, str]:
    """Flatten the effective policy into strings for the plan's audit trail."""
    record: dict[str, str] = {}
    for key, value in policy.model_dump(mode="json").items():
        record[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return record


def sizing_terms(policy: PlanningPolicy) -> SizingTerms:
    """The policy's terms for sizing buys, as the executor will apply them after the sells."""
    return SizingTerms(
        cash_buffer_pct=policy.cash_buffer_pct,
        leverage_limit=policy.leverage_limit,
        quantity_step=policy.quantity_increment if policy.fractional else Decimal(1),
        commission_per_share=policy.commission_per_share,
        commission_minimum=policy.commission_minimum,
        min_order_value=policy.min_order_value,
        min_share_diff=policy.min_share_diff,
    )


def _envelope(event: TargetAllocationSet, account_id: str, now: datetime) -> dict[str, Any]:
    """The fields every plan message of an allocation for an account carries."""
    return {
        "source": SOURCE,
        "correlation_id": event.correlation_id,
        "ts_event": now,
        "plan_id": plan_id_for(event.allocation_id, account_id),
        "account_id": account_id,
        "allocation_id": event.allocation_id,
    }


def proposed(
    event: TargetAllocationSet,
    account_id: str,
    plan: Plan,
    view: PortfolioView,
    policy: PlanningPolicy,
    now: datetime,
) -> PlanProposed:
    """Build the PlanProposed of ``plan`` (legs get IB's con_id where the bridge knows it)."""
    con_ids = {p.symbol.upper(): p.con_id for p in view.positions if p.con_id is not None}
    con_ids |= {q.symbol.upper(): q.con_id for q in view.quotes if q.con_id is not None}
    legs = tuple(leg.model_copy(update={"con_id": con_ids.get(leg.symbol)}) for leg in plan.legs)
    return PlanProposed(
        **_envelope(event, account_id, now),
        execution=event.execution,
        legs=legs,
        drift=plan.drift,
        summary=plan.summary,
        warnings=plan.warnings,
        valid_until=now + timedelta(seconds=policy.plan_ttl_s),
        portfolio_as_of=view.positions_as_of,
        policy=policy_record(policy),
        sizing=sizing_terms(policy),
        hold_for_approval=event.hold_for_approval,
    )


def rejected(
    event: TargetAllocationSet, account_id: str, reasons: tuple[Reason, ...], now: datetime
) -> PlanRejected:
    """Build the PlanRejected of an allocation for an account."""
    return PlanRejected(
        **_envelope(event, account_id, now),
        stage="planning",
        reasons=reasons,
    )


UNAVAILABLE = {
    "unknown_account": "The gateway-bridge does not know account {account}: {reason} Check the "
    "account id, and that the IB login the bridge uses manages it.",
    "gateway_disconnected": "The gateway-bridge is not connected to IB, so {account} cannot be "
    "planned now: {reason} Retry once it is connected.",
    "not_reconciled": "The gateway-bridge has not finished reconciling {account} with IB: "
    "{reason} Retry in a moment.",
    "expired": "The portfolio request for {account} expired before the bridge handled it: "
    "{reason} Retry; if it repeats, the bridge is overloaded.",
    "error": "The gateway-bridge could not read {account}: {reason} Check its logs.",
}
"""The bridge's PortfolioUnavailable codes, in sentences that say what to do."""


def unavailable(account_id: str, reason: Reason, waited_s: float) -> Reason:
    """Why no plan could be made for ``account_id``: the bridge's view could not be had."""
    if reason.code == "timeout":
        return Reason(
            code="portfolio_unavailable",
            message=f"The gateway-bridge did not answer within {waited_s:g} s with the portfolio "
            f"of {account_id}; check that it is running and connected (`rebalancer status`), "
            "then send the allocation again.",
        )
    if reason.code == "invalid_reply":
        return Reason(
            code="portfolio_invalid",
            message=f"The gateway-bridge answered with a portfolio of {account_id} that cannot "
            f"be read: {reason.message}; nothing was planned. Check the bridge's logs.",
        )
    text = reason.message.strip()
    if text and not text.endswith("."):
        text += "."
    template = UNAVAILABLE.get(reason.code, UNAVAILABLE["error"])
    code = "unknown_account" if reason.code == "unknown_account" else "portfolio_unavailable"
    return Reason(
        code=code, message=template.format(account=account_id, reason=text), field="account_id"
    )


def no_accounts(event: TargetAllocationSet) -> Reason:
    """Why an allocation naming no account gets no plan (groups are the notifier's)."""
    who = f"only the group {event.group!r}" if event.group else "no account"
    return Reason(
        code="no_accounts",
        message=f"The allocation names {who}, so there is no account to plan for; send the "
        "rebalance through the notifier, which resolves groups into one allocation per account.",
        field="account_ids",
    )


def internal_error() -> Reason:
    """The planner's own failure (a bug), said plainly rather than retried forever."""
    return Reason(
        code="internal_error",
        message="The planner failed on this allocation (a bug, logged with its trace); nothing "
        "was planned. Report it with the allocation id.",
    )
