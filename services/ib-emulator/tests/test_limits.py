"""Limits IB enforces: market data lines (101), working orders per side (201), snapshots."""

from __future__ import annotations

import pytest
from ib_async import IB, LimitOrder

from ib_emulator import Emulator, default_scenario
from ib_emulator.scenario import LimitsSpec

from .conftest import stock, wait_for
from .test_admin_api import http

ACCT = "DU1000001"
SYMBOLS = ["SPY", "QQQ", "VTI", "BND"]


def errors_of(ib: IB) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: seen.append((req_id, code))
    return seen


def limited(**limits: object) -> Emulator:
    scenario = default_scenario().model_copy(update={"limits": LimitsSpec(**limits)})  # type: ignore[arg-type]
    return Emulator(scenario, admin_port=0)


def test_defaults_are_ibs() -> None:
    assert Emulator().limits.snapshot() == {
        "market_data_lines": 100,
        "orders_per_contract_side": 20,
        "snapshot_seconds": 11.0,
    }


async def test_market_data_beyond_the_lines_gets_101_until_a_line_is_freed() -> None:
    async with limited(market_data_lines=3) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        seen = errors_of(ib)
        contracts = [await stock(ib, s) for s in SYMBOLS]
        tickers = [ib.reqMktData(c) for c in contracts[:3]]
        await wait_for(lambda: all(t.last > 0 for t in tickers), message="three lines")
        fourth = ib.reqMktData(contracts[3])
        await wait_for(lambda: any(code == 101 for _r, code in seen), message="error 101")
        assert fourth.last != fourth.last  # NaN: no data on the refused line
        ib.cancelMktData(contracts[0])
        again = ib.reqMktData(contracts[3])
        await wait_for(lambda: again.last > 0, message="a freed line serves the fourth")
        ib.disconnect()


async def test_lines_are_counted_across_clients() -> None:
    async with limited(market_data_lines=1) as emu:
        a, b = IB(), IB()
        await a.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        await b.connectAsync("127.0.0.1", emu.port, clientId=2, timeout=5)
        seen = errors_of(b)
        ta = a.reqMktData(await stock(a, "SPY"))
        await wait_for(lambda: ta.last > 0)
        b.reqMktData(await stock(b, "QQQ"))
        await wait_for(lambda: any(code == 101 for _r, code in seen), message="error 101")
        a.disconnect()
        b.disconnect()


async def test_snapshots_hold_a_line_for_their_window_and_the_window_can_be_switched_off() -> None:
    async with limited(market_data_lines=2) as emu:
        ib = IB()
        ib.RaiseRequestErrors = False
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        seen = errors_of(ib)
        spy, qqq, vti = [await stock(ib, s) for s in SYMBOLS[:3]]
        await ib.reqTickersAsync(spy, qqq)
        ib.reqMktData(vti, snapshot=True)
        await wait_for(lambda: any(code == 101 for _r, code in seen), message="error 101")
        status, body = await http(emu, "POST", "/limits", {"snapshot_seconds": None})
        assert (status, body["snapshot_seconds"]) == (200, None)
        [t] = await ib.reqTickersAsync(vti)
        assert t.last > 0
        ib.disconnect()


async def test_working_orders_per_contract_and_side_are_limited() -> None:
    async with limited(orders_per_contract_side=2) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        spy = await stock(ib, "SPY")
        working = [ib.placeOrder(spy, LimitOrder("BUY", 1, 100, account=ACCT)) for _ in range(2)]
        await wait_for(lambda: all(t.orderStatus.status == "Submitted" for t in working))
        third = ib.placeOrder(spy, LimitOrder("BUY", 1, 100, account=ACCT))
        await wait_for(third.isDone, message="refusal")
        assert third.log[-1].errorCode == 201
        assert "working orders" in third.log[-1].message
        sell = ib.placeOrder(spy, LimitOrder("SELL", 1, 900, account=ACCT))
        other = ib.placeOrder(await stock(ib, "QQQ"), LimitOrder("BUY", 1, 100, account=ACCT))
        await wait_for(lambda: sell.orderStatus.status == other.orderStatus.status == "Submitted")
        ib.cancelOrder(working[0].order)
        await wait_for(lambda: working[0].orderStatus.status == "Cancelled")
        fourth = ib.placeOrder(spy, LimitOrder("BUY", 1, 100, account=ACCT))
        await wait_for(lambda: fourth.orderStatus.status == "Submitted", message="room again")
        ib.disconnect()


async def test_limits_are_switchable_through_the_admin_api(emulator: Emulator) -> None:
    status, body = await http(emulator, "POST", "/limits", {"market_data_lines": None})
    assert (status, body["market_data_lines"]) == (200, None)
    status, body = await http(emulator, "POST", "/limits", {"orders_per_contract_side": 5})
    assert body["orders_per_contract_side"] == 5
    status, body = await http(emulator, "POST", "/limits", {"market_data_lines": -1})
    assert status == 400
    status, body = await http(emulator, "POST", "/limits", {"lines": 3})
    assert status == 400
    assert "market_data_lines" in body["error"]


async def test_account_update_period_is_settable_through_the_admin_api(
    emulator: Emulator,
) -> None:
    status, body = await http(emulator, "POST", "/settings", {"account_update_period_seconds": 1})
    assert (status, body) == (200, {"account_update_period_seconds": 1.0})
    assert emulator.account_update_period == 1.0
    status, body = await http(emulator, "POST", "/settings", {"account_update_period_seconds": 0})
    assert status == 400


@pytest.mark.parametrize("field", ["market_data_lines", "orders_per_contract_side"])
def test_a_negative_limit_in_a_scenario_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        LimitsSpec(**{field: -1})  # type: ignore[arg-type]
