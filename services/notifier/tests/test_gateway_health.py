"""The IB connection in the notifier: public /health and GET /api/v1/health show the bridge's
GatewayStatus; the weekly window refuses triggers with the next opening; 2FA prompts are
alerted (again on a retry); expected outages (daily restart, window) stay quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from rebalancer_testkit.http import Route
from rebalancer_testkit.notifier import TOKEN
from rebalancer_testkit.waiting import eventually
from shared.contracts.base import utc_now
from shared.contracts.gateway import (
    GatewayConnected,
    GatewayDisconnected,
    GatewayStatus,
    SecondFactorRequested,
)
from shared.ib_gateway import WeeklyWindow

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY = [{"symbol": "SPY", "allocation": 1.0}]


def base(notifier) -> str:
    assert notifier.api_server is not None
    return f"http://127.0.0.1:{notifier.api_server.port}"


def status(**fields) -> GatewayStatus:
    values = {
        "source": "gateway-bridge",
        "host": "127.0.0.1",
        "port": 4002,
        "client_id": 17,
        "connected": True,
        "reconciled": True,
        "since": utc_now() - timedelta(minutes=5),
        "server_version": 178,
        "accounts": ("DU1000001", "U2000002"),
        "live_accounts": ("U2000002",),
        "last_connectivity_code": 1102,
        "last_connectivity_at": utc_now() - timedelta(minutes=1),
        "heartbeat_age_s": Decimal("2.5"),
        "last_error": "326: client id in use",
        **fields,
    }
    return GatewayStatus(**values)


async def test_health_shows_the_ib_connection_publicly_masked_and_in_full_with_the_token(
    start_notifier,
):
    notifier = await start_notifier()
    async with httpx.AsyncClient(base_url=base(notifier)) as http:
        before = (await http.get("/health")).json()
        assert before["ib"]["state"] == "unknown"
        await notifier.service.publish(status(reconciled=False))
        await notifier.service.publish(status())
        public = (await http.get("/health")).json()
        full = await http.get("/api/v1/health", headers=AUTH)
        locked = await http.get("/api/v1/health")
    ib = public["ib"]
    assert public["ready"] is True
    assert ib["state"] == "ready"
    assert ib["connected"] is True
    assert ib["reconciled"] is True
    assert ib["server_version"] == 178
    assert ib["last_connectivity_code"] == 1102
    assert ib["heartbeat_age_s"] == 2.5
    assert ib["since"] is not None
    assert ib["accounts"] == ["DU…001", "U2…002"]  # masked without a token
    assert "last_error" not in ib
    assert full.status_code == 200
    assert full.json()["ib"]["accounts"] == ["DU1000001", "U2000002"]
    assert full.json()["ib"]["live_accounts"] == ["U2000002"]
    assert full.json()["ib"]["last_error"] == "326: client id in use"
    assert locked.status_code == 401


async def test_a_status_not_renewed_for_a_minute_is_stale(start_notifier):
    notifier = await start_notifier()
    old = utc_now() - timedelta(minutes=3)
    await notifier.service.publish(status(ts_event=old))
    async with httpx.AsyncClient(base_url=base(notifier)) as http:
        ib = (await http.get("/health")).json()["ib"]
    assert ib["state"] == "stale"
    assert "is it running" in ib["detail"]


def closed_now() -> str:
    """A one-hour weekly window that opened 2 hours ago (so it is closed now)."""
    now = utc_now()
    opens, closes = now - timedelta(hours=2), now - timedelta(hours=1)
    return f"{opens:%a %H:%M}-{closes:%a %H:%M}"


async def test_outside_the_weekly_window_triggers_are_refused_with_the_next_opening(
    start_notifier,
):
    window = closed_now()
    notifier = await start_notifier(gateway_window=window, gateway_window_tz="UTC")
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH) as http:
        refused = await http.post("/api/v1/rebalance?account=DU111", json=BODY)
        health = (await http.get("/api/v1/health")).json()
    assert refused.status_code == 503
    assert refused.json()["error"] == "gateway_window_closed"
    message = refused.json()["message"]
    expected = WeeklyWindow.parse(window, "UTC").next_open(utc_now())
    assert expected.isoformat(timespec="minutes").replace("+00:00", "") in message
    assert "weekly window" in message
    assert health["ib"]["window"]["open"] is False
    assert health["ib"]["window"]["next_open"] == expected.isoformat()


async def test_outside_the_window_a_gateway_that_is_up_anyway_still_trades(start_notifier):
    """The window says when the gateway is meant to be down; the emulator of the ``sim``
    profile, or a TWS kept running, is up outside it, and its triggers are accepted."""
    notifier = await start_notifier(gateway_window=closed_now(), gateway_window_tz="UTC")
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH) as http:
        await notifier.service.publish(status(ts_event=utc_now() - timedelta(minutes=5)))
        stale = await http.post("/api/v1/rebalance?account=DU111", json=BODY)
        await notifier.service.publish(status(connected=False))
        down = await http.post("/api/v1/rebalance?account=DU111", json=BODY)
        await notifier.service.publish(status())
        up = await http.post("/api/v1/rebalance?account=DU111", json=BODY)
    assert stale.status_code == 503, "a status older than a minute does not say IB is up"
    assert down.status_code == 503
    assert up.status_code == 202, up.text


async def test_inside_the_window_a_trigger_is_accepted(start_notifier):
    now = utc_now()
    window = f"{now - timedelta(hours=1):%a %H:%M}-{now + timedelta(hours=1):%a %H:%M}"
    notifier = await start_notifier(gateway_window=window, gateway_window_tz="UTC")
    async with httpx.AsyncClient(base_url=base(notifier), headers=AUTH) as http:
        accepted = await http.post("/api/v1/rebalance?account=DU111", json=BODY)
    assert accepted.status_code == 202, accepted.text


def _alerts(server) -> list[dict]:
    return [a for batch in server.bodies("/hook") for a in batch["alerts"]]


def _at_least(server, n: int):
    async def probe() -> list[dict] | None:
        found = _alerts(server)
        return found if len(found) >= n else None

    return probe


async def test_a_2fa_prompt_is_alerted_with_what_to_do_and_a_retry_again(
    start_notifier, http_server
):
    http_server.routes["/hook"] = Route([(200, {})])
    notifier = await start_notifier(alert_webhook_urls=[http_server.url + "/hook"])
    at = utc_now()
    await notifier.service.publish(SecondFactorRequested(source="gateway-bridge", ts_event=at))
    first = await eventually(_at_least(http_server, 1), within=5)
    assert first[0]["title"] == "IB Gateway waits for your IB Key approval"
    assert "approve the IB Key prompt on your phone within 3 minutes" in first[0]["text"]
    retry = at + timedelta(minutes=3)
    await notifier.service.publish(
        SecondFactorRequested(source="gateway-bridge", ts_event=retry, attempt=2)
    )
    both = await eventually(_at_least(http_server, 2), within=5)
    assert "attempt 2" in both[1]["text"]


async def test_an_expected_outage_is_quiet_until_it_should_be_over(start_notifier, http_server):
    http_server.routes["/hook"] = Route([(200, {})])
    notifier = await start_notifier(
        alert_webhook_urls=[http_server.url + "/hook"], gateway_down_alert_after_s=1
    )
    until = utc_now() + timedelta(minutes=20)
    await notifier.service.publish(
        GatewayDisconnected(
            source="gateway-bridge", reason="daily restart window", expected_until=until
        )
    )
    await eventually(lambda: notifier.service.redis.get("notifier:gateway:down-since"), within=5)
    stamp = float(await notifier.service.redis.get("notifier:gateway:down-since"))
    # The outage is older than the threshold: without expected_until this alerts at once.
    await notifier.service.redis.set("notifier:gateway:down-since", str(stamp - 600))
    await notifier.alerts.check_gateway_down()
    assert _alerts(http_server) == []
    # Past its expected end (and the threshold) it is an outage like any other.
    past = datetime.now(UTC) - timedelta(seconds=5)
    await notifier.service.redis.set("notifier:gateway:expected-until", str(past.timestamp()))
    await notifier.alerts.check_gateway_down()
    told = await eventually(_at_least(http_server, 1), within=5)
    assert [a["title"] for a in told] == ["Gateway disconnected"]
    await notifier.service.publish(
        GatewayConnected(source="gateway-bridge", host="127.0.0.1", port=4002, client_id=1)
    )
    await eventually(_at_least(http_server, 2), within=5)
    assert await notifier.service.redis.get("notifier:gateway:expected-until") is None
