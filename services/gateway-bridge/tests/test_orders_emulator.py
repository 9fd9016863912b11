"""Order placement against the IB emulator over TCP, with a real Redis."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

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
    submit,
    types_of,
)
from shared.contracts.base import utc_now
from shared.contracts.order_commands import AdaptivePriority, CancelOrder, OrderType


async def started(start_bridge, **overrides):
    service = await start_bridge(**overrides)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    return service


async def test_market_order_is_placed_once_and_reported_accepted_then_filled(
    emulator, start_bridge, publish, redis_url
):
    await started(start_bridge)
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
    assert fill.plan_id == coid.split(".")[0]
    await eventually(
        lambda: "CommissionReported" in types_of(order_events(redis_url, coid)),
        message="commission",
    )
    assert len(emulator_orders(emulator, coid)) == 1


async def test_same_submit_order_delivered_three_times_places_one_order(
    emulator, start_bridge, publish, redis_url
):
    await started(start_bridge)
    coid = f"{new_plan()}.0.0"
    command = submit(coid, quantity=5)
    for _ in range(3):
        await publish(command)
    await eventually(lambda: fills_by_exec(redis_url, coid), message="fill")
    # The repeats re-publish the current state; they never send.
    await eventually(
        lambda: types_of(order_events(redis_url, coid)).count("OrderAccepted") >= 2,
        message="repeats answered",
    )
    assert len(emulator_orders(emulator, coid)) == 1
    assert all(n == 1 for n in fills_by_exec(redis_url, coid).values())


async def test_order_types_reach_ib_with_their_fields(emulator, start_bridge, publish, redis_url):
    await started(start_bridge)
    plan = new_plan()
    commands = [
        submit(f"{plan}.0.0", order_type=OrderType.LIMIT, limit_price="1.00", time_in_force="GTC"),
        submit(f"{plan}.1.0", order_type=OrderType.MIDPRICE, outside_rth=True),
        submit(
            f"{plan}.2.0",
            order_type=OrderType.ADAPTIVE,
            adaptive_priority=AdaptivePriority.URGENT,
        ),
    ]
    for command in commands:
        await publish(command)
    await eventually(
        lambda: all(emulator_orders(emulator, c.client_order_id) for c in commands),
        message="orders at IB",
    )
    lmt, mid, adaptive = (emulator_orders(emulator, c.client_order_id)[0] for c in commands)
    assert (lmt["order_type"], lmt["lmt_price"], lmt["tif"]) == ("LMT", "1.0", "GTC")
    assert (mid["order_type"], mid["outside_rth"]) == ("MIDPRICE", True)
    assert adaptive["algo_strategy"] == "Adaptive"
    assert adaptive["algo_params"] == {"adaptivePriority": "Urgent"}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"symbol": "NOSUCH"}, "symbol", "unknown_symbol"),
        ({"quantity": 0}, "quantity", "invalid_quantity"),
        ({"quantity": -3}, "quantity", "invalid_quantity"),
        ({"quantity": "0.00001"}, "quantity", "below_minimum_quantity"),
        ({"order_type": OrderType.LIMIT}, "limit_price", "missing_limit_price"),
        ({"account": "DU9999999"}, "account_id", "unknown_account"),
        ({"account": "U999"}, "account_id", "not_tradable"),
        ({"quantity": 10**12}, "quantity", "above_max_quantity"),
        ({"quantity": 90_000}, "quantity", "above_max_notional"),
        ({"valid_for_s": -1}, "valid_until", "expired"),
    ],
)
async def test_bad_order_is_refused_naming_the_field_and_nothing_reaches_ib(
    emulator, start_bridge, publish, redis_url, overrides, field, code
):
    await started(start_bridge)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, **overrides))
    events = await eventually(lambda: order_events(redis_url, coid), message="refusal")
    assert types_of(events) == ["OrderRejected"]
    assert events[0].field == field
    assert events[0].reason.startswith(code)
    assert emulator_orders(emulator, coid) == []


async def test_read_only_bridge_refuses_every_order(emulator, start_bridge, publish, redis_url):
    await started(start_bridge, read_only=True)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid))
    events = await eventually(lambda: order_events(redis_url, coid), message="refusal")
    assert types_of(events) == ["OrderRejected"]
    assert "read_only" in events[0].reason
    assert emulator_orders(emulator, coid) == []


@pytest.mark.parametrize(("mode", "code"), [("reject", 201), ("inactive", None)])
async def test_order_ib_rejects_is_reported_rejected_with_its_code(
    emulator, start_bridge, publish, redis_url, mode, code
):
    await started(start_bridge)
    emulator.faults.reject_next(1, code=201, reason="Order rejected - margin", mode=mode)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid))
    await eventually(
        lambda: "OrderRejected" in types_of(order_events(redis_url, coid)), message="rejection"
    )
    rejection = next(e for e in order_events(redis_url, coid) if e.type == "OrderRejected")
    if code is not None:
        assert rejection.code == code
    assert "OrderFilled" not in types_of(order_events(redis_url, coid))
    assert len(emulator_orders(emulator, coid)) == 1


async def test_partial_fills_are_published_once_each_with_cumulative_quantity(
    emulator, start_bridge, publish, redis_url
):
    await started(start_bridge)
    emulator.faults.partial_fills(0.25)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, quantity=8))
    await eventually(
        lambda: any(
            e.type == "OrderFilled" and e.cumulative_quantity == 8
            for e in order_events(redis_url, coid)
        ),
        message="complete fill",
    )
    fills = [e for e in order_events(redis_url, coid) if e.type == "OrderFilled"]
    assert [f.cumulative_quantity for f in fills] == [2, 4, 6, 8]
    assert set(fills_by_exec(redis_url, coid)) == emulator_exec_ids(emulator, coid)
    assert all(n == 1 for n in fills_by_exec(redis_url, coid).values())


async def test_cancel_order_cancels_a_working_order(emulator, start_bridge, publish, redis_url):
    await started(start_bridge)
    emulator.faults.hold_fills(True)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid))
    await eventually(
        lambda: "OrderAccepted" in types_of(order_events(redis_url, coid)), message="accepted"
    )
    await publish(
        CancelOrder(
            source="test", valid_until=utc_now() + timedelta(seconds=30), client_order_id=coid
        )
    )
    await eventually(
        lambda: "OrderCancelled" in types_of(order_events(redis_url, coid)), message="cancelled"
    )
    emulator.faults.hold_fills(False)


async def test_positions_in_portfolio_view_match_the_emulator_after_trading(
    emulator, start_bridge, publish, redis_url
):
    await started(start_bridge)
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, symbol="AAPL", quantity=3))
    await eventually(lambda: fills_by_exec(redis_url, coid), message="fill")

    async def matches() -> bool:
        view = await get_portfolio(redis_url, ACCOUNT)
        ours = {p.symbol: p.quantity for p in view.positions}
        return ours == emulator_positions(emulator, ACCOUNT)

    for _ in range(50):
        if await matches():
            break
    assert await matches()
    assert emulator_positions(emulator, ACCOUNT)["AAPL"] == Decimal(3)
