"""The CLI's door to the stack's Redis: publish a command, follow streams, read the plans.

Plans are read as every service reads them: the shared fold of ``events.plans.v1``
(:mod:`shared.plans.view`), and the kill switch as the last Halt/Resume on
``commands.plans.v1``. Nothing here reads a service's private state.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from faststream.redis import RedisBroker

from shared.contracts import catalogue
from shared.contracts.base import Message
from shared.contracts.catalogue import StreamSpec
from shared.kit.streams import Tail, read
from shared.plans.view import HaltView, PlanView, fold_all, fold_halt


class Bus:
    """Publish commands and follow streams from a point in time (XREAD, no consumer group)."""

    def __init__(self, redis_url: str) -> None:
        self.url = redis_url
        self.client = aioredis.Redis.from_url(redis_url)
        self.broker = RedisBroker(redis_url, log_level=logging.DEBUG)

    async def __aenter__(self) -> Bus:
        await self.client.ping()
        await self.broker.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.broker.stop()
        await self.client.aclose()

    async def publish(self, message: Message) -> None:
        """Put a contract message on its stream, framed as the services' kit frames it."""
        await self.broker.publish(
            message.model_dump(mode="json"),
            stream=catalogue.stream_of(message),
            correlation_id=message.correlation_id or message.message_id,
        )

    async def tail(self, *specs: StreamSpec) -> Tail:
        """A follower of ``specs`` that starts after what is on them now."""
        return await Tail(self.client, specs).mark()

    async def plans(self) -> dict[str, PlanView]:
        """Every plan on ``events.plans.v1``, as the shared fold sees it."""
        return fold_all(await read(self.client, catalogue.PLANS))

    async def halt(self) -> HaltView:
        """The kill switch as the last HaltTrading or ResumeTrading left it."""
        view = HaltView()
        for command in await read(self.client, catalogue.PLAN_COMMANDS):
            view = fold_halt(view, command)
        return view
