"""The executor's Prometheus metrics (labels bounded: account and outcome, never ids)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.contracts.base import Message
from shared.contracts.plans import (
    PlanApproved,
    PlanAwaitingApproval,
    PlanCompleted,
    PlanDryRunReported,
    PlanExpired,
    PlanFailed,
    PlanRejected,
)
from shared.plans.view import ACTIVE, PlanStatus

OUTCOMES: dict[type[Message], str] = {
    PlanDryRunReported: "dry_run",
    PlanAwaitingApproval: "awaiting_approval",
    PlanRejected: "rejected",
    PlanCompleted: "completed",
    PlanFailed: "failed",
    PlanExpired: "expired",
}


class ExecutorMetrics:
    """Counters, gauges and histograms registered on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # Not rebalancer_plans_total: that is the planner's (proposed/rejected by the planner);
        # the dashboards and the PlanFailed alert read the executor's outcomes under this name.
        self.outcomes = Counter(
            "rebalancer_plan_outcomes_total",
            "Plan decisions and endings the executor published, by outcome (dry_run, "
            "awaiting_approval, rejected, completed, failed, expired).",
            ["account", "outcome"],
            registry=registry,
        )
        self.approvals = Counter(
            "rebalancer_approvals_total",
            "Plans approved, by mode (auto: the account's policy; manual: ApprovePlan).",
            ["account", "mode"],
            registry=registry,
        )
        self.orders = Counter(
            "rebalancer_orders_submitted_total",
            "SubmitOrder commands sent to the bridge.",
            ["account"],
            registry=registry,
        )
        self.duration = Histogram(
            "rebalancer_plan_duration_seconds",
            "From approval to PlanCompleted or PlanFailed.",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=registry,
        )
        self.trigger_to_fill = Histogram(
            "rebalancer_trigger_to_fill_seconds",
            "From the RequestRebalance (or, when it was not seen, the plan) to the plan's last fill.",
            buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=registry,
        )
        self.halted = Gauge(
            "rebalancer_trading_halted", "1 while HaltTrading is in force.", registry=registry
        )
        self.gateway_ready = Gauge(
            "rebalancer_executor_gateway_ready",
            "1 while the gateway is connected and reconciled (orders may flow).",
            registry=registry,
        )
        self.active = Gauge(
            "rebalancer_plans_active", "Plans approved or executing.", registry=registry
        )

    def observe(self, event: Message, before: PlanStatus | None) -> None:
        """Count a plan event the executor published (``before``: the plan's status until it)."""
        account = str(getattr(event, "account_id", ""))
        outcome = OUTCOMES.get(type(event))
        if outcome is not None:
            self.outcomes.labels(account, outcome).inc()
        if isinstance(event, PlanApproved):
            mode = "auto" if event.approved_by == "auto" else "manual"
            self.approvals.labels(account, mode).inc()
            self.active.inc()
        elif isinstance(event, PlanCompleted | PlanFailed) and before in ACTIVE:
            self.active.dec()
