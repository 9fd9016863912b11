"""The bridge's Prometheus metrics (on the service's registry; bounded labels, never ids)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class BridgeMetrics:
    """Connection, pacing, order and fill metrics of the gateway-bridge."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.connected = Gauge(
            "rebalancer_gateway_connected", "1 while the IB API connection is up.", registry=r
        )
        self.heartbeat_age = Gauge(
            "rebalancer_gateway_heartbeat_age_seconds",
            "Seconds since IB last answered a heartbeat (reqCurrentTime).",
            registry=r,
        )
        self.errors = Counter(
            "rebalancer_gateway_errors_total",
            "Errors and warnings IB sent, by code.",
            ["code"],
            registry=r,
        )
        self.connect_attempts = Counter(
            "rebalancer_gateway_connect_attempts_total",
            "Connection attempts, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.reconciliation_state = Gauge(
            "rebalancer_reconciliation_state",
            "0 not reconciled, 1 reconciling, 2 reconciled (order commands flow).",
            registry=r,
        )
        self.messages_sent = Counter(
            "rebalancer_ib_messages_sent_total", "API messages written to IB.", registry=r
        )
        self.messages_rate = Gauge(
            "rebalancer_ib_messages_per_second",
            "API messages written to IB in the last second (IB's limit is 50).",
            registry=r,
        )
        self.messages_rate_max = Gauge(
            "rebalancer_ib_messages_per_second_max",
            "Highest messages/s seen since start (sampled each second).",
            registry=r,
        )
        self.orders = Counter(
            "rebalancer_orders_total",
            "Order commands and outcomes, by account and outcome.",
            ["account", "outcome"],
            registry=r,
        )
        self.fills = Counter(
            "rebalancer_fills_total", "Executions published, by account.", ["account"], registry=r
        )
        self.prices = Counter(
            "rebalancer_prices_published_total", "PriceUpdated messages published.", registry=r
        )
        self.submit_seconds = Histogram(
            "rebalancer_submit_to_place_seconds",
            "Time from SubmitOrder received to placeOrder called.",
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )
