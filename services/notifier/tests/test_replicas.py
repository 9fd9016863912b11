"""Two notifier replicas in one consumer group share the triggers and handle each one once."""

from __future__ import annotations

from datetime import timedelta

from rebalancer_testkit.notifier import make_accounts, metric
from rebalancer_testkit.streams import read_stream
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import utc_now
from shared.contracts.triggers import RequestRebalance

ACCOUNTS = [
    {
        "id": f"DU9{n:02d}",
        "approval": "auto",
        "allocation": {
            "targets": [{"symbol": "VTI", "weight": 0.6}, {"symbol": "BND", "weight": 0.4}]
        },
    }
    for n in range(4)
]
HANDLED = "rebalancer_messages_handled_total"


async def test_two_replicas_share_the_triggers_and_none_is_handled_twice(start_notifier, client):
    accounts = make_accounts(*ACCOUNTS)
    # One entry per read, as docker-compose.yml and `rebalancer up` run replicas: a replica
    # busy with one trigger leaves the next to the other.
    replicas = [
        await start_notifier(accounts, api_enabled=False, read_batch_size=1, reclaim_idle_ms=30_000)
        for _ in range(2)
    ]
    requests = [
        RequestRebalance(
            source="test",
            account_ids=(ACCOUNTS[n % len(ACCOUNTS)]["id"],),
            valid_until=utc_now() + timedelta(minutes=5),
        )
        for n in range(40)
    ]
    for request in requests:
        await replicas[0].service.publish(request)

    async def all_resolved() -> list[TargetAllocationSet] | None:
        found = [
            m
            for m in await read_stream(client, catalogue.ALLOCATIONS)
            if isinstance(m, TargetAllocationSet)
        ]
        return found if len(found) >= len(requests) else None

    allocations = await eventually(all_resolved, 30, "40 allocations")
    labels = {"stream": catalogue.TRIGGERS.name, "type": "RequestRebalance", "outcome": "ok"}

    async def counted() -> list[float] | None:
        # A handler is counted once it returned, just after its allocation was published.
        handled = [metric(r, HANDLED, **labels) for r in replicas]
        return handled if sum(handled) >= len(requests) else None

    handled = await eventually(counted, 10, "every trigger counted as handled")
    assert sum(handled) == len(requests), handled  # each entry handled by exactly one replica
    assert min(handled) > 0, handled  # both replicas took part
    assert sorted(a.correlation_id for a in allocations) == sorted(r.message_id for r in requests)
    pending = await client.xpending(catalogue.TRIGGERS.name, "notifier")
    assert pending["pending"] == 0
