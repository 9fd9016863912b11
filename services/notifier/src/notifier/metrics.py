"""Prometheus metrics of the notifier (``rebalancer_*``, bounded labels, never ids)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifierMetrics:
    """Counters and timers of triggers, allocation sources and alerts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.triggers = Counter(
            "rebalancer_triggers_total",
            "Triggers received at an edge, by source and outcome (accepted, refused).",
            ["source", "outcome"],
            registry=registry,
        )
        self.refusals = Counter(
            "rebalancer_trigger_refusals_total",
            "Triggers refused, by source and reason code.",
            ["source", "reason"],
            registry=registry,
        )
        self.requests = Counter(
            "rebalancer_rebalance_requests_total",
            "RequestRebalance handled, by outcome (resolved, rejected, expired, duplicate).",
            ["outcome"],
            registry=registry,
        )
        self.allocations = Counter(
            "rebalancer_allocations_total",
            "Target allocations resolved per account, by source kind and outcome.",
            ["source_kind", "outcome"],
            registry=registry,
        )
        self.allocation_fetch_seconds = Histogram(
            "rebalancer_allocation_fetch_seconds",
            "Time to fetch and validate an allocation URL (retries included).",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.alerts_sent = Counter(
            "rebalancer_alerts_sent_total",
            "Alert deliveries (one per batch), by destination and outcome.",
            ["destination", "outcome"],
            registry=registry,
        )
        self.alerts_dropped = Counter(
            "rebalancer_alerts_dropped_total",
            "Alerts dropped before delivery (queue full, below minimum severity).",
            ["destination", "reason"],
            registry=registry,
        )
        self.alert_queue = Gauge(
            "rebalancer_alert_queue_depth",
            "Alerts waiting per destination.",
            ["destination"],
            registry=registry,
        )
        self.schedule_fires = Counter(
            "rebalancer_schedule_fires_total",
            "Schedule fire times, by outcome (published, already_fired).",
            ["outcome"],
            registry=registry,
        )
        self.ably_connected = Gauge(
            "rebalancer_ably_connected",
            "1 when the Ably realtime connection is up.",
            registry=registry,
        )
