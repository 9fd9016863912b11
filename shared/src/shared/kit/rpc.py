"""Request-reply over Redis: the request goes on its stream, the reply comes back on a list.

The requester publishes the request (a Command, so it carries ``valid_until``) on its stream
and waits on ``<stream>.reply.<message_id>`` with BLPOP. The responder (a consumer group,
so replicas share the load) pushes the reply there with a short expiry. A redelivered
request is answered again, harmlessly: only the first reply is read, the rest expire.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.contracts.base import Command, Message
from shared.contracts.catalogue import StreamSpec, stream_of
from shared.kit.broker import Publisher

REPLY_TTL_S = 120
WAIT_MARGIN_S = 5.0
"""How long past the request's timeout a wait may last before it is cut (Redis gone silent)."""
WAITERS = 128
"""Requests that may wait for their replies at once, each holding one connection."""


class RpcTimeout(TimeoutError):
    """No reply could be had: none arrived in time, or Redis could not be reached.

    ``redis_unavailable`` tells the two apart (the message says which step failed), so a
    caller never blames Redis for a responder that is down.
    """

    def __init__(self, message: str, *, redis_unavailable: bool = False) -> None:
        super().__init__(message)
        self.redis_unavailable = redis_unavailable


def reply_key(request: Message) -> str:
    """Return the Redis list a request's reply is pushed to."""
    return f"{stream_of(request)}.reply.{request.message_id}"


class RpcClient:
    """Send requests and wait for their replies.

    Each waiting request holds a Redis connection for up to its timeout (BLPOP). The waits
    use a pool of their own that queues when full, so a burst of requests (a hundred
    accounts planned at once) neither exhausts the service's shared pool, which its acks and
    publishes need, nor fails with "too many connections".
    """

    def __init__(self, client: aioredis.Redis, publisher: Publisher) -> None:
        kwargs = dict(client.connection_pool.connection_kwargs)
        # A BLPOP blocks for its whole timeout: the socket's read timeout (redis-py's default
        # is 5 s) must not cut it. Each wait is bounded by its own timeout plus a margin.
        kwargs["socket_timeout"] = None
        pool = aioredis.BlockingConnectionPool(
            connection_class=client.connection_pool.connection_class,
            max_connections=WAITERS,
            timeout=None,
            **kwargs,
        )
        self._waits = aioredis.Redis(connection_pool=pool)
        self._publisher = publisher

    async def request(
        self, request: Command, replies: StreamSpec, timeout_s: float, *, stream: str | None = None
    ) -> Message:
        """Publish ``request`` (on its stream, or on ``stream``: a login's own request stream)
        and return its decoded reply, or raise RpcTimeout."""
        key = reply_key(request)
        name, target = type(request).__name__, stream or stream_of(request)
        try:
            await self._publisher.publish(request, stream=stream)
        except RedisError as error:
            raise RpcTimeout(
                f"{name} could not be sent on {target}: Redis cannot be reached "
                f"({type(error).__name__}: {error})",
                redis_unavailable=True,
            ) from error
        try:
            answer = await asyncio.wait_for(
                self._waits.blpop([key], timeout=timeout_s), timeout_s + WAIT_MARGIN_S
            )
        except TimeoutError:
            answer = None
        except RedisError as error:
            # Sent, then the connection that waits for the reply broke (Redis restarted).
            raise RpcTimeout(
                f"{name} was sent on {target} but the wait for its reply lost Redis "
                f"({type(error).__name__}: {error})",
                redis_unavailable=True,
            ) from error
        if answer is None:
            raise RpcTimeout(
                f"no reply to {name} on {target} within "
                f"{timeout_s:g} s; is the responding service running and healthy?"
            )
        return replies.decode(answer[1])

    async def close(self) -> None:
        """Close the connections of the waits."""
        await self._waits.aclose()


async def send_reply(client: aioredis.Redis, request: Message, reply: Message) -> None:
    """Push ``reply`` where the requester of ``request`` waits for it."""
    key = reply_key(request)
    async with client.pipeline(transaction=True) as pipe:
        pipe.rpush(key, reply.model_dump_json())
        pipe.expire(key, REPLY_TTL_S)
        await pipe.execute()
