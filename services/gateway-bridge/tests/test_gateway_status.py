"""What the bridge tells about its IB connection: GatewayStatus (connected, reconciled, since,
accounts, paper or live, codes, heartbeat), expected outages, 2FA prompts from the gateway's
wrapper; and live accounts refused unless allowed."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from ib_emulator.scenario import default_scenario
from ib_emulator.server import Emulator
from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    emulator_orders,
    eventually,
    new_plan,
    order_events,
    read_stream,
    submit,
    types_of,
    write_accounts_file,
)
from shared.contracts import catalogue
from shared.contracts.base import Message, utc_now
from shared.contracts.gateway import GatewayDisconnected, GatewayStatus, SecondFactorRequested

LIVE = "U2000002"


def _of(url: str, kind: type[Message]) -> list[Message]:
    return [e for e in read_stream(url, catalogue.GATEWAY) if isinstance(e, kind)]


async def _emulator_with_a_live_account() -> Emulator:
    scenario = default_scenario()
    accounts = [scenario.accounts[0], scenario.accounts[1].model_copy(update={"id": LIVE})]
    emu = Emulator(
        admin_port=0, seed=7, scenario=scenario.model_copy(update={"accounts": accounts})
    )
    await emu.start()
    return emu


async def test_a_live_account_trades_only_when_the_bridge_allows_live_accounts(
    start_bridge, publish, redis_url, tmp_path
):
    emu = await _emulator_with_a_live_account()
    try:
        accounts = write_accounts_file(tmp_path / "accounts.yaml", {ACCOUNT: "auto", LIVE: "auto"})
        service = await start_bridge(accounts_file=accounts, ib_port=emu.port)
        await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
        refused, paper = f"{new_plan()}.0.0", f"{new_plan()}.0.0"
        await publish(submit(refused, account=LIVE))
        await publish(submit(paper, account=ACCOUNT))
        events = await eventually(lambda: order_events(redis_url, refused), message="an answer")
        assert types_of(events) == ["OrderRejected"]
        assert events[0].reason.startswith("live_account")
        assert "--live" in events[0].reason
        assert emulator_orders(emu, refused) == []
        await eventually(lambda: emulator_orders(emu, paper), message="the paper order at IB")

        status = await eventually(
            lambda: [s for s in _of(redis_url, GatewayStatus) if s.reconciled],
            message="a reconciled GatewayStatus",
        )
        assert status[-1].live_accounts == (LIVE,)
        assert set(status[-1].accounts) == {ACCOUNT, LIVE}
        assert status[-1].allow_live is False
        await asyncio.wait_for(service.stop(), 20)

        allowed = await start_bridge(
            accounts_file=accounts, ib_port=emu.port, allow_live=True, ib_client_id=18
        )
        await eventually(lambda: allowed.bridge.gate.is_open, message="reconciled")
        live = f"{new_plan()}.0.0"
        await publish(submit(live, account=LIVE))
        await eventually(lambda: emulator_orders(emu, live), message="the live order at IB")
    finally:
        await asyncio.wait_for(emu.stop(), 20)


async def test_the_status_tells_connected_reconciled_since_and_heartbeat_then_the_outage(
    emulator, start_bridge, redis_url
):
    service = await start_bridge(status_interval_s=0.3)
    ready = await eventually(
        lambda: [s for s in _of(redis_url, GatewayStatus) if s.reconciled],
        message="a reconciled GatewayStatus",
    )
    first = ready[0]
    assert first.connected
    assert first.port == emulator.port
    assert first.client_id == 17
    assert first.server_version
    assert first.server_version >= 157
    assert first.since is not None
    assert first.since <= utc_now()
    assert first.live_accounts == ()
    assert first.read_only is False
    assert first.heartbeat_age_s is not None
    assert first.heartbeat_age_s >= 0
    count = len(_of(redis_url, GatewayStatus))
    await eventually(lambda: len(_of(redis_url, GatewayStatus)) >= count + 2, message="heartbeats")

    emulator.faults.connectivity_lost(0.5, 1102)
    coded = await eventually(
        lambda: [s for s in _of(redis_url, GatewayStatus) if s.last_connectivity_code == 1102],
        message="a status with code 1102 (after 1100)",
    )
    assert any(s.last_connectivity_code == 1100 for s in _of(redis_url, GatewayStatus))
    assert coded[-1].last_connectivity_at is not None

    await asyncio.wait_for(emulator.stop(), 20)
    down = await eventually(
        lambda: [s for s in _of(redis_url, GatewayStatus) if not s.connected],
        message="a disconnected GatewayStatus",
    )
    assert down[-1].reconciled is False
    assert down[-1].expected_until is None
    assert down[-1].since is not None
    assert down[-1].since >= first.since
    assert service.bridge.connection.status().connected is False


async def test_a_disconnect_in_the_daily_restart_window_is_marked_expected_until_its_end(
    emulator, start_bridge, redis_url
):
    now = utc_now()
    start = (now - timedelta(minutes=5)).strftime("%H:%M")
    end = (now + timedelta(minutes=30)).strftime("%H:%M")
    service = await start_bridge(
        restart_window_start=start, restart_window_end=end, restart_window_tz="UTC"
    )
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled", within=20)
    await asyncio.wait_for(emulator.stop(), 20)
    down = await eventually(
        lambda: _of(redis_url, GatewayDisconnected), message="GatewayDisconnected"
    )
    until = down[-1].expected_until
    assert until is not None
    assert timedelta(minutes=25) < until - utc_now() < timedelta(minutes=31)
    assert "daily restart window" in down[-1].reason


async def test_a_2fa_prompt_in_the_gateways_status_file_is_published_once_and_a_retry_again(
    emulator, start_bridge, redis_url, tmp_path: Path
):
    status_file = tmp_path / "gateway-status.json"
    stale = utc_now() - timedelta(minutes=10)
    status_file.write_text(
        json.dumps({"state": "awaiting_2fa", "attempt": 1, "at": stale.isoformat()})
    )
    service = await start_bridge(gateway_status_file=status_file)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    watch = service.bridge.login_watch
    assert await watch.check() is None  # a prompt too old to approve is not told
    now = utc_now().isoformat()
    status_file.write_text(json.dumps({"state": "awaiting_2fa", "attempt": 1, "at": now}))
    first = await eventually(
        lambda: _of(redis_url, SecondFactorRequested), message="SecondFactorRequested"
    )
    assert first[0].attempt == 1
    assert 170 <= first[0].timeout_s <= 180
    await asyncio.sleep(0.2)
    assert await watch.check() is None  # the same prompt is told once
    retry = utc_now().isoformat()
    status_file.write_text(json.dumps({"state": "awaiting_2fa", "attempt": 2, "at": retry}))
    told = await eventually(
        lambda: (
            len(_of(redis_url, SecondFactorRequested)) == 2
            and _of(redis_url, SecondFactorRequested)
        ),
        message="the retry prompt",
    )
    assert told[-1].attempt == 2
    status_file.write_text(json.dumps({"state": "logged_in", "at": utc_now().isoformat()}))
    assert await watch.check() is None
