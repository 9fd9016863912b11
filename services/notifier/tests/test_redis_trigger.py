"""Triggers published on the Redis channel become RequestRebalance, then targets per account."""

from __future__ import annotations

import json
import time

import pytest

from notifier.core.signing import canonical_body, sign
from rebalancer_testkit.notifier import make_accounts, metric
from rebalancer_testkit.streams import read_stream
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import ExecutionMode

TARGETS = [{"symbol": "QQQ", "allocation": 0.6}, {"symbol": "spy", "allocation": 0.4}]


async def allocations(client) -> list[TargetAllocationSet]:
    return await read_stream(client, catalogue.ALLOCATIONS)  # type: ignore[return-value]


async def test_redis_trigger_with_inline_targets_becomes_one_target_allocation_set(
    start_notifier, client
):
    await start_notifier()
    payload = {"account_id": "DU111", "execution": "rebalance", "targets": TARGETS}
    await client.publish("rebalance", json.dumps(payload))

    [allocation] = await eventually(lambda: allocations(client))
    [request] = await read_stream(client, catalogue.TRIGGERS)
    assert allocation.account_ids == ("DU111",)
    assert allocation.execution is ExecutionMode.REBALANCE
    assert [(t.symbol, str(t.weight)) for t in allocation.targets] == [
        ("QQQ", "0.6"),
        ("SPY", "0.4"),
    ]
    assert allocation.source_kind == "inline"
    assert allocation.request_id == request.message_id
    assert allocation.correlation_id == request.message_id == request.correlation_id
    assert request.trigger_source == "redis"
    assert request.valid_until > request.ts_init


@pytest.mark.parametrize("execution", ["Rebalance", "dry_run", "yes", None, True, " rebalance"])
async def test_only_the_exact_value_rebalance_may_trade(start_notifier, client, execution):
    await start_notifier()
    payload = {"account_id": "DU111", "execution": execution, "targets": TARGETS}
    await client.publish("rebalance", json.dumps(payload))
    [allocation] = await eventually(lambda: allocations(client))
    assert allocation.execution is ExecutionMode.DRY_RUN


async def test_group_trigger_yields_one_target_allocation_set_per_account(start_notifier, client):
    await start_notifier()
    await client.publish("rebalance", json.dumps({"group": "family", "targets": TARGETS}))
    found = await eventually(lambda: allocations(client), within=5) and await eventually(
        _count(client, 2)
    )
    assert sorted(a.account_ids[0] for a in found) == ["DU111", "DU222"]
    assert all(a.group == "family" for a in found)
    assert len({a.allocation_id for a in found}) == 2


def _count(client, n):
    async def probe():
        found = await allocations(client)
        return found if len(found) >= n else None

    return probe


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b'["a list"]', "invalid_trigger"),
        (json.dumps({"account_id": "DU999"}).encode(), "unknown_account"),
        (json.dumps({"group": "nobody"}).encode(), "unknown_group"),
        (json.dumps({"acount_id": "DU111"}).encode(), "invalid_trigger"),
        (json.dumps({"account_id": "DU333"}).encode(), "channel_not_allowed"),
        (
            json.dumps(
                {"account_id": "DU111", "targets": [{"symbol": "QQQ", "allocation": 0.5}]}
            ).encode(),
            "weights_sum",
        ),
        (
            json.dumps(
                {"account_id": "DU111", "targets": [{"symbol": "QQQ", "allocation": "x"}]}
            ).encode(),
            "invalid_targets",
        ),
        (b"x" * 70_000, "too_large"),
        (b"[" * 5000 + b"]" * 5000, "too_deep"),
        (b'{"account_id": "DU111", "targets": ' + b"[" * 40 + b"]" * 40 + b"}", "too_deep"),
        (
            json.dumps(
                {
                    "account_id": "DU111",
                    "targets": [{"symbol": f"S{n}", "allocation": 0.001} for n in range(1000)],
                }
            ).encode(),
            "too_many_targets",
        ),
    ],
)
async def test_bad_redis_triggers_are_counted_refusals_that_never_reach_the_planner(
    start_notifier, client, raw, reason
):
    notifier = await start_notifier()
    await client.publish("rebalance", raw)
    await eventually(
        lambda: _async(
            metric(notifier, "rebalancer_trigger_refusals_total", source="redis", reason=reason)
        )
    )
    assert await read_stream(client, catalogue.TRIGGERS) == []
    assert await read_stream(client, catalogue.ALLOCATIONS) == []


async def _async(value):
    return value


async def test_two_replicas_turn_one_published_trigger_into_one_request(start_notifier, client):
    await start_notifier()
    await start_notifier()
    await client.publish("rebalance", json.dumps({"account_id": "DU111", "targets": TARGETS}))
    await eventually(lambda: allocations(client))
    time_limit = time.monotonic() + 0.5
    while time.monotonic() < time_limit:  # give a second replica the chance to misbehave
        assert len(await read_stream(client, catalogue.TRIGGERS)) <= 1
        await _sleep(0.05)
    assert len(await read_stream(client, catalogue.TRIGGERS)) == 1
    assert len(await allocations(client)) == 1


async def _sleep(s):
    import asyncio

    await asyncio.sleep(s)


SECRET = "s3cret"


def signed(payload: dict, *, secret: str = SECRET, at: int | None = None) -> bytes:
    stamp = int(time.time()) if at is None else at
    return json.dumps(
        {
            **payload,
            "timestamp": stamp,
            "signature": sign(secret.encode(), stamp, canonical_body(payload)),
        }
    ).encode()


async def test_signed_redis_trigger_is_accepted_once_and_its_replay_refused(start_notifier, client):
    notifier = await start_notifier(trigger_secret=SECRET)
    message = signed({"account_id": "DU111", "execution": "rebalance", "targets": TARGETS})
    await client.publish("rebalance", message)
    await eventually(lambda: allocations(client))
    await client.publish("rebalance", message)
    await eventually(
        lambda: _async(
            metric(notifier, "rebalancer_trigger_refusals_total", source="redis", reason="replayed")
        )
    )
    assert len(await read_stream(client, catalogue.TRIGGERS)) == 1


# The messages are built when the test runs, not at collection: a signature stamped
# at collection goes stale (300 s) before a late test in a long run gets to it.
@pytest.mark.parametrize(
    ("make_message", "reason"),
    [
        (lambda: json.dumps({"account_id": "DU111", "targets": TARGETS}).encode(), "unsigned"),
        (lambda: signed({"account_id": "DU111"}, secret="wrong"), "bad_signature"),
        (lambda: signed({"account_id": "DU111"}, at=int(time.time()) - 3600), "stale_signature"),
    ],
)
async def test_unsigned_badly_signed_or_stale_redis_triggers_are_refused_and_alerted(
    start_notifier, client, make_message, reason
):
    notifier = await start_notifier(trigger_secret=SECRET)
    await client.publish("rebalance", make_message())
    await eventually(
        lambda: _async(
            metric(notifier, "rebalancer_trigger_refusals_total", source="redis", reason=reason)
        )
    )
    alerts = await eventually(lambda: read_stream(client, catalogue.ALERTS))
    assert alerts[0].dedupe_key == f"trigger_refused:redis:{reason}"
    assert await read_stream(client, catalogue.TRIGGERS) == []


async def test_tampered_signed_trigger_is_refused(start_notifier, client):
    notifier = await start_notifier(trigger_secret=SECRET)
    message = json.loads(signed({"account_id": "DU111", "execution": "dry_run"}))
    message["execution"] = "rebalance"
    await client.publish("rebalance", json.dumps(message))
    await eventually(
        lambda: _async(
            metric(
                notifier,
                "rebalancer_trigger_refusals_total",
                source="redis",
                reason="bad_signature",
            )
        )
    )
    assert await read_stream(client, catalogue.TRIGGERS) == []


def test_accounts_helper_rejects_unknown_fields():
    with pytest.raises(ValueError, match="account DU1"):
        make_accounts({"id": "DU1", "colour": "red"})
