"""Each fault, observed the way ib_async reports it."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import IB, LimitOrder, MarketOrder

from ib_emulator import Emulator

from .conftest import Connect, stock, wait_for

ACCT = "DU1000001"


def error_codes(ib: IB) -> list[int]:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    return codes


async def test_drop_connections_disconnects_every_client(
    emulator: Emulator, connect: Connect
) -> None:
    a, b = await connect(), await connect()
    assert emulator.faults.drop_connections() == 2
    await wait_for(lambda: not a.isConnected() and not b.isConnected(), message="disconnect")


@pytest.mark.parametrize("restore_code", [1101, 1102])
async def test_connectivity_lost_then_restored(
    emulator: Emulator, ib: IB, restore_code: int
) -> None:
    codes = error_codes(ib)
    emulator.faults.connectivity_lost(restore_after=0.1, restore_code=restore_code)
    await wait_for(lambda: codes == [1100, restore_code], message="1100 then restore")
    assert ib.isConnected()


async def test_refused_connections_during_restart_window(
    emulator: Emulator, connect: Connect
) -> None:
    ib = await connect()
    emulator.faults.refuse_connections(0.5)
    await wait_for(lambda: not ib.isConnected(), message="dropped")
    probe = IB()
    with pytest.raises(ConnectionRefusedError):
        await probe.connectAsync("127.0.0.1", emulator.port, clientId=99, timeout=1)

    async def reconnects() -> bool:
        try:
            await probe.connectAsync("127.0.0.1", emulator.port, clientId=99, timeout=1)
            return True
        except OSError:
            return False

    deadline = asyncio.get_running_loop().time() + 5
    while not await reconnects():
        assert asyncio.get_running_loop().time() < deadline, "never listened again"
        await asyncio.sleep(0.1)
    probe.disconnect()


async def test_rejected_order_is_cancelled_with_201_and_reason(emulator: Emulator, ib: IB) -> None:
    emulator.faults.reject_next(1, reason="Insufficient buying power")
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT))
    await wait_for(trade.isDone, message="rejection")
    assert trade.orderStatus.status == "Cancelled"
    assert trade.log[-1].errorCode == 201
    assert "Insufficient buying power" in trade.log[-1].message
    second = ib.placeOrder(trade.contract, MarketOrder("BUY", 1, account=ACCT))
    await wait_for(lambda: second.orderStatus.status == "Filled", message="next order fills")
    [row] = [o for o in emulator.orders() if o["order_id"] == trade.order.orderId]
    assert row["status"] == "Rejected"


async def test_inactive_fault_leaves_order_inactive(emulator: Emulator, ib: IB) -> None:
    emulator.faults.reject_next(1, mode="inactive", code=201, reason="Not allowed")
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Inactive", message="inactive")


async def test_held_fills_keep_orders_working_until_released(emulator: Emulator, ib: IB) -> None:
    emulator.faults.hold_fills(True)
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="working")
    await asyncio.sleep(0.2)
    assert not trade.fills
    emulator.faults.hold_fills(False)
    await wait_for(lambda: trade.orderStatus.status == "Filled", message="released fill")


async def test_partial_fills_arrive_in_slices(emulator: Emulator, ib: IB) -> None:
    emulator.faults.partial_fills(0.25)
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("BUY", 8, account=ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Filled", message="all slices")
    assert [f.execution.shares for f in trade.fills] == [2, 2, 2, 2]
    assert sum(f.commissionReport.commission for f in trade.fills) == pytest.approx(1.0)
    assert any(e.status == "Submitted" and e.message.startswith("Fill") for e in trade.log)


async def test_delayed_acknowledgement_keeps_order_pending(emulator: Emulator, ib: IB) -> None:
    emulator.faults.delay_acks(0.3)
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT))
    await asyncio.sleep(0.15)
    assert trade.orderStatus.status == "PendingSubmit"
    await wait_for(lambda: trade.orderStatus.status == "Filled", message="late ack and fill")


async def test_pacing_violation_gives_error_100_then_disconnects(
    emulator: Emulator, ib: IB
) -> None:
    emulator.faults.pacing(True, limit=5, max_violations=1)
    codes = error_codes(ib)
    ib.client.MaxRequests = 0  # switch off ib_async's own throttle to abuse the limit
    for _ in range(10):
        ib.client.reqCurrentTime()
    await wait_for(lambda: 100 in codes, message="error 100")
    await asyncio.sleep(1.05)
    for _ in range(10):
        ib.client.reqCurrentTime()
    await wait_for(lambda: not ib.isConnected(), message="disconnect after abuse")


async def test_competing_session_sends_10197_per_subscription(emulator: Emulator, ib: IB) -> None:
    codes = error_codes(ib)
    ib.reqMktData(await stock(ib, "SPY"))
    await wait_for(lambda: emulator.faults.competing_session() == 1, message="subscription")
    await wait_for(lambda: 10197 in codes, message="10197")


async def test_reset_clears_faults(emulator: Emulator, ib: IB) -> None:
    emulator.faults.hold_fills(True)
    emulator.faults.reject_next(3)
    emulator.faults.reset()
    trade = ib.placeOrder(await stock(ib, "SPY"), LimitOrder("BUY", 1, 600, account=ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Filled", message="fill")
