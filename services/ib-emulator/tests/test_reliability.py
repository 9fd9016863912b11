"""Issue 18: strings that would shift the wire fields, the admin API's address, fresh quotes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ib_async import IB, MarketOrder, Stock

from ib_emulator import Emulator, default_scenario
from ib_emulator.main import parse_args
from ib_emulator.scenario import MarketHoursSpec

from .conftest import stock, wait_for

ACCT = "DU1000001"


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: seen.append((req_id, code, msg))
    return seen


@pytest.mark.parametrize("order_ref", ["plan\x00.1.0", "plan\x000", "x\x00\x00\x00y"])
async def test_a_nul_inside_a_string_field_is_refused_never_read_shifted(
    emulator: Emulator, ib: IB, order_ref: str
) -> None:
    seen = errors_of(ib)
    trade = ib.placeOrder(
        await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT, orderRef=order_ref)
    )
    await wait_for(lambda: any(r == trade.order.orderId for r, _c, _m in seen), message="error")
    [(_, code, text)] = [e for e in seen if e[0] == trade.order.orderId]
    assert code == 321
    assert "placeOrder" in text or "field" in text
    assert emulator.broker.orders == []
    assert ib.isConnected()


async def test_a_control_character_in_a_string_field_is_refused_with_the_request_id(
    emulator: Emulator, ib: IB
) -> None:
    seen = errors_of(ib)
    trade = ib.placeOrder(
        await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT, orderRef="bad\x01ref")
    )
    await wait_for(lambda: seen, message="error")
    assert seen[0][:2] == (trade.order.orderId, 321)
    assert "Invalid symbol in string" in seen[0][2]
    assert emulator.broker.orders == []


async def test_a_nul_in_a_market_data_request_is_refused(ib: IB) -> None:
    seen = errors_of(ib)
    spy = await stock(ib, "SPY")
    bad = Stock(conId=spy.conId, symbol="SP\x00Y", exchange="SMART", currency="USD")
    req_id = ib.client.getReqId()
    ib.client.reqMktData(req_id, bad, "", False, False, [])
    await wait_for(lambda: any(r == req_id for r, _c, _m in seen), message="error")
    assert [c for r, c, _m in seen if r == req_id] == [321]


async def test_tabs_and_unicode_in_an_order_ref_still_trade(emulator: Emulator, ib: IB) -> None:
    trade = ib.placeOrder(
        await stock(ib, "SPY"), MarketOrder("BUY", 1, account=ACCT, orderRef="rééquilibrage\t1")
    )
    await wait_for(lambda: trade.orderStatus.status == "Filled", message="fill")
    assert emulator.orders()[0]["order_ref"] == "rééquilibrage\t1"


# ------------------------------------------------------------------ admin address
async def test_admin_api_listens_on_loopback_even_when_the_api_listens_everywhere() -> None:
    async with Emulator(host="0.0.0.0", admin_port=0) as emu:
        assert emu.admin_address is not None
        assert emu.admin_address[0] == "127.0.0.1"


async def test_admin_api_address_is_a_setting() -> None:
    async with Emulator(admin_port=0, admin_host="localhost") as emu:
        assert emu.admin_address is not None
        assert emu.admin_address[0] in ("127.0.0.1", "::1")


def test_console_script_admin_host_defaults_to_loopback() -> None:
    args = parse_args(["--host", "0.0.0.0"])
    assert args.admin_host == "127.0.0.1"
    assert parse_args(["--admin-host", "0.0.0.0"]).admin_host == "0.0.0.0"


# ------------------------------------------------------------------- fresh quotes
def fast_prints(every: float = 0.05):  # type: ignore[no-untyped-def]
    s = default_scenario()
    return s.model_copy(
        update={"prices": s.prices.model_copy(update={"trade_print_seconds": every})}
    )


async def test_static_prices_keep_printing_so_quote_times_advance() -> None:
    async with Emulator(fast_prints()) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        ticker = ib.reqMktData(await stock(ib, "SPY"))
        await wait_for(lambda: ticker.last == 560.10, message="first tick")
        first = ticker.time
        await wait_for(lambda: ticker.time > first and ticker.volume > 0, message="a print")
        assert ticker.last == 560.10  # the price did not move; the quote is fresh anyway
        assert ticker.lastTimestamp is not None
        ib.disconnect()


async def test_a_closed_market_prints_nothing() -> None:
    saturday = datetime(2026, 12, 26, 15, 0, tzinfo=UTC)
    scenario = fast_prints().model_copy(update={"market_hours": MarketHoursSpec()})
    async with Emulator(scenario, clock=lambda: saturday) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        ticker = ib.reqMktData(await stock(ib, "SPY"))
        await wait_for(lambda: ticker.last == 560.10, message="first tick")
        await asyncio.sleep(0.3)  # six print periods
        assert ticker.volume != ticker.volume or ticker.volume in (0, -1)  # NaN: no print
        ib.disconnect()
