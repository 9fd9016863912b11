"""Alerts out: webhook receivers on a local HTTP server; bursts, failures, gateway outages."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from rebalancer_testkit.fake_ably import FakeAbly
from rebalancer_testkit.http import Route
from rebalancer_testkit.notifier import closed_port, make_accounts, metric
from rebalancer_testkit.waiting import eventually
from shared.contracts.alerts import SendAlert
from shared.contracts.base import Reason, utc_now
from shared.contracts.gateway import GatewayConnected, GatewayDisconnected
from shared.contracts.plan_commands import HaltTrading
from shared.contracts.plans import (
    BatchSummary,
    PlanAwaitingApproval,
    PlanDryRunReported,
    PlanFailed,
    PlanProposed,
    PlanRejected,
)


def alert(title: str = "Something happened", **fields) -> SendAlert:
    return SendAlert(
        source="test",
        valid_until=utc_now() + timedelta(minutes=5),
        title=title,
        text="details",
        **fields,
    )


def received(server, path):
    async def probe():
        return server.bodies(path)

    return probe


async def test_send_alert_reaches_generic_slack_telegram_and_ntfy(start_notifier, http_server):
    for path in ("/hook", "/slack", "/botTOKEN/sendMessage", "/ntfy"):
        http_server.routes[path] = Route([(200, {"ok": True})])
    url = http_server.url
    notifier = await start_notifier(
        alert_webhook_urls=[url + "/hook"],
        alert_slack_webhook_url=url + "/slack",
        alert_telegram_bot_token="TOKEN",
        alert_telegram_chat_id="42",
        alert_telegram_api_url=url,
        alert_ntfy_url=url + "/ntfy",
    )
    await notifier.service.publish(alert("Disk on fire", severity="critical", account_id="DU111"))
    [generic] = await eventually(received(http_server, "/hook"))
    assert generic["alerts"][0]["title"] == "Disk on fire"
    assert generic["severity"] == "critical"
    [slack] = await eventually(received(http_server, "/slack"))
    assert "Disk on fire" in slack["text"]
    [telegram] = await eventually(received(http_server, "/botTOKEN/sendMessage"))
    assert telegram["chat_id"] == "42"
    ntfy = await eventually(lambda: _requests(http_server, "/ntfy"))
    assert ntfy[0]["headers"]["title"] == "Disk on fire"
    assert ntfy[0]["headers"]["priority"] == "5"


async def _requests(server, path):
    return [r for r in server.requests if r["path"] == path]


async def test_a_burst_of_alerts_is_batched_and_collapsed(start_notifier, http_server):
    http_server.routes["/hook"] = Route([(200, {})])
    notifier = await start_notifier(
        alert_webhook_urls=[http_server.url + "/hook"], alert_batch_window_s=0.3
    )
    for _ in range(10):
        await notifier.service.publish(alert("Same thing", dedupe_key="same"))
    await notifier.service.publish(alert("Other thing"))
    [batch] = await eventually(received(http_server, "/hook"))
    await asyncio.sleep(0.3)
    assert len(http_server.bodies("/hook")) == 1
    assert [(a["title"], a["count"]) for a in batch["alerts"]] == [
        ("Same thing", 10),
        ("Other thing", 1),
    ]


async def test_rate_limit_spaces_sends_and_later_alerts_join_one_batch(start_notifier, http_server):
    http_server.routes["/hook"] = Route([(200, {})])
    notifier = await start_notifier(
        alert_webhook_urls=[http_server.url + "/hook"],
        alert_rate_per_minute=60,
        alert_batch_window_s=0,
    )
    await notifier.service.publish(alert("first"))
    await eventually(received(http_server, "/hook"))
    await notifier.service.publish(alert("second"))
    await notifier.service.publish(alert("third"))
    batches = await eventually(lambda: _at_least(received(http_server, "/hook")(), 2), within=5)
    assert [a["title"] for a in batches[1]["alerts"]] == ["second", "third"]


async def _at_least(coro, n):
    found = await coro
    return found if len(found) >= n else None


async def test_failing_destination_is_retried_then_reported_elsewhere_without_blocking(
    start_notifier, http_server
):
    http_server.routes["/good"] = Route([(200, {})])
    http_server.routes["/flaky"] = Route([(503, {}), (200, {})])
    dead = f"http://127.0.0.1:{closed_port()}/dead"
    notifier = await start_notifier(
        alert_webhook_urls=[dead, http_server.url + "/good", http_server.url + "/flaky"],
        alert_retries=2,
    )
    await notifier.service.publish(alert("Important"))
    good = await eventually(lambda: _at_least(received(http_server, "/good")(), 2))
    titles = [a["title"] for batch in good for a in batch["alerts"]]
    assert titles == ["Important", "Alert destination webhook is failing"]
    flaky = await eventually(received(http_server, "/flaky"))
    assert flaky[0]["alerts"][0]["title"] == "Important"  # after one retry
    assert (
        metric(notifier, "rebalancer_alerts_sent_total", destination="webhook", outcome="failed")
        == 1
    )
    assert (
        metric(notifier, "rebalancer_alerts_sent_total", destination="webhook2", outcome="sent")
        >= 1
    )


def summary() -> BatchSummary:
    zero = Decimal(0)
    return BatchSummary(
        net_liquidation=Decimal(1000),
        cash_before=zero,
        cash_after=zero,
        gross_buy=zero,
        gross_sell=zero,
        pre_gross_exposure=zero,
        post_gross_exposure=zero,
        pre_leverage=Decimal(1),
        post_leverage=Decimal(1),
        turnover_pct=Decimal("12.5"),
        estimated_commissions=zero,
    )


async def test_plan_events_worth_telling_become_alerts(start_notifier, http_server):
    http_server.routes["/hook"] = Route([(200, {})])
    accounts = make_accounts({"id": "DU111", "approval": "manual"}, {"id": "DU222"})
    notifier = await start_notifier(accounts, alert_webhook_urls=[http_server.url + "/hook"])
    publish = notifier.service.publish
    until = utc_now() + timedelta(minutes=15)
    # A proposal is not an outcome: the executor's decision about it is.
    await publish(
        PlanProposed(
            source="planner", plan_id="p1", account_id="DU111", allocation_id="a1",
            execution="rebalance", legs=(), drift=(), summary=summary(), valid_until=until,
        )
    )  # fmt: skip
    await publish(
        PlanAwaitingApproval(
            source="executor", plan_id="p1", account_id="DU111", valid_until=until, leg_count=3
        )
    )
    await publish(
        PlanDryRunReported(
            source="executor",
            plan_id="p3",
            account_id="DU222",
            why="the trigger asked for a dry run",
        )
    )
    reason = Reason(code="weights_sum", message="weights sum to 0.9")
    await publish(PlanRejected(source="planner", account_id="DU222", reasons=(reason,)))
    await publish(PlanRejected(source="notifier", account_id="DU222", reasons=(reason,)))
    await publish(
        PlanFailed(source="executor", plan_id="p2", account_id="DU222", reasons=(reason,))
    )
    await publish(
        HaltTrading(source="cli", valid_until=utc_now() + timedelta(minutes=1), reason="panic")
    )
    found = await eventually(lambda: _titles_at_least(http_server, 5), within=5)
    assert sorted(found) == sorted(
        [
            "Plan for DU111 awaits approval",
            "Plan for DU222 reported (dry run)",
            "Plan for DU222 rejected (planning)",
            "Plan for DU222 failed",
            "Trading halted",
        ]
    )
    awaiting = next(
        a for b in http_server.bodies("/hook") for a in b["alerts"] if "awaits" in a["title"]
    )
    assert "rebalancer approve p1" in awaiting["text"]


async def _titles_at_least(server, n):
    titles = [a["title"] for batch in server.bodies("/hook") for a in batch["alerts"]]
    return titles if len(titles) >= n else None


async def test_gateway_down_longer_than_threshold_alerts_once_and_recovery_is_told(
    start_notifier, http_server
):
    http_server.routes["/hook"] = Route([(200, {})])
    notifier = await start_notifier(
        alert_webhook_urls=[http_server.url + "/hook"], gateway_down_alert_after_s=1
    )
    await notifier.service.publish(
        GatewayDisconnected(source="gateway-bridge", reason="socket closed")
    )
    titles = await eventually(lambda: _titles_at_least(http_server, 1), within=5)
    assert titles == ["Gateway disconnected"]
    await notifier.alerts.check_gateway_down()  # a second check (or replica) does not repeat it
    await notifier.service.publish(
        GatewayConnected(source="gateway-bridge", host="127.0.0.1", port=4002, client_id=1)
    )
    titles = await eventually(lambda: _titles_at_least(http_server, 2), within=5)
    assert titles == ["Gateway disconnected", "Gateway connection restored"]


async def test_short_gateway_blip_is_not_alerted(start_notifier, http_server):
    http_server.routes["/hook"] = Route([(200, {})])
    notifier = await start_notifier(
        alert_webhook_urls=[http_server.url + "/hook"], gateway_down_alert_after_s=60
    )
    await notifier.service.publish(GatewayDisconnected(source="gateway-bridge", reason="blip"))
    await notifier.service.publish(
        GatewayConnected(source="gateway-bridge", host="127.0.0.1", port=4002, client_id=1)
    )
    await notifier.service.publish(alert("marker"))
    titles = await eventually(lambda: _titles_at_least(http_server, 1))
    assert titles == ["marker"]


async def test_alerts_go_to_global_and_per_account_ably_channels(start_notifier):
    ably = FakeAbly()
    notifier = await start_notifier(
        ably=ably, alert_ably_channel="ops-alerts", alert_ably_account_channel="alerts:{account_id}"
    )
    await notifier.service.publish(alert("For DU111", account_id="DU111"))
    await eventually(lambda: _published_at_least(ably, 2))
    assert sorted(channel for channel, _, _ in ably.published) == ["alerts:DU111", "ops-alerts"]


async def _published_at_least(ably, n):
    return ably.published if len(ably.published) >= n else None


async def test_an_alert_repeated_over_a_window_is_told_once_then_once_more_with_its_count(
    start_notifier, http_server
):
    """A flood spread over time (1,000 symbols: 1,000 gateway errors) used to send one batch
    every few seconds; now the first goes out at once and the repeats as one, counted."""
    http_server.routes["/hook"] = Route([(200, {})])
    notifier = await start_notifier(
        alert_webhook_urls=[http_server.url + "/hook"],
        alert_batch_window_s=0,
        alert_rate_per_minute=6000,
        alert_repeat_window_s=3,
    )
    for _ in range(12):
        await notifier.service.publish(
            alert("No security definition", dedupe_key="gateway_error:200")
        )
        await asyncio.sleep(0.05)
    await notifier.service.publish(alert("Other thing"))
    batches = await eventually(lambda: _at_least(received(http_server, "/hook")(), 3), within=10)
    await asyncio.sleep(0.5)
    told = [(a["title"], a["count"]) for b in http_server.bodies("/hook") for a in b["alerts"]]
    assert told == [
        ("No security definition", 1),
        ("Other thing", 1),
        ("No security definition", 11),
    ]
    assert "repeated 11 times" in batches[2]["alerts"][0]["text"]
