"""The bridge's pacer: IB's 50 messages/s respected by the bridge itself, heartbeats first,
orders written only when a token is free (so their backlog stays in Redis), and the ib_async
behaviour this relies on, pinned against the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ib_async import IB

from gateway_bridge.client import PacedClient, paced_ib
from gateway_bridge.pacing import Priority, TokenBucket, priority_of
from gateway_bridge.parsing.outbound import contract_for, order_for
from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    eventually,
    new_plan,
    order_events,
    read_stream,
    submit,
    types_of,
)
from shared.contracts import catalogue

SYMBOLS = ["SPY", "QQQ", "VTI", "VXUS", "BND", "AGG", "TLT", "IEF", "GLD", "IWM"]


# ---------------------------------------------------------------------- the bucket (pure)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=1, max_value=50),
    burst=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=400),
)
def test_no_second_ever_holds_more_than_rate_plus_burst_messages(rate, burst, gaps):
    bucket, now, sent = TokenBucket(rate, burst), 0.0, []
    for gap in gaps:
        now += gap
        if bucket.take(now):
            sent.append(now)
    for i, start in enumerate(sent):
        in_window = sum(1 for t in sent[i:] if t - start <= 1.0)
        assert in_window <= burst + rate + 1e-9


def test_a_busy_bucket_says_how_long_until_the_next_token():
    bucket = TokenBucket(45, 3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s(0.0) == pytest.approx(1 / 45)
    bucket.give_back(0.0)
    assert bucket.take(0.0)


@pytest.mark.parametrize(
    ("message", "priority"),
    [
        ("49\x001\x00", Priority.URGENT),  # reqCurrentTime, the heartbeat
        ("4\x001\x0012\x00\x00", Priority.URGENT),  # cancelOrder
        ("58\x001\x00", Priority.URGENT),  # reqGlobalCancel
        ("3\x0012\x00", Priority.ORDER),  # placeOrder
        ("9\x008\x001\x00", Priority.REQUEST),  # reqContractDetails
        ("1\x0011\x002\x00", Priority.REQUEST),  # reqMktData
        ("94\x007\x00DU111\x00\x00756733\x00", Priority.BACKGROUND),  # reqPnLSingle
        ("92\x007\x00DU111\x00\x00", Priority.BACKGROUND),  # reqPnL
    ],
)
def test_each_api_message_has_its_priority(message, priority):
    assert priority_of(message) == priority


# ---------------------------------------------------------------------- ib_async, pinned


async def test_ib_async_queues_beyond_45_per_second_and_a_disconnect_drops_that_queue(emulator):
    # What the pacer replaces: ib_async's own throttle keeps every message above 45 per
    # sliding second in one FIFO in memory, and Client.reset (on disconnect) discards it.
    ib = IB()
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=41, timeout=5)
    assert ib.client.MaxRequests == 45
    for _ in range(100):
        ib.client.reqCurrentTime()
    queued = len(ib.client._msgQ)
    assert queued >= 100 - 45
    ib.disconnect()
    assert len(ib.client._msgQ) == 0  # dropped, never sent


async def test_an_unpaced_flood_gets_error_100_and_the_emulator_counts_what_it_sent(emulator):
    # Pacing errors are counted from what IB (the emulator) sent, not from our logs.
    ib = IB()
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=45, timeout=5)
    try:
        emulator.faults.pacing(True, limit=50, max_violations=1000)
        ib.client.MaxRequests = 0  # no throttle at all
        for _ in range(80):
            ib.client.reqCurrentTime()
        await eventually(
            lambda: emulator.state()["errors_sent"].get("100", 0) >= 1, message="error 100 sent"
        )
    finally:
        ib.disconnect()


async def test_place_order_writes_its_one_message_inside_the_turn(emulator):
    ib = paced_ib(45, 3)
    client = ib.client
    assert isinstance(client, PacedClient)
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=42, timeout=5)
    try:
        [details] = await ib.reqContractDetailsAsync(contract_for("SPY"))
        command = submit(f"{new_plan()}.0.0", quantity=1)
        sent_before = client.conn.numMsgSent
        async with client.order_turn():
            ib.placeOrder(details.contract, order_for(command, client.getReqId()))
            # Synchronously, within placeOrder: one message handed to the socket.
            assert client.orders_written == 1
            assert client.conn.numMsgSent == sent_before + 1
        await eventually(
            lambda: any(o["order_ref"] == command.client_order_id for o in emulator.orders()),
            message="order at the emulator",
        )
    finally:
        ib.disconnect()


async def test_pnl_subscriptions_wait_until_a_burst_of_orders_is_over(emulator):
    # A fleet's burst creates a reqPnLSingle per new position; ahead of the orders they took a
    # fifth of IB's 45 msg/s while orders waited. They go once the orders stop.
    ib = paced_ib(10, 1)
    client = ib.client
    assert isinstance(client, PacedClient)
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=45, timeout=5)
    try:
        [details] = await ib.reqContractDetailsAsync(contract_for("SPY"))
        background_at_each_order: list[int] = []

        async def place(n: int) -> None:
            async with client.order_turn():
                command = submit(f"{plan}.{n}.0", quantity=1)
                ib.placeOrder(details.contract, order_for(command, client.getReqId()))
                background_at_each_order.append(client.written[Priority.BACKGROUND])

        plan = new_plan()
        orders = [asyncio.create_task(place(n)) for n in range(8)]
        await asyncio.sleep(0)  # the orders ask for their turns first
        ib.reqPnL(ACCOUNT)
        ib.reqPnLSingle(ACCOUNT, "", details.contract.conId)
        await asyncio.gather(*orders)
        assert background_at_each_order == [0] * 8
        await eventually(
            lambda: client.written[Priority.BACKGROUND] == 2, message="PnL subscriptions sent"
        )
        assert client.queued() == 0
        await eventually(lambda: bool(ib.pnl(ACCOUNT)), message="IB answered the reqPnL")
    finally:
        ib.disconnect()


async def test_background_messages_keep_to_their_own_rate_after_a_burst(emulator):
    # The PnL subscriptions a fleet's burst left queued (one per new position) went out at
    # the full 45/s once the orders stopped, and a busy gateway counted 51 in a second.
    ib = paced_ib(45, 2, background_rate=4)
    client = ib.client
    assert isinstance(client, PacedClient)
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=46, timeout=5)
    try:
        loop = asyncio.get_running_loop()
        queued_at = loop.time()
        for con_id in range(1, 7):
            ib.reqPnLSingle(ACCOUNT, "", con_id)
        seen = []
        while client.written[Priority.BACKGROUND] < 6:
            # The bucket's bound, whatever the machine's load: one at once, then 4 per second.
            written = client.written[Priority.BACKGROUND]
            seen.append(written)
            assert written <= 1 + 4 * (loop.time() - queued_at) + 1e-6, (written, seen)
            assert loop.time() - queued_at < 30, "the background messages never went out"
            await asyncio.sleep(0.01)
        assert seen[0] <= 1
        assert client.queued() == 0
    finally:
        ib.disconnect()


async def test_the_paced_client_still_reports_a_dropped_connection(emulator):
    ib = paced_ib(45, 3)
    dropped = asyncio.Event()
    ib.disconnectedEvent += dropped.set
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=43, timeout=5)
    emulator.faults.drop_connections()
    await asyncio.wait_for(dropped.wait(), 5)
    assert not ib.isConnected()


async def test_requests_beyond_the_rate_wait_in_the_pacer_and_go_out_evenly(emulator):
    ib = paced_ib(20, 2)
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=44, timeout=5)
    try:
        emulator.faults.pacing(True, limit=22, max_violations=1000)
        started = time.monotonic()
        answers = await asyncio.gather(
            *(ib.reqContractDetailsAsync(contract_for("SPY")) for _ in range(30))
        )
        elapsed = time.monotonic() - started
        assert [len(a) for a in answers] == [1] * 30
        # 2 at once, then 20/s: about 1.4 s, and the emulator never refused one.
        assert elapsed >= 1.2
        assert ib.client.queued() == 0
    finally:
        ib.disconnect()


# ---------------------------------------------------------------------- the bridge under a burst


async def test_a_burst_of_orders_keeps_the_heartbeat_answered_and_the_backlog_in_redis(
    emulator, start_bridge, publish, redis_url
):
    # Cause 1 of the fleet run: the bridge took orders far faster than IB accepts them,
    # ib_async queued them in memory and the heartbeat waited behind them until it timed out.
    service = await start_bridge(heartbeat_interval_s=0.5, heartbeat_timeout_s=1.0)
    bridge = service.bridge
    await eventually(lambda: bridge.gate.is_open, message="reconciled")
    emulator.faults.pacing(True, limit=50, max_violations=1000)
    plan = new_plan()
    coids = [f"{plan}.{n}.0" for n in range(300)]
    for n, coid in enumerate(coids):
        await publish(submit(coid, symbol=SYMBOLS[n % len(SYMBOLS)], quantity=1))

    ahead = []
    sent = bridge.metrics.orders.labels(ACCOUNT, "sent")
    deadline = time.monotonic() + 30
    while (at_ib := len(emulator.broker.orders)) < len(coids):
        # Journaled as sent but not yet received by IB: what sits in memory between the two.
        ahead.append(sent._value.get() - at_ib)
        assert time.monotonic() < deadline, f"{at_ib} of {len(coids)} orders reached IB"
        await asyncio.sleep(0.05)
    gateway = types_of(read_stream(redis_url, catalogue.GATEWAY))
    assert "GatewayDisconnected" not in gateway
    assert "100" not in emulator.state()["errors_sent"]  # IB sent no pacing error
    # No queue of orders in memory: an order is journaled sent when its bytes are written.
    assert max(ahead) <= 3, max(ahead)
    assert max(len([o for o in emulator.orders() if o["order_ref"] == c]) for c in coids) == 1
    await eventually(
        lambda: all("OrderAccepted" in types_of(order_events(redis_url, c)) for c in coids[-3:]),
        within=30,
        message="the last orders acknowledged",
    )
