"""Allocation sources (API over a local HTTP server, CSV, config): targets or a clear no."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from notifier.resolver import allocation_id_of
from rebalancer_testkit.http import Route
from rebalancer_testkit.notifier import closed_port, make_accounts
from rebalancer_testkit.streams import read_stream
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.plans import PlanRejected
from shared.contracts.triggers import RequestRebalance

API_ANSWER = {
    "status": "success",
    "data": {
        "allocations": [
            {"symbol": "EDC", "allocation": 0.2141},
            {"symbol": "QLD", "allocation": 0.1779},
            {"symbol": "QQQ", "allocation": 0.141},
            {"symbol": "BTAL", "allocation": 0.2817},
            {"symbol": "SPXL", "allocation": 0.0368},
            {"symbol": "TQQQ", "allocation": 0.1485},
        ],
        "name": "etf-blend-301-20",
        "strategy_long_name": "ETF Blend 301-20",
        "as_of": None,
    },
}


def answer(**data) -> dict:
    body = json.loads(json.dumps(API_ANSWER))
    body["data"]["as_of"] = utc_now().date().isoformat()
    body["data"].update(data)
    return body


def url_account(url: str, **source) -> dict:
    return {
        "id": "DU111",
        "allocation": {"url": url, "api_key_env": "TEST_ALLOC_KEY", "retries": 2, **source},
    }


def request(**fields) -> RequestRebalance:
    defaults = {"account_ids": ("DU111",), "valid_until": utc_now() + timedelta(minutes=5)}
    return RequestRebalance(source="test", **{**defaults, **fields})


async def outcome(client):
    async def probe():
        allocations = await read_stream(client, catalogue.ALLOCATIONS)
        rejected = [
            m for m in await read_stream(client, catalogue.PLANS) if isinstance(m, PlanRejected)
        ]
        return (allocations, rejected) if allocations or rejected else None

    return await eventually(probe)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    # The environment is an input of the source, not our code: setting it is not a mock.
    monkeypatch.setenv("TEST_ALLOC_KEY", "k-123")


async def test_allocation_api_targets_carry_strategy_and_as_of_and_send_the_key(
    start_notifier, client, http_server
):
    http_server.routes["/alloc"] = Route([(200, answer())])
    notifier = await start_notifier(make_accounts(url_account(http_server.url + "/alloc")))
    req = request(execution="rebalance")
    await notifier.service.publish(req)
    [allocation], rejected = await outcome(client)
    assert rejected == []
    assert allocation.source_kind == "url"
    assert allocation.strategy_name == "ETF Blend 301-20"
    assert allocation.as_of is not None
    assert allocation.allocation_id == allocation_id_of(req.message_id, "DU111")
    assert allocation.correlation_id == req.message_id
    assert [t.symbol for t in allocation.targets][:2] == ["EDC", "QLD"]
    assert http_server.requests[0]["headers"]["authorization"] == "Bearer k-123"


async def test_allocation_api_is_retried_with_backoff_after_a_server_error(
    start_notifier, client, http_server
):
    http_server.routes["/alloc"] = Route([(503, {"error": "busy"}), (200, answer())])
    notifier = await start_notifier(make_accounts(url_account(http_server.url + "/alloc")))
    await notifier.service.publish(request())
    [allocation], _ = await outcome(client)
    assert len(http_server.requests) == 2
    assert allocation.targets


@pytest.mark.parametrize(
    ("route", "code"),
    [
        (Route([(200, {"status": "error", "message": "maintenance"})]), "source_status"),
        (Route([(200, {"status": "success", "data": {}})]), "invalid_response"),
        (Route([(200, b"<html>oops</html>")]), "invalid_response"),
        (Route([(401, {"error": "bad key"})]), "source_http_error"),
        (Route([(500, {})]), "source_unreachable"),
        (Route([(200, "__stale__")]), "stale_allocation"),
        (
            Route([(200, "__bad_sum__")]),
            "weights_sum",
        ),
    ],
)
async def test_failing_allocation_source_gives_an_alert_and_a_rejection_never_targets(
    start_notifier, client, http_server, route, code
):
    status, body = route.answers[0]
    if body == "__stale__":
        route.answers[0] = (status, answer(as_of="2020-01-01"))
    elif body == "__bad_sum__":
        route.answers[0] = (status, answer(allocations=[{"symbol": "QQQ", "allocation": 0.7}]))
    http_server.routes["/alloc"] = route
    notifier = await start_notifier(make_accounts(url_account(http_server.url + "/alloc")))
    req = request(execution="rebalance")
    await notifier.service.publish(req)
    allocations, [rejected] = await outcome(client)
    assert allocations == []
    assert rejected.reasons[0].code == code
    assert rejected.stage == "planning"
    assert rejected.correlation_id == req.message_id
    [alert] = await eventually(lambda: read_stream(client, catalogue.ALERTS))
    assert code in alert.title
    assert alert.account_id == "DU111"


async def test_unreachable_allocation_api_is_a_clear_rejection(start_notifier, client):
    url = f"http://127.0.0.1:{closed_port()}/alloc"
    notifier = await start_notifier(make_accounts(url_account(url, timeout_s=1)))
    await notifier.service.publish(request())
    _, [rejected] = await outcome(client)
    assert rejected.reasons[0].code == "source_unreachable"
    assert "3 attempt(s)" in rejected.reasons[0].message


async def test_missing_api_key_variable_is_a_clear_rejection(
    start_notifier, client, http_server, monkeypatch
):
    monkeypatch.delenv("TEST_ALLOC_KEY")
    http_server.routes["/alloc"] = Route([(200, answer())])
    notifier = await start_notifier(make_accounts(url_account(http_server.url + "/alloc")))
    await notifier.service.publish(request())
    _, [rejected] = await outcome(client)
    assert rejected.reasons[0].code == "missing_api_key"
    assert http_server.requests == []


async def test_portfolio_csv_blank_cells_mean_zero(start_notifier, client, tmp_path):
    csv = tmp_path / "portfolio.csv"
    csv.write_text("symbol,weight,note\nVTI,0.7,core\nBND,0.3,\nGLD,,sell it\n")
    notifier = await start_notifier(make_accounts({"id": "DU111", "allocation": {"csv": str(csv)}}))
    await notifier.service.publish(request())
    [allocation], _ = await outcome(client)
    assert allocation.source_kind == "csv"
    assert [(t.symbol, str(t.weight)) for t in allocation.targets] == [
        ("VTI", "0.7"),
        ("BND", "0.3"),
        ("GLD", "0"),
    ]


async def test_inline_trigger_targets_win_over_the_account_source(start_notifier, client, tmp_path):
    notifier = await start_notifier(
        make_accounts({"id": "DU111", "allocation": {"targets": [{"symbol": "VTI", "weight": 1}]}})
    )
    await notifier.service.publish(request())
    [from_config], _ = await outcome(client)
    assert from_config.source_kind == "config"
    inline = request(targets=({"symbol": "BND", "allocation": 1},))
    await notifier.service.publish(inline)
    found = await eventually(lambda: _at_least(read_stream(client, catalogue.ALLOCATIONS), 2))
    assert found[1].source_kind == "inline"
    assert found[1].targets[0].symbol == "BND"


async def _at_least(coro, n):
    found = await coro
    return found if len(found) >= n else None


async def test_account_without_source_or_inline_targets_is_rejected(start_notifier, client):
    notifier = await start_notifier(make_accounts({"id": "DU111"}))
    await notifier.service.publish(request())
    _, [rejected] = await outcome(client)
    assert rejected.reasons[0].code == "no_allocation_source"


async def test_expired_request_is_refused_not_resolved(start_notifier, client):
    notifier = await start_notifier()
    await notifier.service.publish(
        request(
            targets=({"symbol": "BND", "allocation": 1},),
            valid_until=utc_now() - timedelta(seconds=1),
        )
    )
    allocations, [rejected] = await outcome(client)
    assert allocations == []
    assert rejected.reasons[0].code == "trigger_expired"


async def test_redelivered_request_is_resolved_once(start_notifier, client):
    notifier = await start_notifier()
    req = request(targets=({"symbol": "BND", "allocation": 1},))
    await notifier.service.publish(req)
    await notifier.service.publish(req)  # the same message again, as a redelivery would be
    await eventually(lambda: read_stream(client, catalogue.ALLOCATIONS))
    await eventually(
        lambda: _value(
            notifier.service.metrics.registry.get_sample_value(
                "rebalancer_rebalance_requests_total", {"outcome": "duplicate"}
            )
        )
    )
    assert len(await read_stream(client, catalogue.ALLOCATIONS)) == 1


async def _value(v):
    return v


async def test_cli_request_for_unknown_account_is_rejected_by_the_consumer(start_notifier, client):
    notifier = await start_notifier()
    await notifier.service.publish(request(account_ids=("DU999",)))
    _, [rejected] = await outcome(client)
    assert rejected.account_id == "DU999"
    assert rejected.reasons[0].code == "unknown_account"
