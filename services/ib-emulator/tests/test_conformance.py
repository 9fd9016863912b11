"""The emulator as three TWS API clients see it: ib_async, ib_insync and IB's own ibapi.

One suite, parametrized over the client adapters of clients.py: every check runs against
each client, so the emulator is right for the protocol, not for one library's leniency.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ib_emulator import Emulator

from .clients import CLIENT_NAMES, Client, ClientRefused, eventually, make_client

ACCT = "DU1000001"
_ids = itertools.count(200)


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
