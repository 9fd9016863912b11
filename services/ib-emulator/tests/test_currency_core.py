"""The pure core of several currencies: rates, commissions, the ledger, sessions, the schema.

Worked examples checked by hand, as tables: every expected number below is computed in the
comment beside it, not by the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ib_emulator.accounts import Account, Prices
from ib_emulator.commissions import commission
from ib_emulator.fx import Rates, conversion_path
from ib_emulator.hours import FX_SESSION, FX_ZONE, MarketHours
from ib_emulator.scenario import (
    AccountSpec,
    ScenarioError,
    SessionSpec,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)

D = Decimal
MIDS = {"EUR.USD": D("1.25"), "USD.CAD": D("1.40"), "GBP.USD": D("1.20")}
PAIRS = list(MIDS)


# ------------------------------------------------------------------- rates
@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("EUR", "USD", D("1.25")),  # the pair itself
        ("USD", "EUR", D("0.8")),  # 1 / 1.25
        ("USD", "CAD", D("1.40")),
        ("EUR", "CAD", D("1.75")),  # 1.25 USD per EUR x 1.40 CAD per USD
        ("GBP", "CAD", D("1.68")),  # 1.20 x 1.40
        ("CAD", "GBP", D(1) / D("1.68")),
        ("GBP", "GBP", D(1)),
    ],
)
def test_rates_convert_through_direct_inverse_and_chained_pairs(
    source: str, target: str, expected: Decimal
) -> None:
    rates = Rates(PAIRS, MIDS.__getitem__)
    assert rates.rate(source, target) == pytest.approx(expected, rel=D("1e-20"))


def test_a_currency_no_pair_reaches_has_no_path() -> None:
    assert conversion_path(PAIRS, "CHF", "USD") is None
    with pytest.raises(KeyError, match="no FX pair converts CHF to USD"):
        Rates(PAIRS, MIDS.__getitem__).rate("CHF", "USD")


# ------------------------------------------------------------- commissions
SCENARIO = builtin_scenario("multi_currency")
EURUSD_MID = D("1.084995")  # the scenario's quote: bid 1.08497, ask 1.08502


def _rates() -> Rates:
    mids = {"EUR.USD": EURUSD_MID, "USD.CAD": D("1.365"), "GBP.USD": D("1.27")}
    return Rates(list(mids), mids.__getitem__)


@pytest.mark.parametrize(
    ("symbol", "quantity", "price", "base", "expected", "currency"),
    [
        # US fixed: 0.005/share, USD 1.00 minimum, 1% cap
        ("SPY", D(100), D("560.12"), "EUR", D("1.00"), "USD"),  # 0.50 -> minimum
        ("SPY", D(1000), D("25"), "USD", D("5.00"), "USD"),  # 1000 x 0.005
        # Europe fixed: 0.05% of the value, EUR 3.00 minimum, no cap
        ("EXS1", D(10), D("180.52"), "EUR", D("3.00"), "EUR"),  # 0.90 -> minimum
        ("SXR8", D(100), D("560.20"), "EUR", D("28.01"), "EUR"),  # 56,020 x 0.0005
        # Toronto fixed: CAD 0.01/share, CAD 1.00 minimum, 0.5% cap
        ("XIC", D(500), D("40.11"), "CAD", D("5.00"), "CAD"),  # 500 x 0.01
        ("XIC", D(50), D("1.00"), "CAD", D("0.25"), "CAD"),  # 1.00 capped at 0.5% of 50
        # LSE, pence line: the value is in pounds (1,000 x 845.1p = GBP 8,451 -> 4.2255)
        ("ISF", D(1000), D("8.451"), "GBP", D("4.2255"), "GBP"),
        # FX: 0.2 bp of the USD value, USD 2.00 minimum, in the account's base currency
        ("EUR.USD", D(30000), D("1.08502"), "USD", D("2.00"), "USD"),  # 0.65 -> minimum
        ("EUR.USD", D(30000), D("1.08502"), "EUR", D("1.8433"), "EUR"),  # 2 / 1.084995
        ("EUR.USD", D(1000000), D("1.08502"), "USD", D("21.7004"), "USD"),  # 1,085,020 x 2e-5
    ],
)
def test_commissions_follow_the_exchange_schedule_in_their_currency(
    symbol: str, quantity: Decimal, price: Decimal, base: str, expected: Decimal, currency: str
) -> None:
    inst = SCENARIO.instrument(symbol)
    assert inst is not None
    got = commission(SCENARIO, _rates(), inst, quantity, quantity * price, base)
    assert got == (expected, currency)


# ------------------------------------------------------------------ ledger
def _prices(rate_usd_eur: Decimal) -> Prices:
    marks = {"VTI": D(20), "EXS1": D(50), "EUR.USD": D(1) / rate_usd_eur}
    currency = {"VTI": "USD", "EXS1": "EUR", "EUR.USD": "USD"}

    def rate(source: str, target: str) -> Decimal:
        table = {("USD", "EUR"): rate_usd_eur, ("EUR", "USD"): D(1) / rate_usd_eur}
        return D(1) if source == target else table[(source, target)]

    return Prices(marks.__getitem__, currency.__getitem__, rate)


def _eur_account() -> Account:
    spec = AccountSpec.model_validate(
        {"id": "DU9", "base_currency": "EUR", "cash": {"EUR": 1000, "USD": 500}}
    )
    acct = Account.from_spec(spec)
    acct.position("VTI").quantity, acct.position("VTI").average_cost = D(10), D(18)
    acct.position("EXS1").quantity, acct.position("EXS1").average_cost = D(4), D(45)
    return acct


def test_a_eur_account_holding_usd_reports_each_currency_and_the_base_totals() -> None:
    rows = {(tag, ccy): value for tag, value, ccy in _eur_account().values(_prices(D("0.9")))}
    # USD: cash 500, VTI 10 x 20 = 200; EUR: cash 1000, EXS1 4 x 50 = 200; 1 USD = 0.9 EUR
    assert rows[("ExchangeRate", "USD")] == "0.9"
    assert rows[("ExchangeRate", "EUR")] == rows[("ExchangeRate", "BASE")] == "1.00"
    assert rows[("CashBalance", "USD")] == "500.00"
    assert rows[("CashBalance", "BASE")] == "1450.00"  # 1000 + 500 x 0.9
    assert rows[("StockMarketValue", "USD")] == "200.00"
    assert rows[("StockMarketValue", "BASE")] == "380.00"  # 200 + 200 x 0.9
    assert rows[("NetLiquidationByCurrency", "USD")] == "700.00"
    assert rows[("NetLiquidationByCurrency", "EUR")] == "1200.00"
    assert rows[("NetLiquidation", "EUR")] == "1830.00"  # 1200 + 700 x 0.9
    assert rows[("TotalCashValue", "EUR")] == "1450.00"
    assert rows[("UnrealizedPnL", "USD")] == "20.00"  # 10 x (20 - 18)
    assert rows[("UnrealizedPnL", "BASE")] == "38.00"  # 4 x 5 + 20 x 0.9
    assert rows[("Currency", "BASE")] == "BASE"
    assert rows[("GrossPositionValue", "EUR")] == "380.00"


def test_buying_a_security_in_a_currency_not_held_leaves_that_cash_negative() -> None:
    acct = _eur_account()
    acct.cash["USD"] = D(0)
    acct.apply_fill("VTI", "USD", D(5), D(20), D(1))
    assert acct.cash["USD"] == D(-101)  # IB lends the USD (margin account); no conversion
    assert acct.cash["EUR"] == D(1000)


def test_an_fx_fill_moves_both_currencies_and_the_fx_position() -> None:
    acct = _eur_account()
    acct.apply_fx_fill("EUR.USD", D(-400), D("1.25"), D("1.60"), "EUR")  # sell 400 EUR
    assert (acct.cash["EUR"], acct.cash["USD"]) == (D("598.40"), D(1000))  # 1000-400-1.6
    assert acct.fx_position("EUR.USD").quantity == D(-400)
    realized = acct.apply_fx_fill("EUR.USD", D(400), D("1.20"), D("1.60"), "EUR")
    assert realized == D(20)  # short 400 EUR at 1.25, bought back at 1.20: 400 x 0.05 USD
    converted = acct.apply_fx_fill("EUR.USD", D(100), D("1.20"), D(0), "EUR", fx_position=False)
    assert converted is None
    assert acct.fx_positions["EUR.USD"].quantity == 0


def test_daily_pnl_is_summed_over_positions_in_the_base_currency() -> None:
    acct = _eur_account()
    acct.start_session(_prices(D("0.9")))
    marks = {"VTI": D(22), "EXS1": D(50), "EUR.USD": D(1) / D("0.9")}
    moved = Prices(marks.__getitem__, _prices(D("0.9")).currency, _prices(D("0.9")).rate)
    assert acct.daily_pnl(moved) == D("18.0")  # VTI +2 x 10 = 20 USD = 18 EUR


# ---------------------------------------------------------------- sessions
def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        ("2026-12-06T17:14:00-05:00", False),  # Sunday before IDEALPRO opens
        ("2026-12-06T17:15:00-05:00", True),  # Sunday 17:15 New York: the week begins
        ("2026-12-08T17:05:00-05:00", False),  # the daily break 17:00-17:15
        ("2026-12-08T23:00:00-05:00", True),
        ("2026-12-11T16:59:00-05:00", True),  # Friday, before the close
        ("2026-12-11T17:30:00-05:00", False),  # Friday after 17:00: closed until Sunday
        ("2026-12-12T12:00:00-05:00", False),  # Saturday
    ],
)
def test_idealpro_trades_sunday_evening_to_friday_1700_new_york(when: str, open_: bool) -> None:
    assert MarketHours.for_exchange(FX_ZONE, FX_SESSION).is_regular(_at(when)) is open_


def test_idealpro_hours_text_labels_each_session_by_the_day_it_starts() -> None:
    hours = MarketHours.for_exchange(FX_ZONE, FX_SESSION)
    trading, liquid = hours.ib_text(_at("2026-12-04T12:00:00-05:00"))  # a Friday
    assert trading == liquid
    assert trading.split(";") == [
        "20261204:CLOSED",
        "20261205:CLOSED",
        "20261206:1715-20261207:1700",
        "20261207:1715-20261208:1700",
        "20261208:1715-20261209:1700",
        "20261209:1715-20261210:1700",
        "20261210:1715-20261211:1700",
    ]
    assert hours.ib_zone_name == "US/Eastern"


def test_an_exchange_session_is_in_its_own_zone_with_its_holidays() -> None:
    session = SessionSpec(open="09:00", close="17:30", holidays=["2026-12-24"])
    hours = MarketHours.for_exchange("Europe/Berlin", session)
    assert hours.ib_zone_name == "Europe/Berlin"
    trading, _ = hours.ib_text(_at("2026-12-23T10:00:00+01:00"))
    assert trading.split(";")[:4] == [
        "20261223:0900-20261223:1730",
        "20261224:CLOSED",
        "20261225:0900-20261225:1730",  # only weekends and the listed days are closed
        "20261226:CLOSED",
    ]
    assert hours.is_regular(_at("2026-12-23T17:29:00+01:00"))
    assert not hours.is_regular(_at("2026-12-23T17:30:00+01:00"))
    assert not hours.is_regular(_at("2026-12-23T08:59:00+01:00"))


# ------------------------------------------------------------------ schema
BASE = (
    "instruments:\n"
    "  - {symbol: SPY, con_id: 1, primary_exchange: ARCA}\n"
    "  - {symbol: EXS1, con_id: 2, primary_exchange: IBIS, currency: EUR}\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "accounts: [{id: DU1, base_currency: EUR, cash: {EUR: 10}}]\n" + BASE
            + "prices: {start: {SPY: 1, EXS1: 1}}\n",
            r"instruments\.SPY: no FX pair converts USD to EUR; add an instrument with "
            r"sec_type CASH such as EUR\.USD",
        ),
        (
            "accounts: [{id: DU1, cash: {usd: 10}}]\n" + BASE
            + "  - {symbol: EUR.USD, con_id: 3, sec_type: CASH}\n"
            "prices: {start: {SPY: 1, EXS1: 1, EUR.USD: 1.1}}\n",
            r"accounts\.0: .*'usd' is not a currency code",
        ),
        (
            "accounts: [{id: DU1, cash: 10}]\n" + BASE
            + "  - {symbol: EURUSD, con_id: 3, sec_type: CASH}\n"
            "prices: {start: {SPY: 1, EXS1: 1, EURUSD: 1.1}}\n",
            r"instruments\.2: .*BASE\.QUOTE, e\.g\. EUR\.USD",
        ),
        (
            "accounts: [{id: DU1, cash: 10}]\n" + BASE
            + "  - {symbol: EUR.USD, con_id: 3, sec_type: CASH, currency: EUR}\n"
            "prices: {start: {SPY: 1, EXS1: 1, EUR.USD: 1.1}}\n",
            r"instruments\.2: .*EUR\.USD is quoted in USD, not EUR",
        ),
        (
            "accounts: [{id: DU1, cash: 10, positions: [{symbol: EUR.USD, quantity: 5, "
            "average_cost: 1}]}]\n" + BASE
            + "  - {symbol: EUR.USD, con_id: 3, sec_type: CASH}\n"
            "prices: {start: {SPY: 1, EXS1: 1, EUR.USD: 1.1}}\n",
            r"positions\.EUR\.USD: a currency is held as cash; put it under cash",
        ),
        (
            "accounts: [{id: DU1, cash: 10}]\n" + BASE
            + "  - {symbol: EUR.USD, con_id: 3, sec_type: CASH}\n"
            "prices: {start: {SPY: 1, EXS1: 1, EUR.USD: 1.1}}\n"
            "exchanges: {IBIS: {timezone: Europe/Nowhere}}\n",
            r"exchanges\.IBIS: .*unknown timezone 'Europe/Nowhere'",
        ),
        (
            "accounts: [{id: DU1, cash: 10}]\n" + BASE
            + "  - {symbol: EUR.USD, con_id: 3, sec_type: CASH}\n"
            "prices: {start: {SPY: 1, EXS1: 1, EUR.USD: 1.1}}\n"
            "exchanges: {IDEALPRO: {timezone: America/New_York, hours: {open: '17:15', "
            "close: '17:00', extended_open: '16:00'}}}\n",
            r"exchanges\.IDEALPRO\.hours: .*overnight session .* has no extended hours",
        ),
    ],
)  # fmt: skip
def test_bad_currency_scenarios_name_the_field_and_what_to_do(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError, match=expected):
        parse_scenario(text, "bad.yaml")


def test_cash_as_one_number_is_in_the_base_currency() -> None:
    s = parse_scenario(
        "accounts: [{id: DU1, base_currency: EUR, cash: 500}]\n"
        "instruments: [{symbol: EXS1, con_id: 2, primary_exchange: IBIS, currency: EUR}]\n"
        "prices: {start: {EXS1: 1}}\ncommissions: {currency: EUR}\n"
    )
    assert s.accounts[0].cash == {"EUR": D(500)}


def test_the_builtin_scenarios_load_by_name(tmp_path: Path) -> None:
    assert load_scenario("multi_currency") == SCENARIO
    assert {a.base_currency for a in SCENARIO.accounts} == {"EUR", "CAD", "GBP"}
    assert {i.currency for i in SCENARIO.instruments} == {"USD", "EUR", "GBP", "CAD", "CHF"}
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "multi_currency.yaml")


def test_the_documented_scenario_format_is_a_valid_scenario() -> None:
    docs = Path(__file__).parents[3] / "docs" / "ib-emulator.md"
    example = docs.read_text("utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    s = parse_scenario(example, "docs/ib-emulator.md")
    assert {i.symbol for i in s.instruments} == {"SPY", "EUR.USD"}
    assert s.exchanges["IDEALPRO"].hours is not None
