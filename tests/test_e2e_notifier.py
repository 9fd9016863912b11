"""End to end through the notifier: a user's trigger (Redis PUBLISH, HTTP API) over the real
stack as processes (Redis, emulator, bridge, planner, executor, notifier) down to the orders
on the emulator; failing allocation sources and alert destinations.

Local HTTP servers stand in for the allocation API and the alert webhook: they answer what a
test tells them and keep every request they got.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.http import LocalHttpServer, Route
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.alerts import SendAlert
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import Message
from shared.contracts.order_commands import SubmitOrder
from shared.contracts.orders import OrderAccepted, OrderEvent, OrderFilled
from shared.contracts.plans import (
    PlanApproved,
    PlanCompleted,
    PlanDryRunReported,
    PlanExecutionStarted,
    PlanProposed,
    PlanRejected,
)
from shared.contracts.triggers import RequestRebalance
from shared.rebalancing.ids import plan_id_for

AUTO, FAILING, INVALID = "DU1000001", "DU1000002", "DU1000003"
# DU1000001 holds SPY, BND, VXUS, GLD (+25k cash) on the emulator: 60/40 SPY/BND sells two
# holdings and adjusts two, a small plan that still has sells and buys.
TARGETS = [{"symbol": "SPY", "allocation": 0.6}, {"symbol": "BND", "allocation": 0.4}]
PLANNING = {"drift_band_abs_pct": "0.5", "min_order_value": "50"}


@pytest.fixture
def http() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer(
        routes={
            "/hook-ok": Route([(200, b"{}")]),
            "/hook-500": Route([(500, b'{"error":"down"}')]),
            "/alloc-500": Route([(500, b'{"error":"internal"}')]),
            "/alloc-invalid": Route([(200, b"<html>maintenance</html>")]),
        }
    ).start()
    yield server
    server.stop()


StackFactory = Callable[[str], Awaitable[E2EStack]]


@pytest.fixture
async def make_stack(tmp_path: Path, http: LocalHttpServer) -> AsyncIterator[StackFactory]:
    """Start the whole stack with the notifier; its alert webhook is ``http``'s ``hook``."""
    started: list[E2EStack] = []

    async def make(hook: str) -> E2EStack:
        accounts = accounts_file(
            DU1000001={"approval": "auto", "planning": PLANNING},
            DU1000002={
                "approval": "auto",
                "allocation": {"url": f"{http.url}/alloc-500", "retries": 1, "timeout_s": 2},
            },
            DU1000003={
                "approval": "auto",
                "allocation": {"url": f"{http.url}/alloc-invalid", "retries": 0},
            },
        )
        stack = E2EStack(
            tmp_path,
            accounts,
            notifier=True,
            notifier_env={"NOTIFIER_ALERT_WEBHOOK_URLS": f"{http.url}{hook}"},
        )
        started.append(stack)
        return await stack.start()

    yield make
    for stack in started:
        await stack.stop()


async def allocation_of(stack: E2EStack, correlation_id: str) -> TargetAllocationSet:
    """The TargetAllocationSet the notifier published for one trigger."""

    async def found() -> TargetAllocationSet | None:
        return next(
            (
                m
                for m in await stack.messages(catalogue.ALLOCATIONS)
                if isinstance(m, TargetAllocationSet) and m.correlation_id == correlation_id
            ),
            None,
        )

    return await eventually(found, 20, f"the TargetAllocationSet of {correlation_id}", 0.1)


async def request_of(stack: E2EStack, trigger_id: str) -> RequestRebalance:
    """The RequestRebalance the notifier published for a Redis trigger with this ``id``."""

    async def found() -> RequestRebalance | None:
        return next(
            (
                m
                for m in await stack.messages(catalogue.TRIGGERS)
                if isinstance(m, RequestRebalance) and m.trigger_id == trigger_id
            ),
            None,
        )

    return await eventually(found, 20, f"the RequestRebalance of trigger {trigger_id}", 0.1)


async def metric(stack: E2EStack, sample: str) -> float:
    """The value of one sample line of the notifier's /metrics (0 when absent)."""
    for line in (await stack.metrics_text("notifier")).splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def plan_order_refs(orders: list[dict[str, Any]], plan_id: str) -> list[str]:
    refs = [str(o["order_ref"]) for o in orders]
    assert all(re.fullmatch(rf"{re.escape(plan_id)}\.\d+\.\d+", r) for r in refs), refs
    return refs


async def test_redis_trigger_for_an_auto_account_trades_and_every_hop_keeps_the_correlation_id(
    make_stack: StackFactory, http: LocalHttpServer
) -> None:
    stack = await make_stack("/hook-ok")
    trigger = {"id": "t-auto", "account_id": AUTO, "execution": "rebalance", "targets": TARGETS}
    assert await stack.publish_trigger(trigger) == 1  # the notifier is subscribed

    request = await request_of(stack, "t-auto")
    correlation = request.correlation_id
    assert correlation == request.message_id
    allocation = await allocation_of(stack, correlation)
    plan_id = plan_id_for(allocation.allocation_id, AUTO)
    end = await stack.wait_end(plan_id, 60)
    assert isinstance(end, PlanCompleted), end
    kinds = [type(m).__name__ for m in await stack.plan_events(plan_id)]
    assert kinds == ["PlanProposed", "PlanApproved", "PlanExecutionStarted", "PlanCompleted"]

    orders = await stack.ib_orders()
    refs = plan_order_refs(orders, plan_id)
    assert len(refs) == len(end.legs) > 0
    assert {o["account"] for o in orders} == {AUTO}

    # The humans were told through the webhook, and the delivery counted as sent.
    async def told() -> bool:
        return any(AUTO in body.decode() for body in http.got("/hook-ok"))

    await eventually(told, 15, "the webhook to receive an alert about the plan", 0.1)
    sent = 'rebalancer_alerts_sent_total{destination="webhook",outcome="sent"}'
    assert await eventually(lambda: metric(stack, sent), 10, "a sent alert counted", 0.1) >= 1

    # Trace: the trigger's correlation id on every hop down to the orders sent ...
    traced = await stack.correlated(correlation)
    kinds_by_stream: dict[str, set[type[Message]]] = {}
    for stream, message in traced:
        kinds_by_stream.setdefault(stream, set()).add(type(message))
    expected = {
        catalogue.TRIGGERS.name: {RequestRebalance},
        catalogue.ALLOCATIONS.name: {TargetAllocationSet},
        catalogue.PLANS.name: {PlanProposed, PlanApproved, PlanExecutionStarted, PlanCompleted},
        catalogue.ORDER_COMMANDS.name: {SubmitOrder},
    }
    for stream, kinds_expected in expected.items():
        missing = kinds_expected - kinds_by_stream.get(stream, set())
        assert not missing, f"{stream}: no {sorted(k.__name__ for k in missing)} carries it"
    for spec in (catalogue.PLANS, catalogue.ORDER_COMMANDS):
        for message in await stack.messages(spec):
            if getattr(message, "plan_id", None) == plan_id:
                assert message.correlation_id == correlation, (spec.name, message)
    submits = [m for _, m in traced if isinstance(m, SubmitOrder)]
    assert sorted(m.client_order_id for m in submits) == sorted(refs)

    # ... and on the order events, which the gateway-bridge builds from IB's callbacks.
    order_events = [
        m
        for m in await stack.messages(catalogue.ORDERS)
        if isinstance(m, OrderEvent) and m.client_order_id.startswith(plan_id + ".")
    ]
    assert {OrderAccepted, OrderFilled} <= {type(m) for m in order_events}
    dropped = sorted({type(m).__name__ for m in order_events if m.correlation_id != correlation})
    assert dropped == [], f"order events without the trigger's correlation_id: {dropped}"


async def test_dry_runs_from_redis_and_http_make_plans_and_send_no_order(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack("/hook-ok")
    await stack.publish_trigger({"id": "t-absent", "account_id": AUTO, "targets": TARGETS})
    await stack.publish_trigger(
        {"id": "t-dry", "account_id": AUTO, "execution": "dry_run", "targets": TARGETS}
    )
    response = await stack.api(
        "POST", f"/api/v1/rebalance?account={AUTO}&execute=false&wait=true", body=TARGETS
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "planned"
    assert answer["execution"] == "dry_run"
    [plan] = answer["plans"]
    assert plan["account_id"] == AUTO
    assert plan["status"] == "dry_run"  # the answer waits (bounded) for the executor's decision
    assert plan["why"] == "the trigger asked for a dry run"
    assert plan["execution"] == "dry_run"
    # The trades themselves, as the CLI shows them: the legs, the drift table, the summary.
    assert plan["leg_count"] == len(plan["legs"]) > 0
    for leg in plan["legs"]:
        assert leg["side"] in ("BUY", "SELL")
        assert Decimal(leg["quantity"]) > 0
        value = Decimal(leg["quantity"]) * Decimal(leg["estimated_price"])
        assert abs(Decimal(leg["estimated_value"]) - value) <= Decimal("0.01")
    assert {"SPY", "BND"} <= {row["symbol"] for row in plan["drift"]}
    assert {leg["symbol"] for leg in plan["legs"]} <= {row["symbol"] for row in plan["drift"]}
    assert Decimal(plan["summary"]["net_liquidation"]) > 0
    assert isinstance(plan["warnings"], list)
    assert plan["correlation_id"] == answer["correlation_id"] == answer["request_id"]

    plan_ids = [plan["plan_id"]]
    for trigger_id in ("t-absent", "t-dry"):
        request = await request_of(stack, trigger_id)
        allocation = await allocation_of(stack, request.correlation_id or "")
        assert allocation.execution.value == "dry_run"
        plan_ids.append(plan_id_for(allocation.allocation_id, AUTO))
    for plan_id in plan_ids:
        await stack.wait_status(plan_id, "dry_run")
        proposed = await stack.wait_event(plan_id, (PlanProposed,))
        assert proposed.execution.value == "dry_run"
        kinds = [type(m) for m in await stack.plan_events(plan_id)]
        assert kinds == [PlanProposed, PlanDryRunReported]
    assert await stack.messages(catalogue.ORDER_COMMANDS) == []
    assert await stack.ib_orders() == []


async def test_failing_allocation_sources_alert_and_reject_with_the_reason_and_nothing_else(
    make_stack: StackFactory, http: LocalHttpServer
) -> None:
    stack = await make_stack("/hook-ok")
    # The Redis channel asks to trade with the account's source (HTTP 500 after a retry) ...
    await stack.publish_trigger({"id": "t-500", "account_id": FAILING, "execution": "rebalance"})
    # ... the HTTP API with a source that answers 200 but no JSON.
    response = await stack.api(
        "POST", f"/api/v1/rebalance?account={INVALID}&execute=true&wait=true"
    )
    assert response.status_code == 200, response.text
    [row] = response.json()["plans"]
    assert row["status"] == "rejected"
    assert row["account_id"] == INVALID
    assert row["reasons"][0]["code"] == "invalid_response"

    async def rejections() -> dict[str, PlanRejected] | None:
        found = {
            m.account_id: m
            for m in await stack.messages(catalogue.PLANS)
            if isinstance(m, PlanRejected)
        }
        return found if len(found) == 2 else None

    rejected = await eventually(rejections, 20, "a PlanRejected for both accounts", 0.1)
    failing, invalid = rejected[FAILING], rejected[INVALID]
    assert (failing.stage, failing.source, failing.plan_id) == ("planning", "notifier", None)
    assert failing.reasons[0].code == "source_unreachable"
    assert f"{http.url}/alloc-500" in failing.reasons[0].message
    assert "2 attempt(s): HTTP 500" in failing.reasons[0].message
    assert invalid.reasons[0].code == "invalid_response"
    assert "did not answer JSON" in invalid.reasons[0].message
    assert len(http.got("/alloc-500")) == 2
    assert len(http.got("/alloc-invalid")) == 1

    alerts = [m for m in await stack.messages(catalogue.ALERTS) if isinstance(m, SendAlert)]
    by_account = {a.account_id: a for a in alerts}
    assert set(by_account) == {FAILING, INVALID}
    assert "source_unreachable" in by_account[FAILING].title
    assert by_account[FAILING].text == failing.reasons[0].message
    assert by_account[FAILING].correlation_id == failing.correlation_id

    async def webhook_told() -> bool:
        text = " ".join(body.decode() for body in http.got("/hook-ok"))
        return FAILING in text and INVALID in text and "HTTP 500" in text

    await eventually(webhook_told, 15, "the webhook to receive both alerts", 0.1)

    # Nothing else: no targets, no plan, no order.
    assert await stack.messages(catalogue.ALLOCATIONS) == []
    plans = await stack.messages(catalogue.PLANS)
    assert all(isinstance(m, PlanRejected) for m in plans), plans
    assert await stack.messages(catalogue.ORDER_COMMANDS) == []
    assert await stack.ib_orders() == []


async def test_a_failing_alert_webhook_never_blocks_an_auto_rebalance_and_is_counted(
    make_stack: StackFactory, http: LocalHttpServer
) -> None:
    stack = await make_stack("/hook-500")
    response = await stack.api(
        "POST", f"/api/v1/rebalance?account={AUTO}&execute=true&wait=true", body=TARGETS
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["execution"] == "rebalance"
    [plan] = answer["plans"]
    end = await stack.wait_end(plan["plan_id"], 60)
    assert isinstance(end, PlanCompleted), end
    refs = plan_order_refs(await stack.ib_orders(), plan["plan_id"])
    assert len(refs) == len(end.legs) > 0

    failed = 'rebalancer_alerts_sent_total{destination="webhook",outcome="failed"}'
    assert await eventually(lambda: metric(stack, failed), 20, "a failed alert counted", 0.1) >= 1
    assert http.got("/hook-500"), "the webhook was never even tried"
    body = json.loads(http.got("/hook-500")[0])
    assert {"title", "severity", "text", "alerts"} <= set(body)
