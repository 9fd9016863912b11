"""Schedules: publish a RequestRebalance at each cron fire time, once across replicas.

A fire time is claimed in Redis (SET NX on schedule key + fire time) before publishing, so
replicas and restarts never fire it twice. After a restart, a fire time missed by at most
``misfire_grace_s`` still fires; older ones are skipped (a stale rebalance is worse than
none).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import redis.asyncio as aioredis
from shared.contracts.base import utc_now

from notifier.core.errors import Refusal
from notifier.core.schedule import ScheduleEntry, next_fire, previous_fire
from notifier.core.trigger_payload import TriggerInput
from notifier.intake import TriggerIntake
from notifier.metrics import NotifierMetrics

log = logging.getLogger(__name__)

FIRED_PREFIX = "notifier:schedule-fired:"
MAX_SLEEP_S = 30.0  # wake regularly: clock jumps and DST never leave a fire waiting long


class Scheduler:
    """Fire every schedule at its times."""

    def __init__(
        self,
        entries: list[ScheduleEntry],
        client: aioredis.Redis,
        intake: TriggerIntake,
        metrics: NotifierMetrics,
        misfire_grace_s: int,
    ) -> None:
        self.entries = entries
        self._client = client
        self._intake = intake
        self._metrics = metrics
        self._grace = timedelta(seconds=misfire_grace_s)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the schedule loop (nothing to do without schedules)."""
        if self.entries:
            self._task = asyncio.create_task(self._run(), name="scheduler")
            for entry in self.entries:
                log.info(
                    "schedule %s: '%s' %s (%s), next at %s",
                    entry.key,
                    entry.cron,
                    entry.timezone,
                    entry.execution.value,
                    next_fire(entry, utc_now()).isoformat(),
                )

    async def stop(self) -> None:
        """Stop the loop."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        now = utc_now()
        for entry in self.entries:
            missed = previous_fire(entry, now)
            if now - missed <= self._grace:
                await self.fire(entry, missed)
        pending = {entry.key: next_fire(entry, now) for entry in self.entries}
        while True:
            now = utc_now()
            soonest = min(pending.values())
            await asyncio.sleep(min(MAX_SLEEP_S, max(0.0, (soonest - now).total_seconds())))
            now = utc_now()
            for entry in self.entries:
                if pending[entry.key] <= now:
                    await self.fire(entry, pending[entry.key])
                    pending[entry.key] = next_fire(entry, now)

    async def fire(self, entry: ScheduleEntry, at: datetime) -> bool:
        """Publish the entry's trigger for fire time ``at`` unless already fired."""
        stamp = at.strftime("%Y%m%dT%H%M%SZ")
        claimed = await self._client.set(
            f"{FIRED_PREFIX}{entry.key}:{stamp}", b"1", nx=True, ex=3 * 24 * 3600
        )
        if not claimed:
            self._metrics.schedule_fires.labels("already_fired").inc()
            return False
        trigger = TriggerInput(
            account_ids=entry.account_ids,
            group=entry.group,
            execution=entry.execution,
            targets=None,
            trigger_id=f"schedule:{entry.key}:{stamp}",
        )
        try:
            await self._intake.submit(trigger, "schedule", requested_by=f"schedule {entry.key}")
        except Refusal as refusal:
            await self._intake.refused("schedule", refusal)
            return False
        except Exception:
            log.exception("schedule %s could not publish its trigger for %s", entry.key, stamp)
            return False
        self._metrics.schedule_fires.labels("published").inc()
        return True
