"""Read what is on a stream in tests, decoded the way services decode it."""

from __future__ import annotations

import redis.asyncio as aioredis

from shared.contracts.base import Message
from shared.contracts.catalogue import StreamSpec
from shared.kit.streams import read


async def read_stream(client: aioredis.Redis, spec: StreamSpec) -> list[Message]:
    """Every readable message on ``spec``'s stream, oldest first."""
    return await read(client, spec)


async def of_type(client: aioredis.Redis, spec: StreamSpec, *kinds: type[Message]) -> list[Message]:
    """The messages of the given types on ``spec``'s stream, oldest first."""
    return [m for m in await read(client, spec) if isinstance(m, kinds)]
