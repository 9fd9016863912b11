"""Publishes the journal's queued order events in order, and keeps trying while Redis is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway_bridge.journal import OrderJournal
from shared.contracts import catalogue
from shared.contracts.base import Message

log = logging.getLogger(__name__)

Publish = Callable[[Message], Awaitable[None]]
PublishMany = Callable[[list[Message]], Awaitable[None]]


class Outbox:
    """Drain the journal's outbox: publish each event, then mark it published."""

    def __init__(
        self,
        journal: OrderJournal,
        publish: Publish,
        retry_s: float = 1.0,
        publish_many: PublishMany | None = None,
    ) -> None:
        self._journal = journal
        self._publish = publish
        self._publish_many = publish_many
        self._retry_s = retry_s
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Ask for a flush soon (called after every journal write that queued events)."""
        self._wake.set()

    async def flush(self) -> int:
        """Publish every queued event now, in order; return how many were published."""
        async with self._lock:
            count = 0
            while batch := self._journal.pending_events():
                done: list[int] = []
                try:
                    if self._publish_many is not None and len(batch) > 1:
                        # One Redis round trip for the batch, in order.
                        await self._publish_many([catalogue.ORDERS.decode(b) for _, b in batch])
                        done = [seq for seq, _ in batch]
                    else:
                        for seq, body in batch:
                            await self._publish(catalogue.ORDERS.decode(body))
                            done.append(seq)
                finally:
                    # One commit per batch; a crash before it re-publishes the batch (at least
                    # once, same message_ids), never loses an event.
                    self._journal.mark_published_many(done)
                count += len(done)
            return count

    def start(self) -> None:
        """Run the background flusher."""
        self._task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        """Stop the flusher (queued events stay in the journal for the next start)."""
        if self._task:
            self._task.cancel()
            # Bounded: a publish on a broker that is already stopped can ignore the cancel.
            await asyncio.wait([self._task], timeout=2.0)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._retry_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("could not publish queued order events; retrying")
