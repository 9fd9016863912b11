"""One worker per destination: its own queue, batching, rate limit and retries.

A slow or failing destination only ever delays its own queue: ``offer`` never blocks (a
full queue drops its oldest alert, counted), and every send runs in the worker's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from notifier.alerts.destinations import DeliveryError, Destination
from notifier.core.alerts import Alert, collapse
from notifier.core.repeats import RepeatFilter
from notifier.metrics import NotifierMetrics

log = logging.getLogger(__name__)

MAX_BATCH = 50


class DestinationWorker:
    """Deliver alerts to one destination in collapsed batches, at a bounded rate."""

    def __init__(
        self,
        destination: Destination,
        metrics: NotifierMetrics,
        *,
        rate_per_minute: int,
        batch_window_s: float,
        retries: int,
        backoff_s: float,
        queue_size: int,
        on_gave_up: Callable[[str, list[Alert], str], None],
        repeat_window_s: float = 0.0,
    ) -> None:
        self.destination = destination
        self.name = destination.name
        self._metrics = metrics
        self._interval_s = 60.0 / rate_per_minute
        self._batch_window_s = batch_window_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self._on_gave_up = on_gave_up
        self._repeats = RepeatFilter(repeat_window_s)
        self._last_send = -1e9
        self._task: asyncio.Task[None] | None = None
        self.sent_batches = 0
        self.failed_batches = 0

    def offer(self, alert: Alert) -> None:
        """Queue an alert without waiting; drop the oldest one if the queue is full."""
        if self.name in alert.skip:
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self._metrics.alerts_dropped.labels(self.name, "queue_full").inc()
        self._queue.put_nowait(alert)
        self._metrics.alert_queue.labels(self.name).set(self._queue.qsize())

    def start(self) -> None:
        """Start delivering."""
        self._task = asyncio.create_task(self._run(), name=f"alerts-{self.name}")

    async def stop(self, drain_s: float = 2.0) -> None:
        """Give queued alerts a moment to go out, then stop."""
        deadline = time.monotonic() + drain_s
        while not self._queue.empty() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        held = self._repeats.due(float("inf"))
        if held:  # repeats held for their window are told, not lost, at a stop
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._deliver(held), drain_s)

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            now = time.monotonic()
            # A repeat of what went out earlier in its window waits; closed windows go now.
            admitted = [a for a in collapse(batch) if self._repeats.admit(a, now) is not None]
            out = admitted + self._repeats.due(now)
            if out:
                await self._deliver(out)

    async def _next_batch(self) -> list[Alert]:
        """The next burst of queued alerts (empty when held repeats fall due first)."""
        try:
            first = await asyncio.wait_for(
                self._queue.get(), self._repeats.next_due(time.monotonic())
            )
        except TimeoutError:
            return []
        batch = [first]
        # Let a burst arrive, and respect the rate limit; both widen the batch.
        wait = max(self._batch_window_s, self._last_send + self._interval_s - time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        while not self._queue.empty() and len(batch) < MAX_BATCH:
            batch.append(self._queue.get_nowait())
        self._metrics.alert_queue.labels(self.name).set(self._queue.qsize())
        return batch

    async def _deliver(self, batch: list[Alert]) -> None:
        problem = "not sent"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            self._last_send = time.monotonic()
            try:
                await self.destination.send(batch)
            except asyncio.CancelledError:
                raise
            except DeliveryError as error:
                problem = str(error)
                if not error.retryable:
                    break
                continue
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
                continue
            self.sent_batches += 1
            self._metrics.alerts_sent.labels(self.name, "sent").inc()
            return
        self.failed_batches += 1
        self._metrics.alerts_sent.labels(self.name, "failed").inc()
        log.error(
            "alert destination %s failed (%s); %d alert(s) not delivered there",
            self.name,
            problem,
            len(batch),
        )
        self._on_gave_up(self.name, batch, problem)
