"""The emulator as three TWS API clients see it: ib_async, ib_insync and IB's own ibapi.

One suite, parametrized over the client adapters of clients.py: every check runs against
each client, so the emulator is right for the protocol, not for one library's leniency.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ib_emulator import Emulator

from .clients import CLIENT_NAMES, Client, ClientRefused, Instrument, eventually, make_client

ACCT = "DU1000001"
_ids = itertools.count(200)
# The multi_currency scenario: a EUR-base margin account holding USD and EUR.
EUR_ACCT = "DU2000001"
EURUSD = Instrument("CASH", "EUR", "IDEALPRO", "USD")
EXS1 = Instrument("STK", "EXS1", "SMART", "EUR")


@pytest.fixture(params=CLIENT_NAMES)
def client_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def connect(emulator: Emulator, client_name: str) -> AsyncIterator:  # type: ignore[type-arg]
    """Connect clients of the parametrized kind; all are disconnected afterwards."""
    made: list[Client] = []

    async def _connect(client_id: int | None = None) -> Client:
        c = make_client(client_name)
        await c.connect(emulator.port, next(_ids) if client_id is None else client_id)
        made.append(c)
        return c

    yield _connect
    for c in made:
        c.disconnect()


@pytest.fixture
async def client(connect) -> Client:  # type: ignore[no-untyped-def]
    return await connect()


@pytest.fixture
async def fx_client(fx_emulator: Emulator, client_name: str) -> AsyncIterator[Client]:
    """A client of the parametrized kind, connected to the multi_currency scenario."""
    c = make_client(client_name)
    await c.connect(fx_emulator.port, next(_ids))
    yield c
    c.disconnect()


async def test_handshake_agrees_on_server_version_176_and_lists_the_accounts(
    client: Client,
) -> None:
    assert client.server_version() == 176
    assert client.managed_accounts() == ["DU1000001", "DU1000002"]
    assert {code for _r, code in client.errors()} >= {2104, 2106, 2158}


async def test_positions_of_every_account(client: Client) -> None:
    held = {(a, s): (con_id, qty, cost) for a, s, con_id, qty, cost in await client.positions()}
    assert held[(ACCT, "SPY")] == (756733, 100, pytest.approx(480.12))
    assert ("DU1000002", "AAPL") in held


async def test_contract_details_with_trading_and_liquid_hours(client: Client) -> None:
    d = await client.contract_details("VTI")
    assert (d.primary_exchange, d.stock_type, d.min_tick) == ("ARCA", "ETF", 0.01)
    assert d.time_zone == "US/Eastern"
    today = datetime.now(ZoneInfo("America/New_York")).strftime("%Y%m%d")
    for hours in (d.trading_hours, d.liquid_hours):
        days = hours.split(";")
        assert len(days) == 7
        assert all(":" in day and ("-" in day or day.endswith("CLOSED")) for day in days)
    assert d.trading_hours[:8] == today


async def test_unknown_contract_is_refused_with_200(client: Client) -> None:
    with pytest.raises(ClientRefused) as refused:
        await client.contract_details("NOPE")
    assert refused.value.code == 200


async def test_snapshot_quotes_bid_below_last_below_ask(client: Client) -> None:
    bid, ask, last, close = await client.snapshot("SPY")
    assert bid < last < ask
    assert close == pytest.approx(560.10)


async def test_market_order_fills_with_commission_and_order_ref(
    emulator: Emulator, client: Client
) -> None:
    ask = float(emulator.market.quote("SPY").ask)
    order = await client.place("SPY", "BUY", 10, ACCT, "conf-1")
    await eventually(
        lambda: order.status == "Filled" and all(f.commission for f in order.fills.values())
        and order.fills, what="fill with commission",
    )  # fmt: skip
    [fill] = order.fills.values()
    assert (fill.side, fill.shares, fill.price, fill.order_ref) == ("BOT", 10, ask, "conf-1")
    assert fill.commission == pytest.approx(1.0)
    assert order.perm_id > 0
    assert emulator.orders()[0]["order_ref"] == "conf-1"


async def test_limit_order_works_until_cancelled(client: Client) -> None:
    order = await client.place("QQQ", "BUY", 5, ACCT, "conf-2", limit=400.0, tif="GTC")
    await eventually(lambda: order.status == "Submitted", what="working")
    await client.cancel(order)
    await eventually(lambda: order.status == "Cancelled", what="cancelled")
    assert (order.order_id, 202) in client.errors()


async def test_another_client_sees_the_order_through_all_open_orders(connect) -> None:  # type: ignore[no-untyped-def]
    a, b = await connect(), await connect()
    order = await a.place("SPY", "BUY", 1, ACCT, "conf-3", limit=100.0)
    await eventually(lambda: order.status == "Submitted" and order.perm_id, what="working")
    seen = await b.all_open_orders()
    assert [(p, ref) for p, ref, _s in seen] == [(order.perm_id, "conf-3")]


async def test_completed_orders_and_executions_after_reconnecting(connect) -> None:  # type: ignore[no-untyped-def]
    first = await connect(client_id=61)
    order = await first.place("GLD", "BUY", 2, ACCT, "conf-4")
    await eventually(lambda: order.status == "Filled", what="fill")
    first.disconnect()
    other = await connect()
    done = await other.completed_orders()
    assert (order.perm_id, "conf-4", "Filled") in done
    execs = await other.executions("GLD")
    assert [(ref, side) for _e, ref, side in execs] == [("conf-4", "BOT")]


async def test_account_summary_with_the_ledger_per_currency(client: Client) -> None:
    rows = await client.account_summary("NetLiquidation,BuyingPower,$LEDGER:ALL")
    mine = {(tag, ccy): value for account, tag, value, ccy in rows if account == ACCT}
    assert float(mine[("NetLiquidation", "USD")]) > 25000
    assert float(mine[("TotalCashBalance", "USD")]) == float(mine[("TotalCashBalance", "BASE")])
    assert {a for a, *_ in rows} == {"DU1000001", "DU1000002"}


async def test_pnl_single_of_an_untouched_position_has_zero_daily_pnl(client: Client) -> None:
    position, daily, value = await client.pnl_single(ACCT, 756733)
    assert (position, daily, value) == (100, 0, pytest.approx(56010.0))


async def test_a_nul_in_an_order_ref_never_becomes_an_order(
    emulator: Emulator, client: Client
) -> None:
    order = await client.place("SPY", "BUY", 1, ACCT, "plan\x00.1.0")
    codes = await eventually(
        lambda: [c for r, c in client.errors() if r == order.order_id], what="an error"
    )
    # IB's own client refuses such a string before sending (579); the others send it, and
    # the emulator refuses the shifted request (321) instead of reading it as something else.
    assert codes == ([579] if client.name == "ibapi" else [321])
    assert emulator.broker.orders == []


# ------------------------------------------------------------ several currencies
async def test_an_fx_quote_has_bid_and_ask_and_no_last(fx_client: Client) -> None:
    bid, ask, last, close = await fx_client.snapshot(EURUSD)
    assert (bid, ask, close) == (1.08497, 1.08502, 1.085)
    assert math.isnan(last)  # IDEALPRO reports no trades


async def test_an_fx_fill_moves_both_currencies_and_pays_in_the_base_currency(
    fx_emulator: Emulator, fx_client: Client
) -> None:
    order = await fx_client.place(EURUSD, "BUY", 30000, EUR_ACCT, "fx-1")
    await eventually(
        lambda: order.status == "Filled" and order.fills
        and all(f.commission for f in order.fills.values()), what="FX fill with commission",
    )  # fmt: skip
    [fill] = order.fills.values()
    assert (fill.side, fill.shares, fill.price, fill.exchange) == (
        "BOT", 30000, 1.08502, "IDEALPRO"
    )  # fmt: skip
    # USD 2.00 minimum, charged in EUR at the mid 1.084995
    assert (fill.commission, fill.commission_currency) == (pytest.approx(1.8433), "EUR")
    cash = fx_emulator.broker.accounts[EUR_ACCT].cash
    assert cash["USD"] == Decimal("15000") - 30000 * Decimal("1.08502")
    assert cash["EUR"] == Decimal("70000") - Decimal("1.8433")


async def test_an_odd_lot_fx_order_fills_on_the_odd_lot_venue(fx_client: Client) -> None:
    order = await fx_client.place(EURUSD, "SELL", 2000, EUR_ACCT, "fx-odd")
    await eventually(lambda: order.status == "Filled" and order.fills, what="odd-lot fill")
    [fill] = order.fills.values()
    # EUR 2,000 (USD 2,170) is below IDEALPRO's USD 25,000: the bid less 1 bp, rounded down
    assert (fill.exchange, fill.price) == ("IDEALFX", 1.08486)


async def test_a_eur_etf_on_ibis_pays_a_eur_commission(fx_client: Client) -> None:
    order = await fx_client.place(EXS1, "BUY", 10, EUR_ACCT, "ibis-1")
    await eventually(
        lambda: order.status == "Filled" and order.fills
        and all(f.commission for f in order.fills.values()), what="IBIS fill",
    )  # fmt: skip
    [fill] = order.fills.values()
    assert (fill.exchange, fill.price) == ("IBIS", 180.52)
    assert (fill.commission, fill.commission_currency) == (3.0, "EUR")  # the EUR minimum


async def test_the_ledger_converts_every_currency_into_net_liquidation(
    fx_client: Client,
) -> None:
    rows = await fx_client.account_summary("NetLiquidation,$LEDGER:ALL")
    mine = {(tag, ccy): value for account, tag, value, ccy in rows if account == EUR_ACCT}
    assert mine[("ExchangeRate", "USD")] == "0.9216632"  # 1 / 1.084995
    by_ccy = {c: float(mine[("NetLiquidationByCurrency", c)]) for c in ("EUR", "USD")}
    assert by_ccy == {"EUR": 72810.0, "USD": 38844.0}
    expected = sum(v * float(mine[("ExchangeRate", c)]) for c, v in by_ccy.items())
    assert float(mine[("NetLiquidation", "EUR")]) == pytest.approx(expected, abs=0.01)
    assert mine[("Currency", "BASE")] == "BASE"
