"""Strings that reach IB's wire: a NUL or control character inside a field would shift every
TWS field after it. The contract refuses them; the bridge refuses anything that slipped past."""

from __future__ import annotations

from datetime import timedelta

import redis

from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    eventually,
    get_portfolio,
    new_plan,
    order_events,
    submit,
    types_of,
)
from shared.contracts.base import utc_now
from shared.contracts.order_commands import SubmitOrder


async def test_a_submit_order_with_a_nul_in_its_id_is_dead_lettered_with_the_reason(
    emulator, start_bridge, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    client = redis.Redis.from_url(redis_url)
    try:
        client.xadd(
            "commands.orders.v1",
            {
                "type": "SubmitOrder",
                "source": "intruder",
                "valid_until": (utc_now() + timedelta(seconds=60)).isoformat(),
                "client_order_id": "p.0.0\x00LMT",
                "account_id": ACCOUNT,
                "symbol": "SPY",
                "side": "BUY",
                "quantity": "1",
            },
        )
        dead = await eventually(
            lambda: client.xrange("dlq.commands.orders.v1"), message="dead-lettered"
        )
        detail = dead[0][1][b"detail"].decode()
        assert "client_order_id" in detail, detail
        assert "orderRef" in detail, detail
    finally:
        client.close()
    assert emulator.orders() == []


async def test_the_bridge_refuses_a_command_built_without_validation(
    emulator, start_bridge, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    coid = f"{new_plan()}.0.0"
    valid = submit(coid)
    slipped = SubmitOrder.model_construct(**{**dict(valid), "symbol": "SPY\x00MKT"})
    await service.bridge.desk.on_command(slipped)
    events = await eventually(lambda: order_events(redis_url, coid), message="refusal")
    assert types_of(events) == ["OrderRejected"]
    assert events[0].field == "symbol"
    assert events[0].reason.startswith("invalid_characters")
    assert emulator.orders() == []


async def test_a_portfolio_request_with_a_control_character_in_a_symbol_is_answered_why(
    emulator, start_bridge, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    reply = await get_portfolio(redis_url, ACCOUNT, ("SPY", "QQQ\x00"))
    assert reply.type == "PortfolioUnavailable"
    assert "symbol must be" in reply.reason
