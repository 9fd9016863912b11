"""Over the real stack: every plan outcome reaches the humans exactly once.

Redis, the IB emulator, the gateway-bridge, planner, executor and notifier run as processes;
the notifier's alert webhook is a local HTTP receiver. Plans are asked for through the HTTP
API (the operator's door) and driven to each outcome: a dry run, a completed auto rebalance,
a manual plan that expires, a manual plan the risk gate rejects after its approval, and a
halt. The executor publishes its decisions as events only; the notifier alone turns them into
alerts, so each outcome is told once (before, the executor's SendAlert doubled most of them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.http import LocalHttpServer, Route
from rebalancer_testkit.waiting import eventually, stays
from shared.contracts import catalogue
from shared.contracts.plans import PlanCompleted, PlanExpired, PlanRejected

AUTO, MANUAL = "DU1000001", "DU1000002"
PLANNING = {"drift_band_abs_pct": "0.5", "min_order_value": "50"}
AUTO_TARGETS = [{"symbol": "SPY", "allocation": 0.6}, {"symbol": "BND", "allocation": 0.4}]
MANUAL_TARGETS = [{"symbol": "QQQ", "allocation": 0.5}, {"symbol": "TLT", "allocation": 0.5}]
DENIED_TARGETS = [{"symbol": "QQQ", "allocation": 0.5}, {"symbol": "GLD", "allocation": 0.5}]


@pytest.fixture
def hook() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer(routes={"/hook": Route([(200, {})])}).start()
    yield server
    server.stop()


@pytest.fixture
async def stack(tmp_path: Path, hook: LocalHttpServer) -> AsyncIterator[E2EStack]:
    accounts = accounts_file(
        DU1000001={"approval": "auto", "planning": PLANNING},
        DU1000002={
            "approval": "manual",
            "planning": {**PLANNING, "plan_ttl_s": 8},
            "execution": {"denied_symbols": ["GLD"]},
        },
    )
    s = E2EStack(
        tmp_path,
        accounts,
        notifier=True,
        notifier_env={"NOTIFIER_ALERT_WEBHOOK_URLS": f"{hook.url}/hook"},
    )
    await s.start()
    yield s
    await s.stop()


def alerts(hook: LocalHttpServer) -> list[dict[str, Any]]:
    return [a for body in hook.bodies("/hook") for a in body["alerts"]]


async def plan_of(
    stack: E2EStack, account: str, targets: list[dict[str, Any]], execute: bool
) -> str:
    response = await stack.api(
        "POST",
        f"/api/v1/rebalance?account={account}&execute={str(execute).lower()}&wait=true",
        body=targets,
    )
    assert response.status_code == 200, response.text
    [plan] = response.json()["plans"]
    return str(plan["plan_id"])


async def test_every_plan_outcome_is_told_once_and_only_by_the_notifier(
    stack: E2EStack, hook: LocalHttpServer
) -> None:
    dry = await plan_of(stack, AUTO, AUTO_TARGETS, execute=False)
    await stack.wait_status(dry, "dry_run")
    expiring = await plan_of(stack, MANUAL, MANUAL_TARGETS, execute=True)
    await stack.wait_status(expiring, "awaiting_approval")
    auto = await plan_of(stack, AUTO, AUTO_TARGETS, execute=True)
    assert isinstance(await stack.wait_end(auto, 60), PlanCompleted)
    denied = await plan_of(stack, MANUAL, DENIED_TARGETS, execute=True)
    await stack.wait_status(denied, "awaiting_approval")
    approved = await stack.api("POST", f"/api/v1/plans/{denied}/approve")
    assert approved.status_code == 202, approved.text
    rejected = await stack.wait_end(denied, 30)
    assert isinstance(rejected, PlanRejected)
    assert rejected.stage == "risk"
    assert isinstance(await stack.wait_end(expiring, 30), PlanExpired)
    halted = await stack.api("POST", "/api/v1/halt?reason=test%20halt")
    assert halted.status_code == 202

    expected = {
        dry: ["Plan for DU1000001 reported (dry run)"],
        auto: ["Plan for DU1000001 completed"],
        expiring: ["Plan for DU1000002 awaits approval", "Plan for DU1000002 expired"],
        denied: ["Plan for DU1000002 awaits approval", "Plan for DU1000002 rejected (risk)"],
        None: ["Trading halted"],
    }
    total = sum(len(titles) for titles in expected.values())

    async def all_told() -> bool:
        return len(alerts(hook)) >= total

    await eventually(all_told, 20, f"{total} alerts at the webhook", 0.1)

    async def no_more() -> bool:
        return len(alerts(hook)) == total

    await stays(no_more, 2.0, "no further (duplicate) alert")
    told: dict[str | None, list[str]] = {}
    for alert in alerts(hook):
        assert alert["count"] == 1, alert  # nothing collapsed into another either
        told.setdefault(alert["plan_id"], []).append(alert["title"])
    assert {k: sorted(v) for k, v in told.items()} == {k: sorted(v) for k, v in expected.items()}
    assert not Counter(a["title"] for a in alerts(hook) if a["plan_id"] is None) - Counter(
        expected[None]
    )
    # The executor sent no alert of its own: its decisions are events on events.plans.v1.
    from_executor = [m for m in await stack.messages(catalogue.ALERTS) if m.source == "executor"]
    assert from_executor == []
