"""Publish messages from synchronous callbacks one at a time, in the order they were put.

ib_async calls our handlers synchronously; spawning one task per message would publish
out of order and, in a burst (200 position updates), exhaust the Redis connection pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from shared.contracts.base import Message

log = logging.getLogger(__name__)


class SerialPublisher:
    """A queue drained by one task; a failed publish is logged and the next one goes on."""

    def __init__(
        self,
        publish: Callable[[Message], Awaitable[None]],
        name: str,
        publish_many: Callable[[list[Message]], Awaitable[None]] | None = None,
    ) -> None:
        self._publish = publish
        self._publish_many = publish_many
        self._name = name
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def put(self, message: Message) -> None:
        """Queue a message (callable from synchronous code)."""
        self._queue.put_nowait(message)

    def start(self) -> None:
        """Start draining."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"publish-{self._name}")

    async def stop(self) -> None:
        """Stop draining (bounded)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=2.0)
            self._task = None

    async def drain(self) -> None:
        """Wait until everything queued so far was handled."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._publish_many is not None:
                # What queued up meanwhile goes in the same Redis round trip, in order.
                while len(batch) < 200 and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
            try:
                if len(batch) == 1:
                    await self._publish(batch[0])
                else:
                    assert self._publish_many is not None
                    await self._publish_many(batch)
            except Exception:
                log.exception("could not publish %d messages (%s)", len(batch), self._name)
            finally:
                for _ in batch:
                    self._queue.task_done()
