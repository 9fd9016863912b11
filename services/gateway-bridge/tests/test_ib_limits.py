"""IB's other limits, respected by the bridge: market data lines, open orders per contract and side."""

from __future__ import annotations

from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    emulator_orders,
    eventually,
    get_portfolio,
    new_plan,
    order_events,
    submit,
    types_of,
)
from shared.contracts.base import Side

HELD = {"SPY", "BND", "VXUS", "GLD", "QQQ", "VTI", "TLT", "AAPL"}  # both accounts' positions


def lines_at_ib(emulator) -> int:  # type: ignore[no-untyped-def]
    return sum(len(s.subs.market_data) for s in emulator.sessions)


async def test_market_data_stays_within_the_lines_and_held_symbols_keep_theirs(
    emulator, start_bridge, redis_url
):
    service = await start_bridge(max_market_data_lines=10)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    await eventually(lambda: lines_at_ib(emulator) == len(HELD), message="held symbols streaming")

    view = await get_portfolio(redis_url, ACCOUNT, ("IEF", "IWM", "EFA", "EEM"))
    quotes = {q.symbol: q.status for q in view.quotes}
    assert lines_at_ib(emulator) <= 10
    assert sorted(quotes[s] for s in ("IEF", "IWM", "EFA", "EEM")) == ["missing"] * 2 + ["ok"] * 2
    assert all(quotes[s] == "ok" for s in ("SPY", "BND", "VXUS", "GLD"))

    # A later request takes the line of the least recently used symbol nobody holds, once
    # that one's requester is done with it (quote_timeout_s).
    async def vnq_quoted() -> bool:
        view = await get_portfolio(redis_url, ACCOUNT, ("VNQ",))
        return {q.symbol: q.status for q in view.quotes}["VNQ"] == "ok"

    for _ in range(20):
        if await vnq_quoted():
            break
    assert await vnq_quoted()
    assert lines_at_ib(emulator) <= 10
    streaming = set(service.bridge.state._tickers)
    assert streaming >= HELD


async def test_an_order_beyond_the_open_orders_per_contract_and_side_is_refused(
    emulator, start_bridge, publish, redis_url
):
    service = await start_bridge(max_open_orders_per_contract_side=3, command_wait_s=1.0)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    emulator.faults.hold_fills(True)  # they stay open
    plan = new_plan()
    buys = [f"{plan}.{n}.0" for n in range(4)]
    for coid in buys:
        await publish(submit(coid, symbol="IWM", quantity=1))
    events = await eventually(lambda: order_events(redis_url, buys[3]), message="4th answered")
    assert types_of(events) == ["OrderRejected"]
    assert events[0].reason.startswith("too_many_open_orders")
    assert [len(emulator_orders(emulator, c)) for c in buys] == [1, 1, 1, 0]

    sell = f"{plan}.9.0"  # the other side has its own limit
    await publish(submit(sell, symbol="IWM", side=Side.SELL, quantity=1))
    await eventually(lambda: emulator_orders(emulator, sell), message="the sell at IB")

    # Once one ends, the next may go.
    emulator.faults.hold_fills(False)
    later = f"{plan}.4.0"
    await eventually(
        lambda: service.bridge.journal.open_orders(ACCOUNT, "IWM", "BUY") == 0, message="filled"
    )
    await publish(submit(later, symbol="IWM", quantity=1))
    await eventually(lambda: emulator_orders(emulator, later), message="a new order at IB")
