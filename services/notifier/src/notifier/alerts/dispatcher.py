"""Feed alerts to every destination: SendAlert commands and the events worth telling.

Consumes ``commands.alerts.v1`` (what is not an event: dead letters, refused triggers, failed
sources), ``events.plans.v1`` (one alert per plan outcome), ``commands.plans.v1`` (halt and
resume) and ``events.gateway.v1`` in the notifier's group, so replicas share the work and
each alert goes out once. A gateway disconnection is alerted only when it lasts longer than
a threshold; the "down since" mark lives in Redis so replicas and restarts agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import redis.asyncio as aioredis

from notifier.alerts.worker import DestinationWorker
from notifier.core.alerts import SEVERITY_RANK, Alert, from_event, from_send_alert
from notifier.metrics import NotifierMetrics
from shared.contracts.alerts import SendAlert
from shared.contracts.base import Message, utc_now
from shared.contracts.gateway import (
    GatewayConnected,
    GatewayDisconnected,
    GatewayError,
    ReconciliationCompleted,
    SecondFactorRequested,
)
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.contracts.plans import (
    PlanAwaitingApproval,
    PlanCompleted,
    PlanDryRunReported,
    PlanExpired,
    PlanFailed,
    PlanRejected,
)

log = logging.getLogger(__name__)

PLAN_OUTCOMES = (
    PlanDryRunReported,
    PlanAwaitingApproval,
    PlanRejected,
    PlanCompleted,
    PlanFailed,
    PlanExpired,
)
"""The plan events a human hears about, one alert each (a proposal is not an outcome)."""

DOWN_KEY = "notifier:gateway:down-since"
DOWN_ALERTED_PREFIX = "notifier:gateway:down-alerted:"
EXPECTED_KEY = "notifier:gateway:expected-until"
"""Set while the outage is expected (daily restart, weekly window): no alert until then."""


class AlertDispatcher:
    """Turn messages into alerts and hand them to every destination worker."""

    def __init__(
        self,
        client: aioredis.Redis,
        metrics: NotifierMetrics,
        *,
        min_severity: str,
        gateway_down_after_s: int,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._min_rank = SEVERITY_RANK[min_severity]
        self._down_after_s = gateway_down_after_s
        self.workers: list[DestinationWorker] = []
        self._monitor: asyncio.Task[None] | None = None

    def add(self, worker: DestinationWorker) -> None:
        """Deliver to one more destination."""
        self.workers.append(worker)

    def offer(self, alert: Alert) -> None:
        """Hand an alert to every destination (never blocks)."""
        if SEVERITY_RANK[alert.severity] < self._min_rank:
            self._metrics.alerts_dropped.labels("all", "below_min_severity").inc()
            return
        log.info("alert [%s] %s: %s", alert.severity, alert.title, alert.text)
        for worker in self.workers:
            worker.offer(alert)

    def destination_gave_up(self, name: str, batch: list[Alert], problem: str) -> None:
        """Tell the other destinations that one is failing (never about a meta-alert)."""
        if all(a.dedupe_key and a.dedupe_key.startswith("alert_destination:") for a in batch):
            return
        self.offer(
            Alert(
                severity="warning",
                title=f"Alert destination {name} is failing",
                text=f"{len(batch)} alert(s) could not be delivered to {name}: {problem}. "
                "Check its URL and credentials in the notifier's settings.",
                at=utc_now(),
                dedupe_key=f"alert_destination:{name}",
                skip=frozenset({name}),
            )
        )

    async def start(self) -> None:
        """Start the workers and the gateway-down monitor."""
        for worker in self.workers:
            worker.start()
        self._monitor = asyncio.create_task(self._watch_gateway(), name="gateway-down-monitor")

    async def stop(self) -> None:
        """Stop the monitor and the workers (after a short drain)."""
        if self._monitor:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        await asyncio.gather(*(w.stop() for w in self.workers))

    async def on_send_alert(self, command: SendAlert) -> None:
        """Handle SendAlert (an expired one is still told: late news beats none)."""
        self.offer(from_send_alert(command))

    async def on_plan_event(self, event: Message) -> None:
        """Tell each plan outcome once (``events.plans.v1``)."""
        alert = from_event(event)
        if alert is not None:
            self.offer(alert)

    async def on_plan_command(self, command: HaltTrading | ResumeTrading) -> None:
        """Tell the kill switch going on and off (``commands.plans.v1``)."""
        alert = from_event(command)
        if alert is not None:
            self.offer(alert)

    async def on_gateway_event(self, event: Message) -> None:
        """Track the gateway's connection; tell errors that are not about one order."""
        if isinstance(event, GatewayDisconnected):
            stamp = str(event.ts_event.timestamp())
            await self._client.set(DOWN_KEY, stamp, nx=True)
            if event.expected_until is not None:
                await self._client.set(EXPECTED_KEY, str(event.expected_until.timestamp()))
        elif isinstance(event, SecondFactorRequested):
            self.offer(second_factor_alert(event))
        elif isinstance(event, (GatewayConnected, ReconciliationCompleted)):
            await self._client.delete(EXPECTED_KEY)
            since = await self._client.getdel(DOWN_KEY)
            if since and await self._client.delete(DOWN_ALERTED_PREFIX + since.decode()):
                down_for = event.ts_event.timestamp() - float(since)
                self.offer(
                    Alert(
                        severity="info",
                        title="Gateway connection restored",
                        text=f"The IB connection is back after {down_for:.0f} s.",
                        at=event.ts_event,
                        dedupe_key="gateway_down",
                    )
                )
        elif (
            isinstance(event, GatewayError)
            and event.severity == "error"
            and event.client_order_id is None
        ):
            self.offer(
                Alert(
                    severity="warning",
                    title=f"Gateway error {event.code}",
                    text=event.message,
                    at=event.ts_event,
                    dedupe_key=f"gateway_error:{event.code}",
                )
            )

    async def _watch_gateway(self) -> None:
        period = min(5.0, max(0.2, self._down_after_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                await self.check_gateway_down()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("gateway-down check failed: %s", error)

    async def check_gateway_down(self) -> None:
        """Alert once per outage when it lasts longer than the threshold."""
        since = await self._client.get(DOWN_KEY)
        if since is None:
            return
        now = utc_now().timestamp()
        down_for = now - float(since)
        if down_for < self._down_after_s:
            return
        expected = await self._client.get(EXPECTED_KEY)
        if expected is not None and now < float(expected) + self._down_after_s:
            return  # the gateway's own restart or its weekly window: quiet until it should be back
        first = await self._client.set(
            DOWN_ALERTED_PREFIX + since.decode(), b"1", nx=True, ex=7 * 24 * 3600
        )
        if first:
            started = datetime.fromtimestamp(float(since), UTC).isoformat()
            self.offer(
                Alert(
                    severity="critical",
                    title="Gateway disconnected",
                    text=f"The IB connection has been down since {started} ({down_for:.0f} s); "
                    "no order is sent until it reconnects and reconciles. Check IB Gateway "
                    "(2FA, daily restart, competing session).",
                    at=utc_now(),
                    dedupe_key="gateway_down",
                )
            )


def second_factor_alert(event: SecondFactorRequested) -> Alert:
    """The alert a 2FA prompt gives: what to do, how long there is, which attempt."""
    minutes = max(1, round(event.timeout_s / 60))
    retry = (
        f" This is attempt {event.attempt}: the previous prompt was not approved in time."
        if event.attempt > 1
        else ""
    )
    return Alert(
        severity="critical",
        title="IB Gateway waits for your IB Key approval",
        text=f"IB Gateway is logging in: approve the IB Key prompt on your phone within "
        f"{minutes} minutes (IBKR Mobile).{retry} Until then no order can be sent.",
        at=event.ts_event,
        dedupe_key=f"gateway_2fa:{event.ts_event.timestamp():.0f}:{event.attempt}",
    )
