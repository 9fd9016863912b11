"""Between the core's values and the plan contracts: ids, PlanProposed and PlanRejected."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import Reason
from shared.contracts.plans import PlanProposed, PlanRejected
from shared.contracts.portfolio import PortfolioView
from shared.policy import PlanningPolicy

from planner.core import Plan

SOURCE = "planner"


def plan_id_for(allocation_id: str, account_id: str) -> str:
    """Return the plan id of an allocation for an account: the same on every redelivery.

    ``pl-`` and 12 hex digits: no dots, so ``<plan_id>.<leg>.<attempt>`` stays parseable.
    """
    digest = hashlib.sha256(f"{allocation_id}\x1f{account_id}".encode()).hexdigest()
    return f"pl-{digest[:12]}"


def policy_record(policy: PlanningPolicy) -> dict[str, str]:
    """Flatten the effective policy into strings for the plan's audit trail."""
    record: dict[str, str] = {}
    for key, value in policy.model_dump(mode="json").items():
        record[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return record


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
        source=SOURCE,
        correlation_id=event.correlation_id,
        ts_event=now,
        plan_id=plan_id_for(event.allocation_id, account_id),
        account_id=account_id,
        allocation_id=event.allocation_id,
        execution=event.execution,
        legs=legs,
        drift=plan.drift,
        summary=plan.summary,
        warnings=plan.warnings,
        valid_until=now + timedelta(seconds=policy.plan_ttl_s),
        portfolio_as_of=view.positions_as_of,
        policy=policy_record(policy),
    )


def rejected(
    event: TargetAllocationSet, account_id: str, reasons: tuple[Reason, ...], now: datetime
) -> PlanRejected:
    """Build the PlanRejected of an allocation for an account."""
    return PlanRejected(
        source=SOURCE,
        correlation_id=event.correlation_id,
        ts_event=now,
        plan_id=plan_id_for(event.allocation_id, account_id),
        account_id=account_id,
        allocation_id=event.allocation_id,
        stage="planning",
        reasons=reasons,
    )
