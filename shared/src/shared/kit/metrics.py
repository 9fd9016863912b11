"""Prometheus metrics of the service kit (one registry per service instance).

Names are ``rebalancer_*`` with the unit in the name; labels are bounded sets (stream,
group, reason), never ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)


@dataclass
class KitMetrics:
    """Metrics every service exports about its consumption of streams."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        # process_resident_memory_bytes, process_cpu_seconds_total, python_info: the services
        # dashboard's memory and CPU panels read them.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.messages_handled = Counter(
            "rebalancer_messages_handled_total",
            "Messages taken from a stream by this service, by outcome.",
            ["stream", "type", "outcome"],
            registry=r,
        )
        self.ignored = Counter(
            "rebalancer_messages_ignored_total",
            "Messages of a type the service's dispatch table does not handle (explicitly skipped).",
            ["stream", "type"],
            registry=r,
        )
        self.background_failures = Counter(
            "rebalancer_background_task_failures_total",
            "Background tasks of the service that ended with an exception.",
            registry=r,
        )
        self.handler_seconds = Histogram(
            "rebalancer_handler_duration_seconds",
            "Time spent in a message handler.",
            ["stream"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.dead_letters = Counter(
            "rebalancer_dead_letters_total",
            "Messages moved to a dead-letter stream, by reason.",
            ["stream", "group", "reason"],
            registry=r,
        )
        self.malformed = Counter(
            "rebalancer_malformed_messages_total",
            "Messages that could not be decoded (not JSON, unknown type, invalid fields).",
            ["stream", "reason"],
            registry=r,
        )
        self.reclaimed = Counter(
            "rebalancer_messages_reclaimed_total",
            "Pending messages claimed again after being idle (XAUTOCLAIM).",
            ["stream", "group"],
            registry=r,
        )
        self.published = Counter(
            "rebalancer_messages_published_total",
            "Messages this service published, by stream and type.",
            ["stream", "type"],
            registry=r,
        )
        self.ready = Gauge(
            "rebalancer_service_ready",
            "1 when the service's own dependencies are healthy.",
            registry=r,
        )
