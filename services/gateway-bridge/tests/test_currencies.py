"""Several currencies over the wire (the emulator's multi_currency scenario): views, quotes,
FX orders, CASH positions and the gauges in each account's base currency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from ib_emulator import Emulator
from ib_emulator.scenario import builtin_scenario
from rebalancer_testkit.bridge_commands import (
    eventually,
    get_portfolio,
    new_plan,
    order_events,
    submit,
    write_accounts_file,
)
from shared.contracts.base import Side

EUR_ACCOUNT, CAD_ACCOUNT, GBP_ACCOUNT = "DU2000001", "DU2000002", "DU2000003"
ACCOUNTS = {EUR_ACCOUNT: "auto", CAD_ACCOUNT: "auto", GBP_ACCOUNT: "auto"}


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    emu = Emulator(builtin_scenario("multi_currency"), admin_port=0)
    await emu.start()
    yield emu
    await asyncio.wait_for(emu.stop(), 20)


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    return write_accounts_file(tmp_path / "multi.yaml", ACCOUNTS)


def sample(service, name: str, **labels: str) -> float | None:  # type: ignore[no-untyped-def]
    return service.metrics.registry.get_sample_value(name, labels)


async def test_a_eur_view_has_cash_per_currency_rates_and_quotes_in_their_currency(
    emulator, start_bridge, redis_url, accounts_file
):
    service = await start_bridge(accounts_file=accounts_file)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    view = await get_portfolio(redis_url, EUR_ACCOUNT, ("SXR8", "EUR.USD"))
    assert view.type == "PortfolioView", view
    assert view.currency == "EUR"
    assert view.cash_by_currency == {"EUR": Decimal("40000.00"), "USD": Decimal("15000.00")}
    # 1 USD in EUR: about the inverse of EUR.USD 1.0850 (IB: seven significant digits)
    assert view.exchange_rates["USD"] == pytest.approx(
        Decimal(1) / Decimal("1.085"), rel=Decimal("1e-4")
    )
    positions = {p.symbol: p.currency for p in view.positions}
    assert positions == {"VTI": "USD", "BND": "USD", "EXS1": "EUR", "IWDA": "EUR"}
    quotes = {q.symbol: q for q in view.quotes}
    assert {s: (q.status, q.currency) for s, q in quotes.items()} == {
        "VTI": ("ok", "USD"),
        "BND": ("ok", "USD"),
        "EXS1": ("ok", "EUR"),
        "IWDA": ("ok", "EUR"),
        "SXR8": ("ok", "EUR"),
        "EUR.USD": ("ok", "USD"),
    }
    fx = quotes["EUR.USD"]
    assert fx.sec_type == "CASH"
    assert fx.bid is not None
    assert fx.ask is not None
    assert fx.bid < Decimal("1.085") < fx.ask
    assert fx.last is None  # IDEALPRO has no tape


async def test_pence_quotes_carry_their_magnifier(emulator, start_bridge, redis_url, accounts_file):
    service = await start_bridge(accounts_file=accounts_file)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    view = await get_portfolio(redis_url, GBP_ACCOUNT)
    quotes = {q.symbol: q for q in view.quotes}
    assert (quotes["ISF"].currency, quotes["ISF"].price_magnifier) == ("GBP", 100)
    assert quotes["VUKE"].price_magnifier == 1


async def test_an_fx_order_fills_and_its_cash_position_stays_out_of_the_positions(
    emulator, start_bridge, redis_url, publish, accounts_file
):
    service = await start_bridge(accounts_file=accounts_file)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    coid = f"{new_plan()}.0.0"
    await publish(
        submit(
            coid,
            symbol="USD.CAD",
            quantity="1000.00",
            side=Side.BUY,
            account=CAD_ACCOUNT,
            currency="CAD",
            exchange="IDEALPRO",
            sec_type="CASH",
        )
    )
    await eventually(
        lambda: "OrderFilled" in [type(e).__name__ for e in order_events(redis_url, coid)],
        within=15,
        message="the FX order filled",
    )
    view = await get_portfolio(redis_url, CAD_ACCOUNT)
    assert {p.symbol for p in view.positions} == {"XIC", "VFV"}
    assert view.cash_by_currency["USD"] == Decimal("6000.00")
    assert view.cash_by_currency["CAD"] < Decimal("60000") - Decimal("1360")


async def test_gauges_are_in_each_base_currency_with_its_label(
    emulator, start_bridge, accounts_file
):
    service = await start_bridge(accounts_file=accounts_file)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    nlv = await eventually(
        lambda: sample(
            service, "rebalancer_account_net_liquidation", account=EUR_ACCOUNT, currency="EUR"
        ),
        message="EUR net liquidation gauge",
    )
    assert sample(service, "rebalancer_account_net_liquidation_usd", account=EUR_ACCOUNT) is None
    assert (
        sample(service, "rebalancer_account_cash_by_currency", account=EUR_ACCOUNT, currency="USD")
        == 15000
    )
    vti = await eventually(
        lambda: sample(
            service, "rebalancer_position_value", account=EUR_ACCOUNT, symbol="VTI", currency="EUR"
        ),
        message="VTI value in EUR",
    )
    # 60 VTI at about USD 275.40, in EUR at 1.085
    assert vti == pytest.approx(60 * 275.40 / 1.085, rel=0.01)
    weight = sample(service, "rebalancer_position_weight_ratio", account=EUR_ACCOUNT, symbol="VTI")
    assert weight == pytest.approx(vti / nlv, rel=0.01)
    isf = await eventually(
        lambda: sample(
            service, "rebalancer_position_value", account=GBP_ACCOUNT, symbol="ISF", currency="GBP"
        ),
        message="ISF value in pounds",
    )
    assert isf == pytest.approx(1000 * 8.45, rel=0.01)  # 845 pence a share
