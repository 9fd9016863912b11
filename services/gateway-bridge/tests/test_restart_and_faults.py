"""Crashes, reconnects and gateway faults: never a second order, never a lost or doubled fill."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from decimal import Decimal

from ib_async import IB

from gateway_bridge.journal import NewOrder, SqliteOrderJournal
from gateway_bridge.lifecycle import OrderState
from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    emulator_exec_ids,
    emulator_orders,
    emulator_positions,
    eventually,
    fills_by_exec,
    get_portfolio,
    new_plan,
    order_events,
    read_stream,
    submit,
    types_of,
)
from shared.contracts import catalogue


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
            return json.loads(answer.read())
    except Exception as error:  # a 503 is an answer too
        body = getattr(error, "read", None)
        return json.loads(body()) if body else {}


def gateway_events(url: str) -> list[str]:
    return types_of(read_stream(url, catalogue.GATEWAY))


async def reconciled_count(url: str) -> int:
    return gateway_events(url).count("ReconciliationCompleted")


async def assert_exactly_once(emulator, url: str, coid: str) -> None:
    assert len(emulator_orders(emulator, coid)) <= 1
    await eventually(
        lambda: set(fills_by_exec(url, coid)) == emulator_exec_ids(emulator, coid),
        message="every emulator fill published",
    )
    assert all(n == 1 for n in fills_by_exec(url, coid).values()), fills_by_exec(url, coid)


async def test_bridge_killed_right_after_place_order_never_places_a_second_order(
    emulator, bridge_process, publish, redis_url
):
    bridge = bridge_process()
    await eventually(lambda: gateway_events(redis_url).count("ReconciliationCompleted") == 1, 20)
    # Hold the acknowledgement and the fill so the kill lands between send and confirmation.
    emulator.faults.delay_acks(2.0)
    emulator.faults.hold_fills(True)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, quantity=7))
    await eventually(lambda: emulator_orders(emulator, coid), message="order on the wire")
    bridge.kill()
    emulator.faults.delay_acks(0)

    restarted = bridge_process()
    await eventually(lambda: gateway_events(redis_url).count("ReconciliationCompleted") == 2, 20)
    # The SubmitOrder entry left pending is redelivered; it must not send again.
    await eventually(
        lambda: "OrderAccepted" in types_of(order_events(redis_url, coid)), message="adopted"
    )
    emulator.faults.hold_fills(False)
    await eventually(lambda: fills_by_exec(redis_url, coid), message="fill after restart")
    await asyncio.sleep(1.0)  # let a redelivery of the command happen (reclaim after 0.5 s)
    await assert_exactly_once(emulator, redis_url, coid)
    assert len(emulator_orders(emulator, coid)) == 1
    view = await get_portfolio(redis_url, ACCOUNT)
    assert {p.symbol: p.quantity for p in view.positions} == emulator_positions(emulator, ACCOUNT)
    restarted.stop()


async def test_order_journaled_but_never_sent_becomes_unknown_and_is_not_sent_on_restart(
    emulator, start_bridge, redis_url, tmp_path
):
    # The journal as a SIGKILL between the INTENT write and placeOrder leaves it.
    coid = f"{new_plan()}.0.0"
    journal = SqliteOrderJournal(tmp_path / "bridge" / "orders.sqlite3")
    journal.record_intent(
        NewOrder(coid, coid.split(".")[0], ACCOUNT, "SPY", "BUY", Decimal(5), "{}"), 9_000
    )
    journal.close()
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    events = await eventually(lambda: order_events(redis_url, coid), message="unknown")
    assert types_of(events) == ["OrderStatusUnknown"]
    assert "not be sent again" in events[0].reason
    assert emulator_orders(emulator, coid) == []
    assert service.bridge.journal.get(coid).state == OrderState.UNKNOWN


async def test_connection_dropped_mid_order_recovers_fills_once(
    emulator, start_bridge, publish, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    emulator.faults.hold_fills(True)
    emulator.faults.partial_fills(0.5)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, quantity=10))
    await eventually(lambda: "OrderAccepted" in types_of(order_events(redis_url, coid)))
    emulator.faults.drop_connections()
    emulator.faults.hold_fills(False)  # fills happen while the bridge is away
    await eventually(lambda: gateway_events(redis_url).count("ReconciliationCompleted") >= 2, 15)
    await assert_exactly_once(emulator, redis_url, coid)
    assert "GatewayDisconnected" in gateway_events(redis_url)
    assert len(emulator_orders(emulator, coid)) == 1


async def test_connectivity_lost_during_a_burst_of_fills_publishes_each_fill_once(
    emulator, start_bridge, publish, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    emulator.faults.partial_fills(0.2)
    plan = new_plan()
    coids = [f"{plan}.{leg}.0" for leg in range(5)]
    for coid in coids:
        await publish(submit(coid, symbol="QQQ", quantity=5))
    emulator.faults.connectivity_lost(restore_after=0.5, restore_code=1101)
    await eventually(lambda: gateway_events(redis_url).count("ReconciliationCompleted") >= 2, 15)
    # Commands that arrived while IB was unreachable were held, then placed once.
    for coid in coids:
        await eventually(
            lambda coid=coid: any(
                e.type == "OrderFilled" and e.cumulative_quantity == 5
                for e in order_events(redis_url, coid)
            ),
            within=15,
            message=f"{coid} filled",
        )
        await assert_exactly_once(emulator, redis_url, coid)
        assert len(emulator_orders(emulator, coid)) == 1
    assert service.bridge.gate.is_open


async def test_client_id_in_use_backs_off_and_connects_once_it_is_free(
    emulator, start_bridge, redis_url
):
    squatter = IB()
    await squatter.connectAsync("127.0.0.1", emulator.port, clientId=17, timeout=5)
    service = await start_bridge()
    await eventually(lambda: "GatewayDisconnected" in gateway_events(redis_url), message="refused")
    assert not service.bridge.gate.is_open
    verdict = await service.bridge.connection.health()
    assert "326" in verdict or "in use" in verdict
    attempts = service.bridge.metrics.connect_attempts.labels("failed")._value.get()
    squatter.disconnect()
    await eventually(lambda: service.bridge.gate.is_open, within=15, message="connected")
    assert attempts < 20  # backed off, no storm


async def test_gateway_that_stops_answering_is_detected_by_the_heartbeat(
    emulator, start_bridge, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    # Refusing connections for a while is the daily restart: everyone is dropped, then back.
    emulator.faults.refuse_connections(1.5)
    await eventually(lambda: "GatewayDisconnected" in gateway_events(redis_url))
    await eventually(lambda: gateway_events(redis_url).count("ReconciliationCompleted") >= 2, 20)
    assert service.bridge.metrics.connected._value.get() == 1


async def test_daily_restart_window_waits_between_attempts_instead_of_storming(
    emulator, start_bridge, redis_url
):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("America/New_York"))
    service = await start_bridge(
        restart_window_start=(now - timedelta(minutes=5)).time().replace(microsecond=0),
        restart_window_end=(now + timedelta(minutes=5)).time().replace(microsecond=0),
        restart_window_retry_s=2.0,
    )
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    emulator.faults.refuse_connections(3.0)
    await eventually(lambda: "GatewayDisconnected" in gateway_events(redis_url))
    await eventually(lambda: service.bridge.gate.is_open, within=20, message="back")
    failed = service.bridge.metrics.connect_attempts.labels("failed")._value.get()
    assert failed <= 2  # at most one attempt per 2 s while the gateway restarts
    reasons = [
        e.reason
        for e in read_stream(redis_url, catalogue.GATEWAY)
        if e.type == "GatewayDisconnected"
    ]
    assert any("restart window" in r for r in reasons)


async def test_orders_in_flight_when_the_connection_drops_are_sent_once_or_reported_not_found(
    emulator, start_bridge, publish, redis_url
):
    # Cause 2 of the fleet run: orders journaled as sent but still queued in memory were lost
    # with the connection, and after the reconnect they stayed "unknown" forever (never
    # "not found at IB"), so the executor never sent a new attempt.
    service = await start_bridge()
    bridge = service.bridge
    await eventually(lambda: bridge.gate.is_open, message="reconciled")
    plan = new_plan()
    coids = [f"{plan}.{n}.0" for n in range(200)]
    symbols = ["SPY", "QQQ", "VTI", "BND", "AGG", "TLT", "IEF", "GLD"]
    for n, coid in enumerate(coids):
        await publish(submit(coid, symbol=symbols[n % len(symbols)], quantity=1))
    await eventually(lambda: len(emulator.broker.orders) >= 60, within=20, message="60 at IB")
    emulator.faults.drop_connections()
    await eventually(
        lambda: gateway_events(redis_url).count("ReconciliationCompleted") >= 2, 20, "reconnect"
    )

    def verdicts() -> dict[str, str]:
        at_ib = {o["order_ref"] for o in emulator.orders()}
        out = {}
        for event in order_events(redis_url):
            if event.type == "OrderStatusUnknown" and event.not_found_at_ib:
                out[event.client_order_id] = "not_found"
        for coid in coids:
            if coid in at_ib:
                out[coid] = "at_ib"
        return out

    def settled() -> bool:
        unsettled = bridge.journal.entries(frozenset({OrderState.INTENT, OrderState.SENT}))
        return len(verdicts()) == len(coids) and not unsettled

    await eventually(settled, within=40, message="a verdict for each order")
    found = verdicts()
    for coid in coids:
        assert len(emulator_orders(emulator, coid)) <= 1, coid  # never sent twice
        if found[coid] == "not_found":
            assert emulator_orders(emulator, coid) == []
    assert list(found.values()).count("at_ib") >= 190, found  # the rest waited in Redis
