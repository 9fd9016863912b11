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

    def __init__(self, publish: Callable[[Message], Awaitable[None]], name: str) -> None:
        self._publish = publish
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
            message = await self._queue.get()
            try:
                await self._publish(message)
            except Exception:
                log.exception("could not publish %s (%s)", type(message).__name__, self._name)
            finally:
                self._queue.task_done()
