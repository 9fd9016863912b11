"""State out (positions, account, prices, gateway events) and GetPortfolio, against the emulator."""

from __future__ import annotations

from decimal import Decimal

from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    OTHER_ACCOUNT,
    emulator_positions,
    eventually,
    get_portfolio,
    read_stream,
    types_of,
)
from shared.contracts import catalogue


async def reconciled(start_bridge, **overrides):
    service = await start_bridge(**overrides)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    return service


async def test_start_publishes_connected_then_reconciled_then_snapshots_per_account(
    emulator, start_bridge, redis_url
):
    await reconciled(start_bridge)
    lifecycle = [
        t
        for t in types_of(read_stream(redis_url, catalogue.GATEWAY))
        if t in ("GatewayConnected", "ReconciliationCompleted")
    ]
    # (A slow first handshake on a loaded machine may add a GatewayDisconnected before.)
    assert lifecycle[:2] == ["GatewayConnected", "ReconciliationCompleted"]
    snapshots = await eventually(
        lambda: (
            {
                m.account_id: m
                for m in read_stream(redis_url, catalogue.POSITIONS)
                if m.type == "PositionsSnapshot"
            }.keys()
            >= {ACCOUNT, OTHER_ACCOUNT}
            and read_stream(redis_url, catalogue.POSITIONS)
        )
    )
    for account in (ACCOUNT, OTHER_ACCOUNT):
        snapshot = next(
            m for m in snapshots if m.type == "PositionsSnapshot" and m.account_id == account
        )
        assert {p.symbol: p.quantity for p in snapshot.positions} == emulator_positions(
            emulator, account
        )
    accounts = await eventually(
        lambda: (
            {m.account_id: m for m in read_stream(redis_url, catalogue.ACCOUNT)}
            if {m.account_id for m in read_stream(redis_url, catalogue.ACCOUNT)}
            >= {ACCOUNT, OTHER_ACCOUNT}
            else None
        ),
        message="account snapshots",
    )
    snapshot = accounts[ACCOUNT]
    assert snapshot.net_liquidation > 0
    assert snapshot.cash_by_currency["USD"] == snapshot.total_cash


async def test_held_symbols_stream_prices_and_nan_prices_are_never_published(
    emulator, start_bridge, redis_url
):
    await reconciled(start_bridge)
    emulator.set_price("SPY", last=561, bid="560.9", ask="561.1")
    prices = await eventually(
        lambda: [m for m in read_stream(redis_url, catalogue.PRICES) if m.symbol == "SPY"],
        message="SPY price",
    )
    assert prices[-1].bid is not None
    assert prices[-1].bid > 0
    assert all(p.bid is None or p.bid > 0 for p in read_stream(redis_url, catalogue.PRICES))


async def test_get_portfolio_answers_positions_cash_and_a_quote_per_symbol(
    emulator, start_bridge, redis_url
):
    await reconciled(start_bridge)
    view = await get_portfolio(redis_url, ACCOUNT, ("MSFT", "NOSUCH"))
    assert view.type == "PortfolioView"
    assert {p.symbol: p.quantity for p in view.positions} == emulator_positions(emulator, ACCOUNT)
    assert view.total_cash == Decimal("25000.00")
    quotes = {q.symbol: q for q in view.quotes}
    assert set(quotes) == {*emulator_positions(emulator, ACCOUNT), "MSFT", "NOSUCH"}
    assert quotes["MSFT"].status == "ok"
    assert quotes["MSFT"].as_of is not None
    assert quotes["NOSUCH"].status == "unqualified"
    assert view.unqualified == ("NOSUCH",)


async def test_get_portfolio_marks_quotes_missing_when_prices_never_arrive(
    emulator, start_bridge, redis_url
):
    emulator.faults.nan_prices(True)
    await reconciled(start_bridge, quote_timeout_s=0.5)
    view = await get_portfolio(redis_url, ACCOUNT, ("IWM",))
    quotes = {q.symbol: q for q in view.quotes}
    assert quotes["IWM"].status == "missing"
    assert quotes["IWM"].last is None


async def test_get_portfolio_for_an_unknown_account_is_unavailable_with_a_reason(
    emulator, start_bridge, redis_url
):
    await reconciled(start_bridge)
    reply = await get_portfolio(redis_url, "U404")
    assert reply.type == "PortfolioUnavailable"
    assert reply.code == "unknown_account"


async def test_health_reports_ib_connected_and_reconciled(emulator, start_bridge):
    service = await reconciled(start_bridge)
    assert await service.bridge.connection.health() is True
    assert service.bridge.metrics.connected._value.get() == 1
    assert service.bridge.metrics.reconciliation_state._value.get() == 2


FLEET_SYMBOLS = ("SPY", "QQQ", "VTI", "VXUS", "BND", "AGG", "TLT", "IEF", "GLD", "IWM",
                 "EFA", "EEM", "VNQ", "SGOV", "TQQQ", "QLD", "SPXL", "EDC", "BTAL", "MSFT")  # fmt: skip


async def test_the_first_portfolio_after_a_cold_start_has_a_quote_for_each_of_20_symbols(
    emulator, start_bridge, redis_url
):
    # Cause 5 of the fleet run: subscriptions paced at 10/s needed ~2 s for 20 symbols, as
    # long as the quote timeout, so the first allocation after a start came back
    # missing_quote. The production defaults, not the tests' faster ones:
    await reconciled(start_bridge, subscriptions_per_s=10.0, quote_timeout_s=2.0)
    view = await get_portfolio(redis_url, ACCOUNT, FLEET_SYMBOLS)
    assert view.type == "PortfolioView", view
    missing = [q.symbol for q in view.quotes if q.status != "ok"]
    assert missing == []


async def test_a_portfolio_asked_for_while_the_bridge_reconciles_waits_for_it(
    emulator, start_bridge, redis_url
):
    # The executor asks for cash as soon as the fills recovered by a reconciliation arrive,
    # which is before that reconciliation has finished; it used to get not_reconciled and
    # fail the plan.
    service = await start_bridge()
    assert not service.bridge.gate.is_open
    view = await get_portfolio(redis_url, ACCOUNT)
    assert view.type == "PortfolioView", view
