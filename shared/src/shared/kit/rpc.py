"""Request-reply over Redis: the request goes on its stream, the reply comes back on a list.

The requester publishes the request (a Command, so it carries ``valid_until``) on its stream
and waits on ``<stream>.reply.<message_id>`` with BLPOP. The responder (a consumer group,
so replicas share the load) pushes the reply there with a short expiry. A redelivered
request is answered again, harmlessly: only the first reply is read, the rest expire.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from shared.contracts.base import Command, Message
from shared.contracts.catalogue import StreamSpec, stream_of
from shared.kit.broker import Publisher

REPLY_TTL_S = 120


class RpcTimeout(TimeoutError):
    """No reply arrived in time."""


def reply_key(request: Message) -> str:
    """Return the Redis list a request's reply is pushed to."""
    return f"{stream_of(request)}.reply.{request.message_id}"


class RpcClient:
    """Send requests and wait for their replies."""

    def __init__(self, client: aioredis.Redis, publisher: Publisher) -> None:
        self._client = client
        self._publisher = publisher

    async def request(self, request: Command, replies: StreamSpec, timeout_s: float) -> Message:
        """Publish ``request`` and return its decoded reply, or raise RpcTimeout."""
        key = reply_key(request)
        await self._publisher.publish(request)
        answer = await self._client.blpop([key], timeout=timeout_s)
        if answer is None:
            raise RpcTimeout(
                f"no reply to {type(request).__name__} on {stream_of(request)} within "
                f"{timeout_s:g} s; is the responding service running and healthy?"
            )
        return replies.decode(answer[1])


async def send_reply(client: aioredis.Redis, request: Message, reply: Message) -> None:
    """Push ``reply`` where the requester of ``request`` waits for it."""
    key = reply_key(request)
    async with client.pipeline(transaction=True) as pipe:
        pipe.rpush(key, reply.model_dump_json())
        pipe.expire(key, REPLY_TTL_S)
        await pipe.execute()
