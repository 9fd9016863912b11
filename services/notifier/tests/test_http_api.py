"""The HTTP API over a real socket: auth, rebalance, positions, plans, approve, halt."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from notifier.core.signing import sign_http
from rebalancer_testkit.notifier import TOKEN
from rebalancer_testkit.streams import read_stream
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode, utc_now
from shared.contracts.plan_commands import ApprovePlan, HaltTrading, ResumeTrading
from shared.contracts.plans import (
    BatchSummary,
    PlanAwaitingApproval,
    PlanDryRunReported,
    PlanProposed,
)
from shared.contracts.portfolio import PortfolioUnavailable, PortfolioView
from shared.kit.rpc import send_reply

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY = [
    {"symbol": "QQQ", "allocation": 0.6},
    {"symbol": "SPY", "allocation": 0.3},
    {"symbol": "VIXY", "allocation": 0.1},
]


def base(notifier) -> str:
    return f"http://127.0.0.1:{notifier.api_server.port}"


@pytest.fixture
async def api(start_notifier):
    notifier = await start_notifier()
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH, timeout=10) as http:
        yield notifier, http


async def test_health_needs_no_token_and_the_api_refuses_without_one(start_notifier):
    notifier = await start_notifier(api_token=None)
    async with httpx.AsyncClient(base_url=base(notifier)) as http:
        health = await http.get("/health")
        locked = await http.post("/api/v1/rebalance?account=DU111", json=BODY)
    assert health.status_code == 200
    assert health.json()["ready"] is True
    assert locked.status_code == 503
    assert locked.json()["error"] == "api_token_not_configured"
    assert "NOTIFIER_API_TOKEN" in locked.json()["message"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
async def test_api_refuses_a_missing_or_wrong_bearer_token(api, headers):
    notifier, _ = api
    async with httpx.AsyncClient(base_url=base(notifier), headers=headers) as http:
        for method, path in [
            ("GET", "/api/v1/plans"),
            ("POST", "/api/v1/halt"),
            ("GET", "/api/v1/positions"),
        ]:
            response = await http.request(method, path)
            assert response.status_code == 401, path
            assert response.json()["error"] == "unauthorized"


async def test_interactive_docs_are_served(api):
    _, http = api
    assert (await http.get("/docs")).status_code == 200
    schema = (await http.get("/openapi.json")).json()
    assert "/api/v1/rebalance" in schema["paths"]


async def test_post_rebalance_with_the_reference_body_is_a_dry_run_by_default(api, client):
    _, http = api
    response = await http.post("/api/v1/rebalance", params={"account": "DU111"}, json=BODY)
    assert response.status_code == 202
    answer = response.json()
    assert answer["execution"] == "dry_run"
    assert answer["accounts"] == ["DU111"]
    [allocation] = await eventually(lambda: read_stream(client, catalogue.ALLOCATIONS))
    assert allocation.execution is ExecutionMode.DRY_RUN
    assert allocation.correlation_id == answer["request_id"]
    assert sum(t.weight for t in allocation.targets) == Decimal("1.0")


async def test_post_rebalance_execute_true_asks_to_trade(api, client):
    _, http = api
    response = await http.post("/api/v1/rebalance?account=DU111&execute=true", json=BODY)
    assert response.json()["execution"] == "rebalance"
    [allocation] = await eventually(lambda: read_stream(client, catalogue.ALLOCATIONS))
    assert allocation.execution is ExecutionMode.REBALANCE


async def test_post_rebalance_accepts_the_trigger_object_form(api, client):
    _, http = api
    response = await http.post(
        "/api/v1/rebalance", json={"group": "family", "execution": "rebalance", "targets": BODY}
    )
    assert response.status_code == 202
    assert sorted(response.json()["accounts"]) == ["DU111", "DU222"]


@pytest.mark.parametrize(
    ("query", "body", "status", "code"),
    [
        ("account=DU111", b"{nope", 400, "malformed_json"),
        ("account=DU999", json.dumps(BODY).encode(), 404, "unknown_account"),
        ("group=nobody", json.dumps(BODY).encode(), 404, "unknown_group"),
        ("account=DU333", json.dumps(BODY).encode(), 403, "channel_not_allowed"),
        ("", json.dumps(BODY).encode(), 400, "account_required"),
        ("account=DU111", json.dumps(BODY[:1]).encode(), 400, "weights_sum"),
        ("account=DU111", json.dumps([{"symbol": "QQQ"}]).encode(), 400, "invalid_targets"),
        ("account=DU111", json.dumps("QQQ").encode(), 400, "invalid_trigger"),
        ("account=DU111", b"[" + b" " * 70_000 + b"]", 413, "body_too_large"),
        ("account=DU111&execute=maybe", json.dumps(BODY).encode(), 400, "invalid_execute"),
    ],
)
async def test_bad_rebalance_requests_get_a_json_error_and_never_reach_the_planner(
    api, client, query, body, status, code
):
    _notifier, http = api
    response = await http.post(
        f"/api/v1/rebalance?{query}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert await read_stream(client, catalogue.TRIGGERS) == []


async def test_signed_http_trigger_is_accepted_and_unsigned_or_replayed_refused(
    start_notifier, client
):
    notifier = await start_notifier(trigger_secret="s3cret")
    body = json.dumps(BODY).encode()
    stamp = int(time.time())
    signature = {
        "X-Rebalancer-Timestamp": str(stamp),
        "X-Rebalancer-Signature": sign_http(
            b"s3cret", stamp, "POST", "/api/v1/rebalance", "account=DU111", body
        ),
    }
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH) as http:
        url = "/api/v1/rebalance?account=DU111"
        unsigned = await http.post(url, content=body)
        accepted = await http.post(url, content=body, headers=signature)
        replayed = await http.post(url, content=body, headers=signature)
        tampered = await http.post(
            url + "&execute=true", content=body.replace(b"0.6", b"0.7"), headers=signature
        )
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "unsigned")
    assert accepted.status_code == 202
    assert (replayed.status_code, replayed.json()["error"]) == (409, "replayed")
    assert (tampered.status_code, tampered.json()["error"]) == (401, "bad_signature")
    assert len(await read_stream(client, catalogue.TRIGGERS)) == 1


async def fake_planner(client, publisher) -> None:
    """A stand-in planner peer: proposes an empty plan for each TargetAllocationSet."""
    last = "0"
    while True:
        answer = await client.xread({catalogue.ALLOCATIONS.name: last}, block=200)
        for _, entries in answer or []:
            for entry_id, _ in entries:
                last = entry_id
        for allocation in await read_stream(client, catalogue.ALLOCATIONS):
            plan_id = "plan-" + allocation.allocation_id[:8]
            if await client.set(f"fake-planner:{plan_id}", 1, nx=True):
                await publisher.publish(
                    PlanProposed(
                        source="planner",
                        correlation_id=allocation.correlation_id,
                        plan_id=plan_id,
                        account_id=allocation.account_ids[0],
                        allocation_id=allocation.allocation_id,
                        execution=allocation.execution,
                        legs=(),
                        drift=(),
                        summary=BatchSummary(
                            net_liquidation=Decimal(1000),
                            cash_before=Decimal(0),
                            cash_after=Decimal(0),
                            gross_buy=Decimal(0),
                            gross_sell=Decimal(0),
                            pre_gross_exposure=Decimal(0),
                            post_gross_exposure=Decimal(0),
                            pre_leverage=Decimal(1),
                            post_leverage=Decimal(1),
                            turnover_pct=Decimal(0),
                            estimated_commissions=Decimal(0),
                        ),
                        valid_until=utc_now() + timedelta(minutes=15),
                    )
                )


@contextlib.asynccontextmanager
async def running(coro):
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_wait_true_returns_the_proposed_plan_which_can_be_listed_and_approved(api, client):
    notifier, http = api
    async with running(fake_planner(client, notifier.service.publisher)):
        response = await http.post(
            "/api/v1/rebalance?account=DU111&wait=true&timeout_s=5", json=BODY
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "planned"
    [plan] = answer["plans"]
    assert plan["status"] == "proposed"
    assert plan["correlation_id"] == answer["request_id"]

    listed = (await http.get("/api/v1/plans", params={"account": "DU111"})).json()["plans"]
    assert [p["plan_id"] for p in listed] == [plan["plan_id"]]
    assert (await http.get(f"/api/v1/plans/{plan['plan_id']}")).json()["status"] == "proposed"
    assert (await http.get("/api/v1/plans/nope")).status_code == 404

    # The executor has not decided yet: an approval now would be lost, so it is refused.
    early = await http.post(f"/api/v1/plans/{plan['plan_id']}/approve")
    assert early.status_code == 409
    assert early.json()["error"] == "not_awaiting_approval"
    assert "not decided" in early.json()["message"]

    await notifier.service.publish(awaiting(plan["plan_id"], answer["request_id"]))
    await eventually(lambda: _status_is(http, plan["plan_id"], "awaiting_approval"))
    approved = await http.post(f"/api/v1/plans/{plan['plan_id']}/approve")
    assert approved.status_code == 202
    [command] = await eventually(lambda: read_stream(client, catalogue.PLAN_COMMANDS))
    assert isinstance(command, ApprovePlan)
    assert command.plan_id == plan["plan_id"]
    assert command.correlation_id == answer["request_id"]


def awaiting(plan_id: str, correlation_id: str) -> PlanAwaitingApproval:
    return PlanAwaitingApproval(
        source="executor",
        correlation_id=correlation_id,
        plan_id=plan_id,
        account_id="DU111",
        valid_until=utc_now() + timedelta(minutes=15),
    )


async def _status_is(http, plan_id: str, status: str) -> bool:
    return (await http.get(f"/api/v1/plans/{plan_id}")).json()["status"] == status


async def test_a_dry_run_plan_shows_dry_run_and_an_approval_of_it_is_refused(api, client):
    notifier, http = api
    async with running(fake_planner(client, notifier.service.publisher)):
        response = await http.post("/api/v1/rebalance?account=DU111&wait=true", json=BODY)
    [plan] = response.json()["plans"]
    await notifier.service.publish(
        PlanDryRunReported(
            source="executor",
            plan_id=plan["plan_id"],
            account_id="DU111",
            why="the trigger asked for a dry run",
            report_paths=("/reports/rebalance_pre_DU111_x.csv",),
        )
    )
    shown = await eventually(lambda: _status_is(http, plan["plan_id"], "dry_run"))
    assert shown
    view = (await http.get(f"/api/v1/plans/{plan['plan_id']}")).json()
    assert view["why"] == "the trigger asked for a dry run"
    assert view["report_paths"] == ["/reports/rebalance_pre_DU111_x.csv"]
    assert view["history"] == ["proposed", "dry_run"]
    refused = await http.post(f"/api/v1/plans/{plan['plan_id']}/approve")
    assert refused.status_code == 409
    assert refused.json()["message"].startswith(f"plan {plan['plan_id']} is dry_run")
    assert "--execute" in refused.json()["message"]
    assert await read_stream(client, catalogue.PLAN_COMMANDS) == []


async def test_wait_true_returns_the_rejection_when_the_source_fails(start_notifier, client):
    from rebalancer_testkit.notifier import make_accounts

    notifier = await start_notifier(make_accounts({"id": "DU111"}))
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH) as http:
        response = await http.post("/api/v1/rebalance?wait=true&timeout_s=5")
    assert response.status_code == 200
    [plan] = response.json()["plans"]
    assert plan["status"] == "rejected"
    assert plan["reasons"][0]["code"] == "no_allocation_source"


async def test_halt_and_resume_publish_commands_to_the_executor(api, client):
    _, http = api
    assert (await http.post("/api/v1/halt", params={"reason": "market chaos"})).status_code == 202
    assert (await http.post("/api/v1/resume")).status_code == 202
    halt, resume = await eventually(
        lambda: _at_least(read_stream(client, catalogue.PLAN_COMMANDS), 2)
    )
    assert isinstance(halt, HaltTrading)
    assert halt.reason == "market chaos"
    assert isinstance(resume, ResumeTrading)


async def _at_least(coro, n):
    found = await coro
    return found if len(found) >= n else None


async def fake_bridge(client, view_for) -> None:
    """A stand-in bridge peer answering rpc.portfolio.v1 with send_reply."""
    seen: set[str] = set()
    while True:
        for request in await read_stream(client, catalogue.PORTFOLIO_RPC):
            if request.message_id not in seen:
                seen.add(request.message_id)
                await send_reply(client, request, view_for(request))
        await asyncio.sleep(0.02)


async def test_positions_come_from_the_bridge(api, client):
    _, http = api

    def view(request):
        return PortfolioView(
            source="gateway-bridge",
            account_id=request.account_id,
            net_liquidation=Decimal("100000.50"),
            total_cash=Decimal("500"),
            positions=(),
            quotes=(),
            positions_as_of=utc_now(),
            account_as_of=utc_now(),
        )

    async with running(fake_bridge(client, view)):
        response = await http.get("/api/v1/positions", params={"account": "DU111"})
    assert response.status_code == 200
    assert response.json()["net_liquidation"] == "100000.50"


async def test_positions_say_why_the_bridge_cannot_answer(api, client):
    _, http = api

    def unavailable(request):
        return PortfolioUnavailable(
            source="gateway-bridge",
            account_id=request.account_id,
            code="gateway_disconnected",
            reason="IB Gateway is not connected",
        )

    async with running(fake_bridge(client, unavailable)):
        response = await http.get("/api/v1/positions?account=DU111")
    assert response.status_code == 503
    assert response.json()["error"] == "portfolio_gateway_disconnected"
    missing = await http.get("/api/v1/positions")
    assert missing.json()["error"] == "account_required"


async def test_positions_time_out_clearly_without_a_bridge(start_notifier):
    notifier = await start_notifier(positions_timeout_s=1)
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH) as http:
        response = await http.get("/api/v1/positions?account=DU111")
    assert response.status_code == 504
    assert response.json()["error"] == "bridge_timeout"
