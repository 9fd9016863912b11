"""One reader of the streams for every browser: seeds the state, follows it, fans out events.

Each open page holds an ``EventSource`` on ``/events``; the hub gives it a bounded queue. A
page that cannot keep up (its queue full) is cut off and reconnects on its own, re-reading
what it shows: a slow phone never holds the reader back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from console.core.state import KIND_OF_STREAM, ConsoleState, LiveEvent
from shared.contracts.catalogue import CATALOGUE
from shared.kit.streams import decode_fields

log = logging.getLogger(__name__)
QUEUE_SIZE = 256
BLOCK_MS = 1000
CLOSED = None


def _id(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class Hub:
    """Follow the console's streams (XREAD, no group) and broadcast what changed."""

    def __init__(self, redis: aioredis.Redis, state: ConsoleState, seed_entries: int) -> None:
        self.redis = redis
        self.state = state
        self._seed = seed_entries
        self.cursors: dict[str, str] = dict.fromkeys(KIND_OF_STREAM, "0-0")
        self._queues: set[asyncio.Queue[LiveEvent | None]] = set()
        self.following = False

    async def seed(self) -> None:
        """Read the newest entries of each stream into the state, oldest first."""
        for stream in KIND_OF_STREAM:
            entries: Any = await self.redis.xrevrange(stream, count=max(self._seed, 1))
            if not entries:
                continue
            self.cursors[stream] = _id(entries[0][0])
            for _, fields in reversed(entries if self._seed else []):
                message = decode_fields(CATALOGUE[stream], fields)
                if message is not None:
                    self.state.apply(stream, message)

    async def follow(self) -> None:
        """Read new entries for ever, folding and broadcasting them (Redis errors retried)."""
        while True:
            try:
                streams: dict[Any, Any] = dict(self.cursors)
                found: Any = await self.redis.xread(streams, block=BLOCK_MS)
                self.following = True
            except RedisError as error:
                self.following = False
                log.warning("reading the streams failed (%s); retrying", error)
                await asyncio.sleep(1)
                continue
            for raw_name, entries in found or []:
                stream = _id(raw_name)
                for entry_id, fields in entries:
                    self.cursors[stream] = _id(entry_id)
                    message = decode_fields(CATALOGUE[stream], fields)
                    event = self.state.apply(stream, message) if message is not None else None
                    if event is not None:
                        self.broadcast(event)

    def broadcast(self, event: LiveEvent) -> None:
        """Give ``event`` to every open page; cut off a page whose queue is full."""
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._queues.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(CLOSED)

    def open(self) -> asyncio.Queue[LiveEvent | None]:
        """A queue for one page's events (``None`` means: reconnect)."""
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def close(self, queue: asyncio.Queue[LiveEvent | None]) -> None:
        self._queues.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._queues)
