"""Ably triggers (through a fake behind the Protocol) and the real adapter without a network.

The real SDK against a local Ably is in test_ably_realtime.py and test_ably_standin.py.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from notifier.ably_adapter import AblyConfigError, AblyMessage, AblyRealtimeAdapter
from notifier.main import create_app
from notifier.settings import NotifierSettings
from rebalancer_testkit.fake_ably import FakeAbly
from rebalancer_testkit.notifier import closed_port, make_accounts, metric
from rebalancer_testkit.streams import read_stream
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode, utc_now

ACCOUNTS = (
    {
        "id": "DU111",
        "approval": "auto",
        "allocation": {"targets": [{"symbol": "VTI", "weight": 1}]},
        "triggers": {"ably_channel": "rebalance-primary"},
    },
    {
        "id": "DU222",
        "allocation": {"targets": [{"symbol": "BND", "weight": 1}]},
        "triggers": {"ably_channel": "rebalance-secondary"},
    },
)


def message(channel: str, data, *, id: str = "m1", age_s: float = 0) -> AblyMessage:
    return AblyMessage(
        id=id,
        channel=channel,
        name="rebalance",
        data=data,
        timestamp=utc_now() - timedelta(seconds=age_s),
    )


async def triggers(client):
    return await read_stream(client, catalogue.TRIGGERS)


async def test_notifier_subscribes_to_each_accounts_channel(start_notifier):
    ably = FakeAbly()
    await start_notifier(make_accounts(*ACCOUNTS), ably=ably)
    assert sorted(ably.listeners) == ["rebalance-primary", "rebalance-secondary"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"execution": "rebalance"}, ExecutionMode.REBALANCE),
        ({}, ExecutionMode.DRY_RUN),
        (None, ExecutionMode.DRY_RUN),
        ({"execution": "dry_run"}, ExecutionMode.DRY_RUN),
        ({"execution": "REBALANCE"}, ExecutionMode.DRY_RUN),
        ("rebalance", ExecutionMode.DRY_RUN),
    ],
)
async def test_only_execution_rebalance_on_ably_may_trade(start_notifier, client, data, expected):
    ably = FakeAbly()
    await start_notifier(make_accounts(*ACCOUNTS), ably=ably)
    await ably.deliver(message("rebalance-primary", data))
    [request] = await eventually(lambda: triggers(client))
    assert request.account_ids == ("DU111",)
    assert request.execution is expected
    assert request.trigger_source == "ably"
    [allocation] = await eventually(lambda: read_stream(client, catalogue.ALLOCATIONS))
    assert allocation.execution is expected


async def test_ably_message_delivered_twice_triggers_once(start_notifier, client):
    ably = FakeAbly()
    notifier = await start_notifier(make_accounts(*ACCOUNTS), ably=ably)
    await ably.deliver(message("rebalance-primary", {"execution": "rebalance"}, id="dup"))
    await ably.deliver(message("rebalance-primary", {"execution": "rebalance"}, id="dup"))
    await eventually(lambda: triggers(client))
    assert len(await triggers(client)) == 1
    assert metric(notifier, "rebalancer_triggers_total", source="ably", outcome="accepted") == 1


async def test_message_on_a_channel_of_no_account_is_refused(start_notifier, client):
    ably = FakeAbly()
    notifier = await start_notifier(make_accounts(*ACCOUNTS), ably=ably)
    await notifier.ably_edge.on_message(message("someone-else", {"execution": "rebalance"}))
    assert (
        metric(notifier, "rebalancer_trigger_refusals_total", source="ably", reason="wrong_channel")
        == 1
    )
    assert await triggers(client) == []


async def test_restart_catches_up_from_history_without_double_triggering(start_notifier, client):
    first_ably = FakeAbly()
    first = await start_notifier(make_accounts(*ACCOUNTS), ably=first_ably)
    seen = message("rebalance-primary", {"execution": "rebalance"}, id="a", age_s=30)
    await first_ably.deliver(seen)
    await eventually(lambda: triggers(client))
    await first.stop()

    # While down, one new message arrived; history also returns the one already handled.
    missed = message("rebalance-primary", {}, id="b", age_s=5)
    too_old = message("rebalance-primary", {"execution": "rebalance"}, id="c", age_s=3600)
    second_ably = FakeAbly(history_messages=[too_old, seen, missed])
    await start_notifier(make_accounts(*ACCOUNTS), ably=second_ably)
    found = await eventually(lambda: _at_least(triggers(client), 2))
    assert [r.trigger_id for r in found] == ["a", "b"]
    assert second_ably.history_calls[0][0] == "rebalance-primary"


async def _at_least(coro, n):
    found = await coro
    return found if len(found) >= n else None


async def test_real_adapter_without_network_retries_and_reports_unhealthy(start_notifier):
    adapter = AblyRealtimeAdapter(
        "appid.keyid:secret",
        endpoint="127.0.0.1",
        port=closed_port(),
        disconnected_retry_s=0.2,
        request_timeout_s=0.5,
        attach_retry_max_s=0.5,
    )
    assert adapter.health() == "Ably connection not started"
    notifier = await start_notifier(make_accounts(*ACCOUNTS), ably=adapter)
    received: list[AblyMessage] = []

    async def listener(msg: AblyMessage) -> None:
        received.append(msg)

    await adapter.subscribe("extra-channel", listener)  # returns at once, attaches later
    states: set[str] = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not ({"connecting", "disconnected"} <= states):
        states.add(adapter.state())
        await asyncio.sleep(0.02)
    assert {"connecting", "disconnected"} <= states  # it keeps trying
    assert adapter.health() is not True
    ready, checks = await notifier.service.health.run()
    assert ready is False
    assert checks["ably"].startswith("Ably connection is")
    assert checks["redis"] == "ok"  # the rest of the service is fine
    assert received == []
    with pytest.raises(ConnectionError, match="Ably connection is"):
        await adapter.publish("alerts", "alert", {"alerts": []})  # fails fast, not queued


def test_the_notifier_with_an_ably_key_is_built_outside_an_event_loop(redis_url):
    """As ``run()`` does: ``create_app`` before any loop exists (it crashed: no running loop)."""
    notifier = create_app(
        NotifierSettings(redis_url=redis_url, ably_api_key="appid.keyid:secret"),
        make_accounts(*ACCOUNTS),
    )
    assert isinstance(notifier.ably, AblyRealtimeAdapter)
    assert notifier.ably.health() == "Ably connection not started"


@pytest.mark.parametrize("key", ["", "secret-only", "appid:secret", "app.key", "app.key:"])
def test_a_malformed_ably_key_is_refused_without_echoing_it(key):
    with pytest.raises(AblyConfigError, match="NOTIFIER_ABLY_API_KEY is not an Ably API key") as e:
        AblyRealtimeAdapter(key)
    assert not key or key not in str(e.value)


def test_ably_without_tls_is_refused_saying_why():
    with pytest.raises(AblyConfigError, match="NOTIFIER_ABLY_TLS=false cannot work"):
        AblyRealtimeAdapter("appid.keyid:secret", tls=False)
