"""Cancels reach only the order they name: never by an IB order id from an earlier session.

IB hands out order ids per client id as "one above the highest it has seen". An order whose
bytes never reached IB (lost in a disconnect) leaves its reserved id unused at IB, so after a
reconnect IB offers that id again. The journal still holds it for the lost order: cancelling by
it would cancel whichever order holds the id now, possibly another account's live order.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from gateway_bridge.journal import NewOrder, SqliteOrderJournal
from gateway_bridge.lifecycle import OrderState
from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    OTHER_ACCOUNT,
    emulator_orders,
    eventually,
    new_plan,
    order_events,
    submit,
    types_of,
)
from shared.contracts.base import utc_now
from shared.contracts.order_commands import CancelOrder, OrderType


async def test_a_journaled_order_id_is_never_handed_out_again_after_a_restart(
    emulator, start_bridge, publish, redis_url, tmp_path
):
    # Order A was reserved id 500 and journaled SENT by an earlier run; its bytes never reached
    # IB (lost in a disconnect), so IB's nextValidId knows nothing of 500.
    lost = f"{new_plan()}.0.0"
    journal = SqliteOrderJournal(tmp_path / "bridge" / "orders.sqlite3")
    journal.record_intent(
        NewOrder(lost, lost.split(".")[0], ACCOUNT, "SPY", "BUY", Decimal(5), "{}"), 500
    )
    journal.transition(lost, OrderState.SENT)
    journal.close()
    assert emulator.broker.next_valid_id(17) < 500

    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    fresh = f"{new_plan()}.0.0"
    await publish(submit(fresh, account=OTHER_ACCOUNT))
    await eventually(lambda: emulator_orders(emulator, fresh), message="order at IB")
    [placed] = emulator_orders(emulator, fresh)
    assert placed["order_id"] > 500


async def test_cancel_never_goes_by_a_stale_order_id_to_the_order_now_holding_it(
    emulator, start_bridge, publish, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    # Another account's resting limit order holds IB order id N ...
    live = f"{new_plan()}.0.0"
    await publish(
        submit(live, account=OTHER_ACCOUNT, order_type=OrderType.LIMIT, limit_price="1.00")
    )
    await eventually(
        lambda: "OrderAccepted" in types_of(order_events(redis_url, live)), message="live order"
    )
    [placed] = emulator_orders(emulator, live)
    # ... and the journal holds N for an order of an earlier session that IB never received
    # (the state an id reused after a reconnect leaves).
    stale = f"{new_plan()}.0.0"
    service.bridge.journal.record_intent(
        NewOrder(stale, stale.split(".")[0], ACCOUNT, "SPY", "BUY", Decimal(5), "{}"),
        placed["order_id"],
    )
    service.bridge.journal.transition(stale, OrderState.SENT)

    await publish(
        CancelOrder(
            source="test",
            valid_until=utc_now() + timedelta(seconds=30),
            client_order_id=stale,
            account_id=ACCOUNT,
        )
    )
    await eventually(
        lambda: (
            service.bridge.metrics.orders.labels(ACCOUNT, "cancel_not_open")._value.get() >= 1
            or emulator_orders(emulator, live)[0]["status"] == "Cancelled"
        ),
        message="the cancel handled",
    )
    [still] = emulator_orders(emulator, live)
    assert still["status"] != "Cancelled", (
        "a cancel by a stale id cancelled another account's order"
    )
    assert "OrderCancelled" not in types_of(order_events(redis_url, live))
