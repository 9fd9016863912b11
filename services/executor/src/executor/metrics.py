"""The executor's Prometheus metrics (labels bounded: account and outcome, never ids)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ExecutorMetrics:
    """Counters, gauges and histograms registered on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.plans = Counter(
            "rebalancer_plans_total",
            "Plans by outcome (dry_run, awaiting_approval, rejected, completed, failed, expired).",
            ["account", "outcome"],
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
            "From the trigger (first message of the correlation) to the plan's last fill.",
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
