"""Qualifying contracts and market data as ib_async sees them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ib_async import IB, RequestError, Stock
from ib_emulator import Emulator, default_scenario

from .conftest import stock, wait_for


async def test_qualify_fills_in_con_id_and_primary_exchange(ib: IB) -> None:
    spy, aapl = Stock("SPY", "SMART", "USD"), Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(spy, aapl)
    assert (spy.conId, spy.primaryExchange) == (756733, "ARCA")
    assert (aapl.conId, aapl.tradingClass) == (265598, "NMS")


async def test_contract_details_report_etf_stock_type_and_size_rules(ib: IB) -> None:
    [details] = await ib.reqContractDetailsAsync(Stock("VTI", "SMART", "USD"))
    assert details.stockType == "ETF"
    assert details.minTick == 0.01
    assert details.longName.startswith("VANGUARD")


async def test_unknown_symbol_fails_with_error_200(ib: IB) -> None:
    with pytest.raises(RequestError) as err:
        await ib.reqContractDetailsAsync(Stock("NOPE", "SMART", "USD"))
    assert err.value.code == 200


async def test_qualify_of_unknown_symbol_gives_none_without_raising(ib: IB) -> None:
    ib.RaiseRequestErrors = False
    result = await ib.qualifyContractsAsync(Stock("NOPE", "SMART", "USD"))
    assert result == [None]


async def test_snapshot_has_bid_ask_last_close_and_live_type(ib: IB) -> None:
    [t] = await ib.reqTickersAsync(await stock(ib, "SPY"))
    assert t.bid < t.last < t.ask
    assert t.close == pytest.approx(560.10)
    assert t.marketDataType == 1


async def test_streaming_ticker_follows_price_changes(emulator: Emulator, ib: IB) -> None:
    contract = await stock(ib, "QQQ")
    ticker = ib.reqMktData(contract)
    await wait_for(lambda: ticker.last == pytest.approx(480.25), message="first tick")
    emulator.set_price("QQQ", last=490)
    await wait_for(lambda: ticker.last == 490 and ticker.bid < 490 < ticker.ask, message="move")
    ib.cancelMktData(contract)


async def test_random_walk_moves_streaming_prices(connect_seeded_walk: tuple[Emulator, IB]) -> None:
    _emu, ib = connect_seeded_walk
    ticker = ib.reqMktData(await stock(ib, "SPY"))
    await wait_for(lambda: ticker.last > 0, message="first tick")
    first = ticker.last
    await wait_for(lambda: ticker.last != first, within=3, message="a random-walk step")


@pytest.fixture
async def connect_seeded_walk():  # type: ignore[no-untyped-def]
    scenario = default_scenario()
    prices = scenario.prices.model_copy(update={"model": "random_walk", "step_seconds": 0.05})
    emu = Emulator(scenario.model_copy(update={"prices": prices}), seed=3)
    await emu.start()
    ib = IB()
    await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
    yield emu, ib
    ib.disconnect()
    await emu.stop()


async def test_delayed_scenario_serves_delayed_ticks_after_market_data_type_3(
    tmp_path: Path,
) -> None:
    scenario = default_scenario().model_copy(update={"market_data_type": "delayed"})
    async with Emulator(scenario) as emu:
        ib = IB()
        ib.RaiseRequestErrors = True
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        ib.reqMarketDataType(3)
        [t] = await ib.reqTickersAsync(await stock(ib, "SPY"))
        assert t.marketDataType == 3
        assert t.last == pytest.approx(560.10)
        assert t.bid > 0
        ib.disconnect()


async def test_delayed_scenario_refuses_live_request_with_354() -> None:
    scenario = default_scenario().model_copy(update={"market_data_type": "delayed"})
    async with Emulator(scenario) as emu:
        ib = IB()
        errors: list[int] = []
        ib.errorEvent += lambda r, code, m, c: errors.append(code)
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        ib.reqMktData(await stock(ib, "SPY"))
        await wait_for(lambda: 354 in errors, message="error 354")
        ib.disconnect()


async def test_nan_fault_makes_prices_missing(emulator: Emulator, ib: IB) -> None:
    emulator.faults.nan_prices(True)
    [t] = await ib.reqTickersAsync(await stock(ib, "SPY"))
    assert math.isnan(t.bid)
    assert math.isnan(t.ask)
    emulator.faults.nan_prices(False)
