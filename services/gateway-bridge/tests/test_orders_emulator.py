"""Order placement against the IB emulator over TCP, with a real Redis."""

from __future__ import annotations

from bridge_helpers import (
    ACCOUNT,
    emulator_orders,
    eventually,
    new_plan,
    order_events,
    submit,
    types_of,
)


async def test_market_order_is_placed_once_and_reported_accepted_then_filled(
    emulator, start_bridge, publish, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, symbol="SPY", quantity=10))
    await eventually(
        lambda: "OrderFilled" in types_of(order_events(redis_url, coid)), message="fill"
    )
    events = order_events(redis_url, coid)
    assert types_of(events)[0] == "OrderAccepted"
    fill = next(e for e in events if e.type == "OrderFilled")
    assert fill.cumulative_quantity == 10
    assert fill.account_id == ACCOUNT
    assert len(emulator_orders(emulator, coid)) == 1
