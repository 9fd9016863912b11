"""Read streams without a consumer group: history, the newest entry, and a tail.

Every reader decodes through the consumer's own ``entry_body`` and ``decode_entry``, so an
entry written by a foreign producer (plain ``XADD`` fields) reads as it does for a service,
and an unreadable entry is skipped instead of crashing the reader. For consuming (at least
once, with acks), use ``Service.subscribe``; these are for views, recovery and tools.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from shared.contracts.base import Message
from shared.contracts.catalogue import CATALOGUE, StreamSpec
from shared.kit.consumer import MalformedMessage, decode_entry, entry_body

PAGE = 1000
M = TypeVar("M", bound=Message)


def decode_fields(spec: StreamSpec, fields: Any) -> Message | None:
    """Decode one raw entry's fields, or None if it is not a readable message of ``spec``."""
    try:
        body, _ = entry_body(fields)
        return decode_entry(spec, body)
    except (MalformedMessage, ValueError, KeyError):
        return None


def _id(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def history(client: aioredis.Redis, spec: StreamSpec) -> AsyncIterator[Message]:
    """Yield every readable message of a stream, oldest first (XRANGE in pages)."""
    cursor = "-"
    while True:
        entries: Any = await client.xrange(spec.name, min=cursor, max="+", count=PAGE)
        for _, fields in entries or []:
            message = decode_fields(spec, fields)
            if message is not None:
                yield message
        if not entries or len(entries) < PAGE:
            return
        cursor = "(" + _id(entries[-1][0])


async def read(client: aioredis.Redis, spec: StreamSpec) -> list[Message]:
    """Every readable message of a stream, oldest first."""
    return [message async for message in history(client, spec)]


async def newest_of(
    client: aioredis.Redis, spec: StreamSpec, kind: type[M], scan: int = 200
) -> M | None:
    """The newest message of type ``kind`` among the last ``scan`` entries, or None."""
    entries: Any = await client.xrevrange(spec.name, count=scan)
    for _, fields in entries or []:
        message = decode_fields(spec, fields)
        if isinstance(message, kind):
            return message
    return None


async def last(client: aioredis.Redis, spec: StreamSpec) -> Message | None:
    """The newest readable message of a stream, or None."""
    entries: Any = await client.xrevrange(spec.name, count=20)
    for _, fields in entries or []:
        message = decode_fields(spec, fields)
        if message is not None:
            return message
    return None


class Tail:
    """Follow streams from a point on (XREAD, no group): what came after :meth:`mark`."""

    def __init__(self, client: aioredis.Redis, specs: Iterable[StreamSpec]) -> None:
        self._client = client
        self._specs = {spec.name: spec for spec in specs}
        self.cursors: dict[str, str] = {name: "0-0" for name in self._specs}

    async def mark(self) -> Tail:
        """Start after the newest entry of each stream (what is already there is skipped)."""
        for name in self._specs:
            newest: Any = await self._client.xrevrange(name, count=1)
            self.cursors[name] = _id(newest[0][0]) if newest else "0-0"
        return self

    async def read(self, block_ms: int = 200, count: int | None = None) -> list[Message]:
        """New messages of the streams, in stream order per stream (waits up to ``block_ms``)."""
        streams: Any = dict(self.cursors)
        found: Any = await self._client.xread(streams, block=block_ms, count=count)
        out: list[Message] = []
        for name, entries in found or []:
            stream = _id(name)
            spec = self._specs.get(stream) or CATALOGUE[stream]
            for entry_id, fields in entries:
                self.cursors[stream] = _id(entry_id)
                message = decode_fields(spec, fields)
                if message is not None:
                    out.append(message)
        return out
