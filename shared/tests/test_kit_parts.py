"""The kit's newer parts on a real Redis: typed dispatch, background tasks, pipelined
publishing, stream readers that read every producer's entries, and the portfolio client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from rebalancer_testkit.fake_bridge import FakeBridge, SimAccount
from rebalancer_testkit.samples import sample_of
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import Message, utc_now
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading
from shared.contracts.plans import PlanApproved
from shared.kit.portfolio import PortfolioClient, PortfolioUnavailableError
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings
from shared.kit.streams import Tail, last, read


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


def service(redis_url: str, name: str = "t-1") -> Service:
    return Service(ServiceSettings(redis_url=redis_url, consumer_name=name, reclaim_idle_ms=500))


async def test_a_dispatch_table_routes_by_type_and_counts_what_it_skips(redis_url: str) -> None:
    seen: list[Message] = []

    async def on_approve(message: ApprovePlan) -> None:
        seen.append(message)

    consumer = service(redis_url)
    consumer.subscribe(catalogue.PLAN_COMMANDS, {ApprovePlan: on_approve})
    await consumer.start()
    try:
        until = utc_now() + timedelta(minutes=1)
        await consumer.publish(CancelPlan(source="t", plan_id="p", valid_until=until))
        await consumer.publish(
            ApprovePlan(source="t", plan_id="p", approved_by="me", valid_until=until)
        )
        await eventually(lambda: _value(len(seen) == 1))
        assert isinstance(seen[0], ApprovePlan)
        registry = consumer.metrics.registry
        labels = {"stream": catalogue.PLAN_COMMANDS.name, "type": "CancelPlan"}
        assert registry.get_sample_value("rebalancer_messages_ignored_total", labels) == 1
    finally:
        await consumer.stop()


def test_a_dispatch_table_naming_a_message_of_another_stream_is_refused(redis_url: str) -> None:
    async def handler(message: Message) -> None:
        return None

    with pytest.raises(ValueError, match=r"PlanApproved never travel on commands\.plans\.v1"):
        service(redis_url).subscribe(catalogue.PLAN_COMMANDS, {PlanApproved: handler})


async def test_background_tasks_are_counted_when_they_fail_and_cancelled_at_stop(
    redis_url: str,
) -> None:
    svc = service(redis_url)
    await svc.start()
    forever = asyncio.Event()

    async def broken() -> None:
        raise RuntimeError("bug")

    async def waits() -> None:
        await forever.wait()

    svc.background(broken(), "broken")
    waiting = svc.background(waits(), "waits")
    await eventually(
        lambda: _value(
            svc.metrics.registry.get_sample_value("rebalancer_background_task_failures_total") == 1
        )
    )
    await svc.stop()
    assert waiting.cancelled()
    assert svc.tasks == set()


async def test_publish_many_puts_each_message_on_its_stream_in_one_round_trip(
    redis_url: str, client: aioredis.Redis
) -> None:
    svc = service(redis_url)
    await svc.start()
    try:
        messages = [sample_of("PriceUpdated"), sample_of("HaltTrading"), sample_of("PriceUpdated")]
        await svc.publisher.publish_many(messages)
        assert await read(client, catalogue.PRICES) == [messages[0], messages[2]]
        assert await read(client, catalogue.PLAN_COMMANDS) == [messages[1]]
    finally:
        await svc.stop()


async def test_stream_readers_read_framed_and_foreign_entries_and_skip_garbage(
    redis_url: str, client: aioredis.Redis
) -> None:
    svc = service(redis_url)
    await svc.start()
    try:
        halt = sample_of("HaltTrading")
        tail = await Tail(client, [catalogue.PLAN_COMMANDS]).mark()
        await svc.publish(halt)
        foreign = json.loads(sample_of("ResumeTrading").model_dump_json())
        await client.xadd(
            catalogue.PLAN_COMMANDS.name,
            {k: json.dumps(v) if not isinstance(v, str) else v for k, v in foreign.items()},
        )
        await client.xadd(catalogue.PLAN_COMMANDS.name, {"type": "Nonsense"})
        found = await read(client, catalogue.PLAN_COMMANDS)
        assert [type(m).__name__ for m in found] == ["HaltTrading", "ResumeTrading"]
        assert isinstance(await last(client, catalogue.PLAN_COMMANDS), type(found[1]))
        followed = await tail.read(block_ms=100)
        assert [type(m).__name__ for m in followed] == ["HaltTrading", "ResumeTrading"]
        assert await tail.read(block_ms=50) == []
        assert isinstance(found[0], HaltTrading)
    finally:
        await svc.stop()


async def test_the_portfolio_client_says_why_there_is_no_view(redis_url: str) -> None:
    bridge = FakeBridge(redis_url)
    bridge.accounts = {"DU1": SimAccount(cash=Decimal(100), prices={"SPY": Decimal(500)})}
    bridge.unavailable = {"DU9": "not managed by this login"}
    bridge.silent = {"DU0"}
    await bridge.start()
    asker = service(redis_url, "asker")
    await asker.start()
    portfolio = PortfolioClient(asker.redis, asker.publisher, source="t", timeout_s=1)
    try:
        view = await portfolio.get("DU1", ("SPY",), "c-1")
        assert (view.account_id, view.total_cash) == ("DU1", Decimal(100))
        for account, code in (("DU9", "unknown_account"), ("DU0", "timeout")):
            with pytest.raises(PortfolioUnavailableError) as caught:
                await portfolio.get(account)
            assert caught.value.code == code
            assert caught.value.reason.message
        assert bridge.requests[0].correlation_id == "c-1"
    finally:
        await portfolio.close()
        await asker.stop()
        await bridge.stop()


async def _value(value: bool) -> bool:
    return value
