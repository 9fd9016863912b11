"""The kit's consumer against a real Redis: groups from 0, retries, delivery cap, dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from rebalancer_testkit.samples import all_samples
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import Message, utc_now
from shared.contracts.triggers import RequestRebalance
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings

STREAM = catalogue.TRIGGERS.name
DLQ = f"dlq.{STREAM}"


def trigger(**fields: object) -> RequestRebalance:
    return RequestRebalance(
        source="test", valid_until=utc_now() + timedelta(minutes=5), account_ids=("DU1",), **fields
    )


class Recorder:
    """A handler that records what it saw and fails for messages asked to fail."""

    def __init__(self) -> None:
        self.seen: list[Message] = []
        self.failures = 0

    async def __call__(self, message: Message) -> None:
        self.seen.append(message)
        if getattr(message, "requested_by", None) == "fail":
            self.failures += 1
            raise RuntimeError("handler bug")


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


def make_service(redis_url: str, **overrides: object) -> Service:
    settings = ServiceSettings(
        redis_url=redis_url, consumer_name="t-1", reclaim_idle_ms=200, max_deliveries=3, **overrides
    )
    return Service(settings)


async def test_entries_published_before_the_consumer_started_are_delivered(
    redis_url: str, client: aioredis.Redis
) -> None:
    early = trigger(requested_by="early")
    await client.xadd(STREAM, {"__data__": early.model_dump_json()})
    recorder = Recorder()
    service = make_service(redis_url)
    service.subscribe(catalogue.TRIGGERS, recorder)
    await service.start()
    try:
        await eventually(lambda: _true(len(recorder.seen) == 1))
        assert recorder.seen[0] == early
    finally:
        await service.stop()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"__data__": "this is {not json"}, "not_json"),
        ({"__data__": json.dumps({"type": "LaunchRockets", "source": "x"})}, "unknown_type"),
        ({"__data__": json.dumps({"type": "RequestRebalance", "source": 7})}, "invalid_fields"),
        ({"plain": "field"}, "unknown_type"),
        ({"__data__": b"\xff\xfe not even utf-8"}, "not_json"),
    ],
    ids=["not-json", "unknown-type", "missing-and-mistyped-fields", "foreign-producer", "not-utf8"],
)
async def test_malformed_entry_is_dead_lettered_acked_counted_and_does_not_block_the_next(
    redis_url: str, client: aioredis.Redis, fields: dict[str, str], reason: str
) -> None:
    recorder = Recorder()
    service = make_service(redis_url)
    service.subscribe(catalogue.TRIGGERS, recorder)
    await service.start()
    try:
        bad_id = (await client.xadd(STREAM, fields)).decode()
        good = trigger()
        await service.publish(good)
        await eventually(lambda: _true(len(recorder.seen) == 1))
        assert recorder.seen == [good]
        await eventually(lambda: _exists(client, DLQ))
        [(_, entry)] = await client.xrange(DLQ)
        assert entry[b"reason"].decode() == reason
        assert entry[b"entry_id"].decode() == bad_id
        assert entry[b"stream"].decode() == STREAM
        pending = await client.xpending(STREAM, "service")
        assert pending["pending"] == 0
        counted = service.metrics.registry.get_sample_value(
            "rebalancer_dead_letters_total",
            {"stream": STREAM, "group": "service", "reason": reason},
        )
        assert counted == 1
        alerts = await client.xrange(catalogue.ALERTS.name)
        assert len(alerts) == 1
    finally:
        await service.stop()


async def test_failing_handler_is_retried_then_dead_lettered_at_the_delivery_cap(
    redis_url: str, client: aioredis.Redis
) -> None:
    recorder = Recorder()
    service = make_service(redis_url)
    service.subscribe(catalogue.TRIGGERS, recorder)
    await service.start()
    try:
        poisoned = trigger(requested_by="fail")
        await service.publish(poisoned)
        after = trigger(requested_by="after")
        await service.publish(after)
        await eventually(lambda: _exists(client, DLQ), within=15)
        assert recorder.failures == 3  # max_deliveries handler runs, then the cap
        assert after in recorder.seen  # the poisoned message never blocked the next one
        [(_, entry)] = await client.xrange(DLQ)
        assert entry[b"reason"] == b"delivery_cap"
        assert json.loads(entry[b"payload"])["requested_by"] == "fail"
        # The entry is acked just after it is dead-lettered: wait for the ack, not race it.
        await eventually(lambda: _pending_is(client, 0))
    finally:
        await service.stop()


async def test_handler_that_fails_once_succeeds_on_redelivery_and_nothing_is_dead_lettered(
    redis_url: str, client: aioredis.Redis
) -> None:
    attempts: list[int] = []

    async def flaky(message: Message) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("downstream blip")

    service = make_service(redis_url)
    service.subscribe(catalogue.TRIGGERS, flaky)
    await service.start()
    try:
        await service.publish(trigger())
        await eventually(lambda: _true(len(attempts) == 2))
        await eventually(lambda: _pending_is(client, 0))
        assert not await client.exists(DLQ)
    finally:
        await service.stop()


async def test_concurrent_subscription_lets_later_entries_pass_a_slow_one_and_acks_each(
    redis_url: str, client: aioredis.Redis
) -> None:
    # The first entry waits until a later entry of the same batch was handled: handled one
    # by one in order this never finishes; with concurrency it does. A failing entry among
    # them stays pending (and is retried) while the others are acked.
    later_handled = asyncio.Event()
    seen: list[str] = []
    failed_once: list[str] = []
    slow_deliveries: list[int] = []

    async def handler(message: Message) -> None:
        name = getattr(message, "requested_by", "")
        if name == "slow":
            slow_deliveries.append(1)
            await asyncio.wait_for(later_handled.wait(), timeout=3)
        if name == "flaky" and not failed_once:
            failed_once.append(name)
            raise ConnectionError("downstream blip")
        seen.append(name)
        if name == "later":
            later_handled.set()

    for name in ("slow", "flaky", "later"):
        await client.xadd(STREAM, {"__data__": trigger(requested_by=name).model_dump_json()})
    service = make_service(redis_url)
    service.subscribe(catalogue.TRIGGERS, handler, concurrency=4)
    await service.start()
    try:
        await eventually(lambda: _true(sorted(seen) == ["flaky", "later", "slow"]), within=10)
        assert seen.index("later") < seen.index("slow")
        assert len(slow_deliveries) == 1  # it did not have to time out and be retried
        assert failed_once == ["flaky"]
        await eventually(lambda: _pending_is(client, 0))
    finally:
        await service.stop()


def test_concurrency_below_one_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        make_service(redis_url).subscribe(catalogue.TRIGGERS, Recorder(), concurrency=0)


async def test_messages_left_pending_by_a_dead_consumer_are_reclaimed_by_a_new_one(
    redis_url: str, client: aioredis.Redis
) -> None:
    # A consumer read the entry and died before acking (no handler ran to completion).
    await client.xgroup_create(STREAM, "service", id="0", mkstream=True)
    orphan = trigger(requested_by="orphan")
    await client.xadd(STREAM, {"__data__": orphan.model_dump_json()})
    await client.xreadgroup("service", "crashed-replica", {STREAM: ">"}, count=1)
    recorder = Recorder()
    service = make_service(redis_url)
    service.subscribe(catalogue.TRIGGERS, recorder)
    await service.start()
    try:
        await eventually(lambda: _true(orphan in recorder.seen))
        await eventually(lambda: _pending_is(client, 0))
    finally:
        await service.stop()


async def test_every_message_round_trips_through_a_real_stream(redis_url: str) -> None:
    received: dict[str, list[Message]] = {}
    service = make_service(redis_url)
    replies = {cls for spec in catalogue.REPLY_SPECS for cls in spec.messages}
    samples = [m for m in all_samples() if type(m) not in replies]
    specs = {catalogue.stream_of(m) for m in samples}
    for name in specs:

        async def handler(message: Message, name: str = name) -> None:
            received.setdefault(name, []).append(message)

        service.subscribe(catalogue.spec_of(name), handler)
    await service.start()
    try:
        for message in samples:
            await service.publish(message)
        await eventually(lambda: _true(sum(map(len, received.values())) >= len(samples)))
        for message in samples:
            assert message in received[catalogue.stream_of(message)], type(message).__name__
    finally:
        await service.stop()


async def _true(value: bool) -> bool:
    return value


async def _exists(client: aioredis.Redis, key: str) -> bool:
    return bool(await client.exists(key))


async def _pending_is(client: aioredis.Redis, count: int) -> bool:
    return (await client.xpending(STREAM, "service"))["pending"] == count
