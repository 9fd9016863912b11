"""Several currencies over the wire, with ib_async: the built-in multi_currency scenario.

Accounts DU2000001 (EUR base, margin), DU2000002 (CAD base, cash) and DU2000003 (GBP base).
EUR.USD quotes bid 1.08497 / ask 1.08502 (mid 1.084995): 1 USD = 0.9216632 EUR.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ib_async import IB, Forex, LimitOrder, MarketOrder, Order, Stock

from ib_emulator import Emulator
from ib_emulator.scenario import Scenario, builtin_scenario

from .conftest import _client_ids, wait_for

EUR_ACCT, CAD_ACCT, GBP_ACCT = "DU2000001", "DU2000002", "DU2000003"
EURUSD_BID, EURUSD_ASK = 1.08497, 1.08502
USD_IN_EUR = 1 / 1.084995


@pytest.fixture
async def ib(fx_emulator: Emulator) -> AsyncIterator[IB]:
    client = IB()
    client.RaiseRequestErrors = True
    await client.connectAsync(
        "127.0.0.1", fx_emulator.port, clientId=next(_client_ids), timeout=5, account=EUR_ACCT
    )
    yield client
    client.disconnect()


async def _filled(ib: IB, contract: object, order: Order) -> object:
    trade = ib.placeOrder(contract, order)  # type: ignore[arg-type]
    await wait_for(lambda: trade.isDone() and trade.fills, message="a fill")
    await wait_for(lambda: all(f.commissionReport.execId for f in trade.fills), message="report")
    return trade


def _values(ib: IB, account: str) -> dict[tuple[str, str], str]:
    return {(v.tag, v.currency): v.value for v in ib.accountValues(account)}


# --------------------------------------------------------------- FX contracts
async def test_an_fx_pair_qualifies_as_a_cash_contract_on_idealpro(ib: IB) -> None:
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    assert (eurusd.conId, eurusd.secType, eurusd.symbol, eurusd.currency) == (
        12087792, "CASH", "EUR", "USD"
    )  # fmt: skip
    assert (eurusd.localSymbol, eurusd.tradingClass, eurusd.exchange) == (
        "EUR.USD", "EUR.USD", "IDEALPRO"
    )  # fmt: skip
    [d] = await ib.reqContractDetailsAsync(eurusd)
    assert (d.minTick, d.validExchanges, d.marketName) == (0.00005, "IDEALPRO", "EUR.USD")
    assert d.timeZoneId == "US/Eastern"
    assert d.sizeIncrement == 0.01


async def test_an_fx_quote_has_bid_and_ask_but_no_last(ib: IB) -> None:
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    [t] = await ib.reqTickersAsync(eurusd)
    assert (t.bid, t.ask, t.close) == (EURUSD_BID, EURUSD_ASK, 1.085)
    assert math.isnan(t.last)  # IDEALPRO reports no trades
    assert math.isnan(t.volume)
    assert t.marketPrice() == pytest.approx(1.084995)  # so clients fall back to the mid
    assert t.minTick == 0.00001  # quotes in 0.1 pip, orders in 0.5 pip


# --------------------------------------------------------------- FX orders
async def test_buying_eur_usd_adds_eur_takes_usd_and_charges_in_the_base_currency(
    fx_emulator: Emulator, ib: IB
) -> None:
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    trade = await _filled(ib, eurusd, MarketOrder("BUY", 30000, account=EUR_ACCT))
    [fill] = trade.fills  # type: ignore[attr-defined]
    assert (fill.execution.price, fill.execution.exchange) == (EURUSD_ASK, "IDEALPRO")
    # 0.2 bp of USD 32,550.60 is 0.65: the USD 2.00 minimum, in EUR at the mid
    assert fill.commissionReport.commission == pytest.approx(1.8433)
    assert fill.commissionReport.currency == "EUR"
    cash = fx_emulator.broker.accounts[EUR_ACCT].cash
    assert cash["EUR"] == Decimal("70000.00") - Decimal("1.8433")
    assert cash["USD"] == Decimal("15000.00") - 30000 * Decimal("1.08502")
    await wait_for(
        lambda: _values(ib, EUR_ACCT)[("CashBalance", "USD")] == "-17550.60",
        message="USD cash in account values",
    )
    [pos] = [p for p in ib.positions(EUR_ACCT) if p.contract.secType == "CASH"]
    assert (pos.contract.localSymbol, pos.position, pos.avgCost) == ("EUR.USD", 30000, 1.08502)


async def test_an_fx_order_below_idealpros_minimum_fills_as_an_odd_lot_at_a_worse_price(
    fx_emulator: Emulator, ib: IB
) -> None:
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    trade = await _filled(ib, eurusd, MarketOrder("BUY", 1000, account=EUR_ACCT))
    [fill] = trade.fills  # type: ignore[attr-defined]
    # USD 1,085 is below USD 25,000: not refused, routed to the odd-lot venue, where the
    # touch is 1 bp worse: 1.08502 x 1.0001 = 1.085128..., rounded up to 0.1 pip.
    assert (fill.execution.exchange, fill.execution.price) == ("IDEALFX", 1.08513)
    assert trade.orderStatus.status == "Filled"  # type: ignore[attr-defined]
    assert fx_emulator.orders()[0]["odd_lot"] is True
    sell = await _filled(ib, eurusd, MarketOrder("SELL", 1000, account=EUR_ACCT))
    assert sell.fills[0].execution.price == 1.08486  # type: ignore[attr-defined]  # bid-1bp, down


async def test_an_fx_limit_order_must_be_on_the_half_pip_and_fills_at_the_touch(
    fx_emulator: Emulator, ib: IB
) -> None:
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    errors: list[int] = []
    ib.errorEvent += lambda r, code, m, c: errors.append(code)
    ib.placeOrder(eurusd, LimitOrder("BUY", 50000, 1.08501, account=EUR_ACCT))
    await wait_for(lambda: 110 in errors, message="error 110 for a 0.1 pip limit")
    trade = ib.placeOrder(eurusd, LimitOrder("BUY", 50000, 1.0840, account=EUR_ACCT))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="working")
    fx_emulator.set_price("EUR.USD", bid="1.08380", ask="1.08385")
    await wait_for(lambda: trade.orderStatus.status == "Filled", message="filled at the touch")
    assert trade.fills[0].execution.price == 1.08385


async def test_an_fx_order_sized_in_the_quote_currency_with_cash_qty(
    fx_emulator: Emulator, ib: IB
) -> None:
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    order = MarketOrder("BUY", 0, account=EUR_ACCT)
    order.cashQty = 40000  # USD to spend
    trade = await _filled(ib, eurusd, order)
    # 40000 / 1.08502 = 36865.679..., down to the cent: 36865.67 EUR
    assert trade.fills[0].execution.shares == 36865.67  # type: ignore[attr-defined]
    assert trade.order.cashQty == 40000  # type: ignore[attr-defined]


async def test_a_what_if_fx_order_sized_by_cash_qty_reports_its_commission(ib: IB) -> None:
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    order = MarketOrder("BUY", 0, account=EUR_ACCT)
    order.cashQty = 40000
    state = await ib.whatIfOrderAsync(eurusd, order)
    assert (state.commission, state.commissionCurrency) == (pytest.approx(1.8433), "EUR")


async def test_fxconv_converts_without_opening_an_fx_position(
    fx_emulator: Emulator, ib: IB
) -> None:
    [pair] = await ib.qualifyContractsAsync(Forex("EURUSD", exchange="FXCONV"))
    assert pair.exchange == "FXCONV"
    await _filled(ib, pair, MarketOrder("SELL", 30000, account=EUR_ACCT))
    acct = fx_emulator.broker.accounts[EUR_ACCT]
    assert acct.cash["USD"] == Decimal("15000.00") + 30000 * Decimal("1.08497")
    assert not any(p.quantity for p in acct.fx_positions.values())


# ------------------------------------------------------- a CAD cash account
async def test_a_cad_cash_account_converts_before_it_can_buy_a_usd_etf(
    fx_emulator: Emulator, ib: IB
) -> None:
    [spy] = await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD"))
    refused = ib.placeOrder(spy, MarketOrder("BUY", 20, account=CAD_ACCT))
    await wait_for(refused.isDone, message="refusal")
    [entry] = [e for e in refused.log if e.errorCode]
    assert entry.errorCode == 201
    assert "holds 5000.00 USD" in entry.message
    # SPY's ask is 560.15: 20 x 560.15 + 1.00 = USD 11,204. Buy USD 7,000 with CAD first
    # (in USD.CAD the USD is the base currency, what the quantity counts).
    [usdcad] = await ib.qualifyContractsAsync(Forex("USDCAD"))
    fx = await _filled(ib, usdcad, MarketOrder("BUY", 7000, account=CAD_ACCT))
    [fx_fill] = fx.fills  # type: ignore[attr-defined]
    assert fx_fill.execution.exchange == "IDEALFX"  # USD 7,000: an odd lot
    trade = await _filled(ib, spy, MarketOrder("BUY", 20, account=CAD_ACCT))
    assert trade.orderStatus.status == "Filled"  # type: ignore[attr-defined]
    cash = fx_emulator.broker.accounts[CAD_ACCT].cash
    price = Decimal(str(fx_fill.execution.price))
    assert cash["USD"] == Decimal(12000) - (20 * Decimal("560.15") + 1) == Decimal(796)
    # CAD: paid 7,000 at the odd-lot price, and the FX commission: USD 2.00 in CAD at the mid
    fx_fee = (Decimal(2) * fx_emulator.market.mid("USD.CAD")).quantize(Decimal("0.0001"))
    assert cash["CAD"] == Decimal(60000) - 7000 * price - fx_fee
    assert all(v >= 0 for v in cash.values())


# ------------------------------------------------------ stocks in EUR and GBp
async def test_a_eur_etf_on_ibis_fills_in_eur_with_a_eur_commission(
    fx_emulator: Emulator, ib: IB
) -> None:
    [exs1] = await ib.qualifyContractsAsync(Stock("EXS1", "SMART", "EUR"))
    assert (exs1.primaryExchange, exs1.currency) == ("IBIS", "EUR")
    [d] = await ib.reqContractDetailsAsync(exs1)
    assert d.timeZoneId == "Europe/Berlin"
    trade = await _filled(ib, exs1, MarketOrder("BUY", 10, account=EUR_ACCT))
    [fill] = trade.fills  # type: ignore[attr-defined]
    assert (fill.execution.exchange, fill.execution.price) == ("IBIS", 180.52)
    # 0.05% of EUR 1,805.20 is 0.90: the EUR 3.00 minimum
    assert (fill.commissionReport.commission, fill.commissionReport.currency) == (3.0, "EUR")
    assert fx_emulator.broker.accounts[EUR_ACCT].cash["EUR"] == Decimal("40000") - Decimal(
        "1808.20"
    )


async def test_a_pence_quoted_line_quotes_and_fills_in_pence_and_books_in_pounds(
    fx_emulator: Emulator, ib: IB
) -> None:
    [isf] = await ib.qualifyContractsAsync(Stock("ISF", "SMART", "GBP"))
    [d] = await ib.reqContractDetailsAsync(isf)
    assert d.priceMagnifier == 100
    [t] = await ib.reqTickersAsync(isf)
    assert (t.bid, t.ask, t.last) == (844.9, 845.1, 845.0)  # pence
    trade = await _filled(ib, isf, MarketOrder("BUY", 100, account=GBP_ACCT))
    assert trade.fills[0].execution.price == 845.1  # type: ignore[attr-defined]  # pence
    cash = fx_emulator.broker.accounts[GBP_ACCT].cash
    assert cash["GBP"] == Decimal("30000") - Decimal("845.10") - 3  # pounds, and the fee
    await wait_for(lambda: any(p.position == 1100 for p in ib.positions(GBP_ACCT)), message="pos")
    [pos] = [p for p in ib.positions(GBP_ACCT) if p.contract.symbol == "ISF"]
    # (1000 x 7.80 + 100 x 8.451 + 3) / 1100 pounds per share
    assert pos.avgCost == pytest.approx((7800 + 845.1 + 3) / 1100)


# ------------------------------------------------------------ account data
async def test_net_liquidation_is_cash_and_positions_converted_at_the_exchange_rates(
    ib: IB,
) -> None:
    v = _values(ib, EUR_ACCT)
    assert v[("ExchangeRate", "USD")] == f"{USD_IN_EUR:.7g}" == "0.9216632"
    assert v[("ExchangeRate", "EUR")] == v[("ExchangeRate", "BASE")] == "1.00"
    # USD: 15,000 cash + VTI 60 x 275.40 + BND 100 x 73.20 = 38,844.00
    # EUR: 40,000 cash + EXS1 100 x 180.50 + IWDA 150 x 98.40 = 72,810.00
    assert v[("NetLiquidationByCurrency", "USD")] == "38844.00"
    assert v[("NetLiquidationByCurrency", "EUR")] == "72810.00"
    expected = 72810 + 38844 * USD_IN_EUR
    assert float(v[("NetLiquidation", "EUR")]) == pytest.approx(expected, abs=0.005)
    assert float(v[("NetLiquidationByCurrency", "BASE")]) == pytest.approx(expected, abs=0.005)
    assert float(v[("TotalCashValue", "EUR")]) == pytest.approx(
        40000 + 15000 * USD_IN_EUR, abs=0.005
    )
    assert ("CashBalance", "CAD") not in v


async def test_portfolio_rows_are_in_the_instruments_currency(ib: IB) -> None:
    rows = {p.contract.symbol: p for p in ib.portfolio(EUR_ACCT)}
    assert (rows["VTI"].contract.currency, rows["VTI"].marketValue) == ("USD", 16524.0)
    assert (rows["EXS1"].contract.currency, rows["EXS1"].marketValue) == ("EUR", 18050.0)
    assert rows["VTI"].unrealizedPNL == pytest.approx(60 * (275.40 - 250))  # USD


async def test_pnl_and_pnl_single_are_in_the_base_currency(fx_emulator: Emulator, ib: IB) -> None:
    [vti] = await ib.qualifyContractsAsync(Stock("VTI", "SMART", "USD"))
    single = ib.reqPnLSingle(EUR_ACCT, "", vti.conId)
    pnl = ib.reqPnL(EUR_ACCT)
    await wait_for(lambda: single.value == single.value and single.value > 0, message="pnl")
    assert single.value == pytest.approx(16524 * USD_IN_EUR, abs=0.01)
    fx_emulator.set_price("VTI", last="276.40")  # +1 USD on 60 shares
    await wait_for(
        lambda: single.dailyPnL == pytest.approx(60 * USD_IN_EUR, abs=0.01), message="daily"
    )
    await wait_for(lambda: pnl.dailyPnL == pytest.approx(60 * USD_IN_EUR, abs=0.01), message="a")


async def test_the_ledger_summary_lists_every_currency_and_base(ib: IB) -> None:
    rows = await ib.accountSummaryAsync(EUR_ACCT)
    ledger = {(r.tag, r.currency): r.value for r in rows if r.tag == "CashBalance"}
    assert set(ledger) == {("CashBalance", c) for c in ("EUR", "USD", "BASE")}
    nlv = [r for r in rows if r.tag == "NetLiquidation"]
    assert [r.currency for r in nlv] == ["EUR"]


# --------------------------------------------------- market hours by exchange
async def test_each_exchange_keeps_its_own_sessions() -> None:
    data = builtin_scenario("multi_currency").model_dump()
    data["exchanges"]["IBIS"]["hours"] = {"open": "09:00", "close": "17:30"}
    scenario = Scenario.model_validate(data)
    # 08:00 in Berlin on a Tuesday: Xetra not open yet, IDEALPRO (always open here) is
    clock = lambda: datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # noqa: E731
    async with Emulator(scenario, clock=clock) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=91, timeout=5)
        try:
            [exs1] = await ib.qualifyContractsAsync(Stock("EXS1", "SMART", "EUR"))
            [d] = await ib.reqContractDetailsAsync(exs1)
            assert d.liquidHours.split(";")[0] == "20261208:0900-20261208:1730"
            waiting = ib.placeOrder(exs1, MarketOrder("BUY", 1, account=EUR_ACCT))
            [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
            fx = ib.placeOrder(eurusd, MarketOrder("BUY", 30000, account=EUR_ACCT))
            await wait_for(lambda: fx.orderStatus.status == "Filled", message="FX fills")
            await wait_for(lambda: waiting.orderStatus.status == "PreSubmitted", message="held")
        finally:
            ib.disconnect()


async def test_stocks_print_trades_and_fx_pairs_never_do() -> None:
    data = builtin_scenario("multi_currency").model_dump()
    data["prices"]["trade_print_seconds"] = 0.05
    async with Emulator(Scenario.model_validate(data)) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=92, timeout=5)
        try:
            [exs1, eurusd] = await ib.qualifyContractsAsync(
                Stock("EXS1", "SMART", "EUR"), Forex("EURUSD")
            )
            stock, fx = ib.reqMktData(exs1), ib.reqMktData(eurusd)
            await wait_for(lambda: stock.volume >= 300, message="three prints on EXS1")
            assert (fx.bid, fx.ask) == (EURUSD_BID, EURUSD_ASK)
            assert math.isnan(fx.volume)
            assert math.isnan(fx.last)
        finally:
            ib.disconnect()
