"""The planner's own Prometheus metrics (labels: configured accounts, outcomes, reason codes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PlannerMetrics:
    """Plans made, how long they took, how big they are, and how far accounts drifted."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.plans = Counter(
            "rebalancer_plans_total",
            "Plans the planner published, by account and outcome (proposed, rejected).",
            ["account", "outcome"],
            registry=registry,
        )
        self.rejections = Counter(
            "rebalancer_plan_rejection_reasons_total",
            "Reasons of rejected plans, by stable reason code.",
            ["code"],
            registry=registry,
        )
        self.latency = Histogram(
            "rebalancer_plan_latency_seconds",
            "From taking a TargetAllocationSet to publishing the account's plan or rejection.",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.legs = Histogram(
            "rebalancer_plan_legs",
            "Number of legs in a proposed plan.",
            registry=registry,
            buckets=(0, 1, 2, 5, 10, 20, 50, 100),
        )
        self.drift = Gauge(
            "rebalancer_portfolio_drift_ratio",
            "Half the sum of absolute drifts from the target (0.05 is 5 %) at the last plan.",
            ["account"],
            registry=registry,
        )
        # For the Grafana portfolio view: symbols are bounded by the account's portfolio.
        self.target_weight = Gauge(
            "rebalancer_target_weight_ratio",
            "Target weight of each symbol (0.25 is 25 %) in the last plan proposed for the "
            "account; symbols no longer in it are removed.",
            ["account", "symbol"],
            registry=registry,
        )
        self._targeted: dict[str, set[str]] = {}

    def set_target_weights(self, account: str, weights: dict[str, float]) -> None:
        """Record the target weights of the account's last plan (dropping older symbols)."""
        for gone in self._targeted.get(account, set()) - weights.keys():
            self.target_weight.remove(account, gone)
        for symbol, weight in weights.items():
            self.target_weight.labels(account, symbol).set(weight)
        self._targeted[account] = set(weights)
