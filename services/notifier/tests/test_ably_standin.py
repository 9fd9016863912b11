"""The local Ably stand-in against the real SDK (both wire formats), and the adapter on it.

If the SDK and the stand-in disagree on the protocol, these fail before the notifier's
tests do, and say where.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ably import AblyRealtime
from ably.util.exceptions import AblyException

from notifier.ably_adapter import AblyMessage, AblyRealtimeAdapter
from rebalancer_testkit.ably_standin import AblyStandin, realtime_client, rest_client


async def until(probe, timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {value!r}")
        await asyncio.sleep(0.02)
    return value


def state(client: Any) -> str:
    return str(client.connection.state.value)


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
async def test_publish_subscribe_ack_and_history_with_the_real_sdk(standin: AblyStandin, binary):
    subscriber = realtime_client(standin, use_binary_protocol=binary)
    publisher = realtime_client(standin, use_binary_protocol=binary)
    rest = rest_client(standin, use_binary_protocol=binary)
    received: list[Any] = []
    try:
        channel = subscriber.channels.get("room")
        await channel.subscribe(lambda m: received.append(m))
        assert str(channel.state.value) == "attached"
        assert state(subscriber) == "connected"
        pub = publisher.channels.get("room")
        await pub.publish("json", {"execution": "rebalance"})  # returns on the ACK
        await pub.publish("text", "hello")
        await pub.publish("bytes", b"\x00\xff raw")
        await until(lambda: len(received) == 3)
        assert [(m.name, m.data) for m in received] == [
            ("json", {"execution": "rebalance"}),
            ("text", "hello"),
            ("bytes", bytearray(b"\x00\xff raw")),
        ]
        assert [f["msgSerial"] for f in standin.frames_of("MESSAGE", "room")] == [0, 1, 2]
        assert standin.connects[0].get("format", "json") == ("msgpack" if binary else "json")

        page = await rest.channels.get("room").history(direction="forwards", limit=2)
        items = list(page.items)
        assert page.has_next()
        page = await page.next()
        items += page.items
        assert not page.has_next()
        # History carries the same ids as the live messages (TM2a): dedupe can rely on them.
        assert [m.id for m in items] == [m.id for m in received]
        assert [m.data for m in items] == [m.data for m in received]
        backwards = await rest.channels.get("room").history(limit=10)
        assert [m.name for m in backwards.items] == ["bytes", "text", "json"]
    finally:
        for client in (subscriber, publisher):
            await client.close()
        await rest.close()
    assert state(subscriber) == "closed"
    assert standin.frames_of("CLOSE")
    assert standin.connections == {}


@pytest.mark.parametrize(
    ("key", "code", "status"),
    [
        ("{name}:wrong-secret", 40101, 401),
        ("{app}.otherkey:secret", 40400, 404),
        ("otherapp.key:secret", 40400, 404),
    ],
)
async def test_a_refused_key_fails_the_connection_and_rest_with_ablys_codes(
    standin: AblyStandin, key, code, status
):
    name = standin.key.split(":")[0]
    key = key.format(name=name, app=name.split(".")[0])
    refused = AblyRealtime(key, endpoint=f"{standin.host}:{standin.port}", fallback_hosts=[])
    rest = rest_client(standin, key=key)
    try:
        await until(lambda: state(refused) == "failed")  # RTN14a: no retry with a bad key
        assert refused.connection.error_reason.code == code
        assert refused.connection.error_reason.status_code == status
        with pytest.raises(AblyException) as error:
            await rest.channels.get("room").history()
        assert (error.value.code, error.value.status_code) == (code, status)
    finally:
        await refused.close()
        await rest.close()


async def test_the_adapter_reads_every_page_of_history_since_a_time(standin: AblyStandin):
    old = await standin.publish("triggers", "old", {"n": -1})
    old.timestamp -= 60_000  # a minute ago
    for n in range(250):
        await standin.publish("triggers", "rebalance", {"n": n})
    adapter = AblyRealtimeAdapter(standin.key, endpoint=standin.host, port=standin.port)
    try:
        found = await adapter.history("triggers", datetime.now(UTC) - timedelta(seconds=30))
    finally:
        await adapter.close()
    assert [m.data["n"] for m in found] == list(range(250))  # 3 pages of 100, oldest first
    assert all(isinstance(m, AblyMessage) and m.channel == "triggers" for m in found)
    assert len([r for r in standin.rest_requests if r["path"].endswith("/messages")]) == 3


async def test_the_adapter_publishes_an_object_acknowledged_by_ably(standin: AblyStandin):
    adapter = AblyRealtimeAdapter(standin.key, endpoint=standin.host, port=standin.port)
    try:
        await adapter.start()
        await until(lambda: adapter.health() is True)
        await adapter.publish("alerts", "alert", {"alerts": [{"title": "hello"}]})
    finally:
        await adapter.close()
    [stored] = standin.history_of("alerts")
    assert stored.encoding == "json"
    assert standin.decoded(stored) == {"alerts": [{"title": "hello"}]}
