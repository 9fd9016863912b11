"""The order life cycle as ib_async reports it: every order type, fills, cancels, lookups."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import IB, ExecutionFilter, LimitOrder, MarketOrder, Order, TagValue
from ib_emulator import Emulator

from .conftest import Connect, stock, wait_for

ACCT = "DU1000001"


def filled_with_commission(trade) -> bool:  # type: ignore[no-untyped-def]
    return (
        trade.orderStatus.status == "Filled"
        and bool(trade.fills)
        and all(f.commissionReport.execId for f in trade.fills)
    )


async def test_market_buy_fills_at_ask_and_reports_commission(emulator: Emulator, ib: IB) -> None:
    spy = await stock(ib, "SPY")
    ask = emulator.market.quote("SPY").ask
    trade = ib.placeOrder(spy, MarketOrder("BUY", 10, account=ACCT, orderRef="rb-1"))
    await wait_for(lambda: filled_with_commission(trade), message="fill + commission")
    [fill] = trade.fills
    assert fill.execution.price == float(ask)
    assert fill.execution.side == "BOT"
    assert fill.execution.orderRef == "rb-1"
    assert fill.commissionReport.commission == pytest.approx(1.0)  # 10 x 0.005 -> minimum
    assert trade.order.permId > 0
    assert trade.order.account == ACCT
    statuses = [e.status for e in trade.log]
    assert "Submitted" in statuses
    assert statuses[-1] == "Filled"


async def test_market_sell_fills_at_bid_and_realizes_pnl(emulator: Emulator, ib: IB) -> None:
    spy = await stock(ib, "SPY")
    bid = float(emulator.market.quote("SPY").bid)
    trade = ib.placeOrder(spy, MarketOrder("SELL", 40, account=ACCT))
    await wait_for(lambda: filled_with_commission(trade), message="fill")
    fill = trade.fills[0]
    assert fill.execution.price == bid
    assert fill.commissionReport.realizedPNL == pytest.approx(40 * (bid - 480.12) - 1.0)
    await wait_for(
        lambda: any(p.position == 60 for p in ib.positions(ACCT) if p.contract.symbol == "SPY"),
        message="position update",
    )


async def test_fill_moves_cash_in_account_values(emulator: Emulator, connect: Connect) -> None:
    ib = await connect(account=ACCT)
    trade = ib.placeOrder(await stock(ib, "BND"), MarketOrder("BUY", 100, account=ACCT))
    await wait_for(lambda: filled_with_commission(trade), message="fill")
    cost = 100 * trade.fills[0].execution.price + trade.fills[0].commissionReport.commission

    def cash() -> float:
        return float(
            ib.accountValues(ACCT)
            and next(
                v.value
                for v in ib.accountValues(ACCT)
                if v.tag == "TotalCashValue" and not v.modelCode
            )
        )

    await wait_for(lambda: cash() == pytest.approx(25000 - cost), message="cash update")


async def test_limit_order_waits_until_marketable_then_fills_at_the_touch(
    emulator: Emulator, ib: IB
) -> None:
    qqq = await stock(ib, "QQQ")
    trade = ib.placeOrder(qqq, LimitOrder("BUY", 5, 470.00, account=ACCT, tif="GTC"))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="working")
    await asyncio.sleep(0.1)
    assert not trade.fills
    emulator.set_price("QQQ", last=469)
    await wait_for(lambda: filled_with_commission(trade), message="fill after move")
    assert trade.fills[0].execution.price <= 470.00


async def test_cancel_leaves_order_cancelled(ib: IB) -> None:
    qqq = await stock(ib, "QQQ")
    trade = ib.placeOrder(qqq, LimitOrder("BUY", 5, 400.00, account=ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="working")
    ib.cancelOrder(trade.order)
    await wait_for(lambda: trade.orderStatus.status == "Cancelled", message="cancelled")
    assert trade.isDone()


async def test_midprice_order_fills_at_the_midpoint(emulator: Emulator, ib: IB) -> None:
    emulator.set_price("IWM", bid=215.00, ask=215.10)
    order = Order(action="BUY", totalQuantity=3, orderType="MIDPRICE", account=ACCT)
    trade = ib.placeOrder(await stock(ib, "IWM"), order)
    await wait_for(lambda: filled_with_commission(trade), message="fill")
    assert trade.fills[0].execution.price == pytest.approx(215.05)


@pytest.mark.parametrize(
    ("priority", "expected"), [("Urgent", 215.08), ("Normal", 215.06), ("Patient", 215.04)]
)
async def test_adaptive_algo_price_depends_on_priority(
    emulator: Emulator, ib: IB, priority: str, expected: float
) -> None:
    emulator.set_price("IWM", bid=215.00, ask=215.08)
    order = MarketOrder(
        "BUY", 2, account=ACCT, algoStrategy="Adaptive",
        algoParams=[TagValue("adaptivePriority", priority)],
    )  # fmt: skip
    trade = ib.placeOrder(await stock(ib, "IWM"), order)
    await wait_for(lambda: filled_with_commission(trade), message="fill")
    assert trade.fills[0].execution.price == pytest.approx(expected)
    [back] = [t for t in ib.trades() if t is trade]
    assert back.order.algoStrategy == "Adaptive"


async def test_fractional_quantity_fills_when_scenario_allows(ib: IB) -> None:
    trade = ib.placeOrder(await stock(ib, "VTI"), MarketOrder("BUY", 0.5, account=ACCT))
    await wait_for(lambda: filled_with_commission(trade), message="fill")
    assert trade.fills[0].execution.shares == 0.5


async def test_outside_rth_and_tif_round_trip_in_open_order(connect: Connect) -> None:
    ib = await connect()
    order = LimitOrder("BUY", 1, 100.00, account=ACCT, tif="GTC", outsideRth=True, orderRef="x")
    trade = ib.placeOrder(await stock(ib, "SPY"), order)
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="working")
    other = await connect()
    [seen] = [t for t in await other.reqAllOpenOrdersAsync() if t.order.orderRef == "x"]
    assert seen.order.tif == "GTC"
    assert seen.order.outsideRth is True
    assert seen.order.lmtPrice == 100.0


async def test_unknown_contract_order_is_cancelled_with_error_200(ib: IB) -> None:
    from ib_async import Stock

    bogus = Stock("NOPE", "SMART", "USD")
    bogus.conId = 999
    trade = ib.placeOrder(bogus, MarketOrder("BUY", 1, account=ACCT))
    await wait_for(trade.isDone, message="rejection")
    assert trade.log[-1].errorCode == 200


async def test_order_without_account_is_refused_when_two_accounts_are_managed(ib: IB) -> None:
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("BUY", 1))
    await wait_for(trade.isDone, message="rejection")
    assert trade.log[-1].errorCode == 436


async def test_other_clients_orders_are_seen_only_through_all_open_orders(
    connect: Connect,
) -> None:
    a, b = await connect(), await connect()
    seen_by_b: list[object] = []
    b.openOrderEvent += seen_by_b.append
    trade = a.placeOrder(await stock(a, "SPY"), LimitOrder("BUY", 1, 100.0, account=ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="working")
    await asyncio.sleep(0.1)
    assert seen_by_b == []
    all_open = await b.reqAllOpenOrdersAsync()
    assert [t.order.permId for t in all_open] == [trade.order.permId]


async def test_global_cancel_cancels_orders_of_every_client(connect: Connect) -> None:
    a, b = await connect(), await connect()
    ta = a.placeOrder(await stock(a, "SPY"), LimitOrder("BUY", 1, 100.0, account=ACCT))
    tb = b.placeOrder(await stock(b, "QQQ"), LimitOrder("BUY", 1, 100.0, account=ACCT))
    await wait_for(lambda: ta.orderStatus.status == tb.orderStatus.status == "Submitted")
    a.reqGlobalCancel()
    await wait_for(lambda: ta.orderStatus.status == tb.orderStatus.status == "Cancelled")


async def test_reconnect_sees_completed_orders_with_order_ref(connect: Connect) -> None:
    ib = await connect(client_id=31)
    trade = ib.placeOrder(
        await stock(ib, "GLD"), MarketOrder("BUY", 2, account=ACCT, orderRef="p1")
    )
    await wait_for(lambda: filled_with_commission(trade), message="fill")
    ib.disconnect()
    await asyncio.sleep(0.05)
    again = await connect(client_id=31)
    completed = await again.reqCompletedOrdersAsync(apiOnly=True)
    [done] = [t for t in completed if t.order.orderRef == "p1"]
    assert done.orderStatus.status == "Filled"
    assert done.order.permId == trade.order.permId
    assert done.order.account == ACCT


async def test_new_process_with_same_client_id_finds_open_order_by_order_ref_and_fills_it(
    emulator: Emulator, connect: Connect
) -> None:
    ib = await connect(client_id=41)
    order = LimitOrder("BUY", 3, 90.00, account="DU1000002", orderRef="plan-7.buy.TLT", tif="GTC")
    ib.placeOrder(await stock(ib, "TLT"), order)
    await wait_for(lambda: emulator.broker.open_orders(), message="order booked")
    ib.disconnect()
    await asyncio.sleep(0.05)
    fresh = await connect(client_id=41)  # startup sync re-reads this client's open orders
    [trade] = [t for t in fresh.openTrades() if t.order.orderRef == "plan-7.buy.TLT"]
    emulator.set_price("TLT", last=89.50)
    await wait_for(lambda: filled_with_commission(trade), message="fill seen by new process")
    fills = await fresh.reqExecutionsAsync(ExecutionFilter(clientId=41))
    assert [f.execution.orderRef for f in fills] == ["plan-7.buy.TLT"]
    assert trade.fills[0].commissionReport.commission > 0


async def test_executions_filter_by_symbol_and_side(connect: Connect) -> None:
    ib = await connect()
    spy, qqq = await stock(ib, "SPY"), await stock(ib, "QQQ")
    t1 = ib.placeOrder(spy, MarketOrder("BUY", 1, account=ACCT))
    t2 = ib.placeOrder(qqq, MarketOrder("SELL", 1, account="DU1000002"))
    await wait_for(lambda: filled_with_commission(t1) and filled_with_commission(t2))
    other = await connect()
    spy_fills = await other.reqExecutionsAsync(ExecutionFilter(symbol="SPY"))
    sells = await other.reqExecutionsAsync(ExecutionFilter(side="SELL"))
    assert [f.contract.symbol for f in spy_fills] == ["SPY"]
    assert [f.execution.side for f in sells] == ["SLD"]
    # ib_async keeps commission reports on the Fill objects of its startup sync; later
    # reqExecutions answers for the same execIds come back as fresh Fill objects.
    assert all(f.commissionReport.commission > 0 for f in other.fills())
    assert len(other.fills()) == 2


async def test_what_if_reports_margin_and_commission_impact(ib: IB) -> None:
    state = await ib.whatIfOrderAsync(await stock(ib, "SPY"), MarketOrder("BUY", 100, account=ACCT))
    assert float(state.initMarginChange) > 0
    assert state.commission == pytest.approx(1.0)
    assert float(state.equityWithLoanAfter) < float(state.equityWithLoanBefore)


async def test_modifying_a_working_order_changes_its_limit(ib: IB) -> None:
    trade = ib.placeOrder(await stock(ib, "SPY"), LimitOrder("BUY", 1, 100.00, account=ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="working")
    trade.order.lmtPrice = 600.00
    ib.placeOrder(trade.contract, trade.order)
    await wait_for(lambda: filled_with_commission(trade), message="fill after modify")


async def test_duplicate_order_id_of_a_done_order_gets_103(ib: IB) -> None:
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT))
    await wait_for(trade.isDone, message="fill")
    errors: list[int] = []
    ib.errorEvent += lambda r, code, m, c: errors.append(code)
    ib.client.placeOrder(trade.order.orderId, trade.contract, trade.order)
    await wait_for(lambda: 103 in errors, message="error 103")
