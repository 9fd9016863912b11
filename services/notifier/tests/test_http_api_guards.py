"""The HTTP API's guards over a real socket: what is signed, limits, strict flags, 429, 404."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from notifier.core.signing import sign, sign_http
from rebalancer_testkit.notifier import TOKEN
from rebalancer_testkit.streams import read_stream
from shared.contracts import catalogue

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY = [{"symbol": "QQQ", "allocation": 0.6}, {"symbol": "SPY", "allocation": 0.4}]
SECRET = b"s3cret"


def base(notifier) -> str:
    return f"http://127.0.0.1:{notifier.api_server.port}"


@pytest.fixture
async def api(start_notifier):
    notifier = await start_notifier()
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH, timeout=10) as http:
        yield notifier, http


@pytest.fixture
async def signed_api(start_notifier):
    notifier = await start_notifier(trigger_secret=SECRET.decode())
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH, timeout=10) as http:
        yield notifier, http


def signature(method: str, path: str, query: str, body: bytes) -> dict[str, str]:
    stamp = int(time.time())
    return {
        "X-Rebalancer-Timestamp": str(stamp),
        "X-Rebalancer-Signature": sign_http(SECRET, stamp, method, path, query, body),
    }


async def test_a_body_signed_for_a_dry_run_is_refused_with_execute_true_added(signed_api, client):
    _, http = signed_api
    body = json.dumps(BODY).encode()
    stamp = int(time.time())
    # What a client signed before the query was covered: the timestamp and the body alone.
    body_only = {
        "X-Rebalancer-Timestamp": str(stamp),
        "X-Rebalancer-Signature": sign(SECRET, stamp, body),
    }
    for headers in (body_only, signature("POST", "/api/v1/rebalance", "account=DU111", body)):
        response = await http.post(
            "/api/v1/rebalance?account=DU111&execute=true", content=body, headers=headers
        )
        assert (response.status_code, response.json()["error"]) == (401, "bad_signature")
    assert await read_stream(client, catalogue.TRIGGERS) == []


async def test_a_request_signed_over_method_path_query_and_body_is_accepted(signed_api, client):
    _, http = signed_api
    body = json.dumps(BODY).encode()
    query = "execute=true&account=DU111"
    headers = signature("POST", "/api/v1/rebalance", query, body)
    response = await http.post(f"/api/v1/rebalance?{query}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["execution"] == "rebalance"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/halt?reason=x",
        "/api/v1/resume",
        "/api/v1/plans/p1/approve",
        "/api/v1/plans/p1/cancel",
        "/api/v1/orders",
    ],
)
async def test_operator_commands_must_be_signed_when_a_secret_is_set(signed_api, client, path):
    _, http = signed_api
    response = await http.post(path, json={"symbol": "SPY", "side": "BUY", "quantity": 1})
    assert (response.status_code, response.json()["error"]) == (401, "unsigned")
    assert await read_stream(client, catalogue.PLAN_COMMANDS) == []
    assert await read_stream(client, catalogue.TRIGGERS) == []


async def test_a_signed_halt_is_published(signed_api, client):
    _, http = signed_api
    headers = signature("POST", "/api/v1/halt", "reason=drill", b"")
    response = await http.post("/api/v1/halt?reason=drill", headers=headers)
    assert response.status_code == 202, response.text
    [halt] = await read_stream(client, catalogue.PLAN_COMMANDS)
    assert halt.reason == "drill"


async def test_cancel_of_an_unknown_plan_is_404_and_sends_nothing(api, client):
    _, http = api
    response = await http.post("/api/v1/plans/no-such-plan/cancel")
    assert (response.status_code, response.json()["error"]) == (404, "unknown_plan")
    assert await read_stream(client, catalogue.PLAN_COMMANDS) == []


@pytest.mark.parametrize("value", ["yes", "1", "on", "TRUE", "maybe", ""])
async def test_execute_accepts_only_true_or_false(api, client, value):
    _, http = api
    response = await http.post(f"/api/v1/rebalance?account=DU111&execute={value}", json=BODY)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_execute")
    assert "true or false" in response.json()["message"]
    assert await read_stream(client, catalogue.TRIGGERS) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (json.dumps([{"symbol": "X" * 25, "allocation": 1}]).encode(), "invalid_targets"),
        (b"[" * 5000 + b"]" * 5000, "too_deep"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "too_deep"),
    ],
)
async def test_oversized_symbols_and_deep_json_answer_400_not_500(api, client, body, code):
    _, http = api
    response = await http.post(
        "/api/v1/rebalance?account=DU111",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]) == (400, code), response.text
    assert await read_stream(client, catalogue.TRIGGERS) == []


async def test_deep_json_in_an_order_answers_400(api):
    _, http = api
    response = await http.post(
        "/api/v1/orders", content=b"[" * 5000 + b"]" * 5000,
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (400, "too_deep")


async def test_too_many_requests_answer_429_with_retry_after(start_notifier):
    notifier = await start_notifier(api_rate_per_minute=60, api_rate_burst=3)
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH) as http:
        answers = [await http.get("/api/v1/plans") for _ in range(5)]
        health = await http.get("/health")
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].json()["error"] == "rate_limited"
    assert int(answers[3].headers["retry-after"]) >= 1
    assert health.status_code == 200
