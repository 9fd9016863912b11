"""Worked examples over several currencies, checked by hand (docs/planner.md shows them).

EUR-base account, 1 USD = 0.80 EUR (EUR.USD 1.25): EUR 9,200 and USD 1,000 cash (10,000 EUR),
VTI 100 x USD 200 (16,000 EUR), EXS1 100 x EUR 140 (14,000 EUR): net liquidation 40,000 EUR.
Targets VTI 50 %, EXS1 50 % with 10 % kept in cash: 18,000 EUR each.
VTI wants (18,000 - 16,000) / 160 = 12.5 -> 12 shares (half to even), USD 2,400;
EXS1 wants (18,000 - 14,000) / 140 = 28.57 -> 29 shares, EUR 4,060.

* convert: USD needs 2,400 - 1,000 = 1,400, plus the 0.5 % FX buffer = USD 1,407.00, bought
  by selling EUR.USD 1,407 / 1.25 = 1,125.60 EUR. Cash after: EUR 9,200 - 4,060 - 1,125.60
  = 4,014.40; USD 1,000 + 1,407 - 2,400 = 7.00.
* separate: USD 1,000 pays 5 VTI (1,000 / 200); the other 7 (USD 1,400) are reported as
  unfunded. EUR pays the 29 EXS1. Cash after: EUR 5,140, USD 0.

CAD-base cash account, 1 USD = 1.25 CAD (USD.CAD 1.25): CAD 29,000 and USD 800 (30,000 CAD),
XIC 1,000 x CAD 40 (40,000): net liquidation 70,000 CAD. Targets XIC 50 %, SPY (USD 500 =
CAD 625) 50 %: 35,000 CAD each. Sell 125 XIC (CAD 5,000): 35,000 CAD to spend. SPY wants 56
(35,000 / 625) but the FX buffer and commission (0.5 % of USD 27,200 and 2 x CAD 2) must come
out of it: 34,826 CAD pays 55 SPY (USD 27,500). USD needs 27,500 - 800 = 26,700 + 0.5 % =
USD 26,833.50: BUY USD.CAD 26,833.50 at 1.25 (CAD 33,541.88). Cash after: CAD 29,000 + 5,000
- 33,541.875 - 2 (FX commission) = 456.12; USD 800 + 26,833.50 - 27,500 = 133.50.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from planner.core import Plan, plan_rebalance
from rebalancer_testkit.portfolios import NOW, D, Num, policy, targets
from shared.contracts.portfolio import PortfolioView, Quote
from shared.contracts.positions import Position
from shared.contracts.prices import MarketDataType

EUR_RATES = {"USD": "0.80"}
CAD_RATES = {"USD": "1.25"}


def multi_view(
    base: str,
    cash: dict[str, Num],
    rates: dict[str, Num],
    holdings: dict[str, tuple[Num, Num, str]],
    prices: dict[str, tuple[Num, str]] | None = None,
    magnifiers: dict[str, int] | None = None,
) -> PortfolioView:
    """A view in ``base``: holdings {symbol: (quantity, price, currency)}, quotes for them and
    ``prices``; net liquidation is the cash and holdings at the rates."""
    magnifiers = magnifiers or {}
    all_rates = {c: D(r) for c, r in rates.items()} | {base: Decimal(1)}
    quoted = {s: (p, c) for s, (_, p, c) in holdings.items()} | (prices or {})
    quotes = tuple(
        Quote(
            symbol=s,
            bid=D(p),
            ask=D(p),
            market_data_type=MarketDataType.LIVE,
            as_of=NOW - timedelta(seconds=1),
            currency=c,
            price_magnifier=magnifiers.get(s, 1),
        )
        for s, (p, c) in quoted.items()
    )
    positions = tuple(
        Position(
            symbol=s,
            currency=c,
            quantity=D(q),
            average_cost=D(p) / magnifiers.get(s, 1),
        )
        for s, (q, p, c) in holdings.items()
    )
    cash_base = sum((D(v) * all_rates[c] for c, v in cash.items()), Decimal(0))
    held = sum(
        (D(q) * D(p) / magnifiers.get(s, 1) * all_rates[c] for s, (q, p, c) in holdings.items()),
        Decimal(0),
    )
    return PortfolioView(
        source="test-bridge",
        account_id="DU2000001",
        currency=base,
        net_liquidation=cash_base + held,
        total_cash=cash_base,
        cash_by_currency={c: D(v) for c, v in cash.items()},
        exchange_rates={c: D(r) for c, r in rates.items()},
        positions=positions,
        quotes=quotes,
        positions_as_of=NOW - timedelta(seconds=1),
        account_as_of=NOW - timedelta(seconds=1),
    )


EUR_ACCOUNT = multi_view(
    "EUR",
    {"EUR": 9200, "USD": 1000},
    EUR_RATES,
    {"VTI": (100, 200, "USD"), "EXS1": (100, 140, "EUR")},
)
CAD_ACCOUNT = multi_view(
    "CAD",
    {"CAD": 29000, "USD": 800},
    CAD_RATES,
    {"XIC": (1000, 40, "CAD")},
    prices={"SPY": (500, "USD")},
)
GBP_PENCE = multi_view(
    "GBP",
    {"GBP": 10000},
    {},
    {"ISF": (1000, 800, "GBP")},  # 800 pence
    prices={"VUKE": (40, "GBP")},
    magnifiers={"ISF": 100},
)


@dataclass
class Example:
    name: str
    portfolio: PortfolioView
    weights: dict[str, str]
    options: dict[str, Any]
    legs: list[tuple[str, str, str, str, str | None]]
    """(side, symbol, quantity, reference price, currency) in leg order."""
    cash_after: dict[str, str]
    unfunded: dict[str, str] = field(default_factory=dict)
    fx_value: str = "0.00"


NO_FX_FEE = {"fx_commission_minimum": D(0)}

EXAMPLES = [
    Example(
        "eur_base_convert_buys_usd_with_eur_first",
        EUR_ACCOUNT,
        {"VTI": "0.5", "EXS1": "0.5"},
        {"currency_policy": "convert", "target_cash_weight": D("0.1"), **NO_FX_FEE},
        [
            ("SELL", "EUR.USD", "1125.60", "1.25000", "USD"),
            ("BUY", "VTI", "12", "200", "USD"),
            ("BUY", "EXS1", "29", "140", "EUR"),
        ],
        {"EUR": "4014.40", "USD": "7.00"},
        fx_value="1125.60",
    ),
    Example(
        "eur_base_separate_pays_usd_buys_from_usd_cash_only",
        EUR_ACCOUNT,
        {"VTI": "0.5", "EXS1": "0.5"},
        {"currency_policy": "separate", "target_cash_weight": D("0.1")},
        [("BUY", "VTI", "5", "200", "USD"), ("BUY", "EXS1", "29", "140", "EUR")],
        {"EUR": "5140.00", "USD": "0.00"},
        unfunded={"USD": "1400.00"},
    ),
    Example(
        "cad_cash_account_sells_converts_then_buys_usd",
        CAD_ACCOUNT,
        {"XIC": "0.5", "SPY": "0.5"},
        {"currency_policy": "convert"},
        [
            ("SELL", "XIC", "125", "40", "CAD"),
            ("BUY", "USD.CAD", "26833.50", "1.25000", "CAD"),
            ("BUY", "SPY", "55", "500", "USD"),
        ],
        {"CAD": "456.12", "USD": "133.50"},
        fx_value="33541.88",
    ),
    Example(
        "cad_separate_never_borrows_usd",
        CAD_ACCOUNT,
        {"XIC": "0.5", "SPY": "0.5"},
        {"currency_policy": "separate"},
        [("SELL", "XIC", "125", "40", "CAD"), ("BUY", "SPY", "1", "500", "USD")],
        {"CAD": "34000.00", "USD": "300.00"},
        unfunded={"USD": "27500.00"},
    ),
    Example(
        # ISF is quoted in pence (magnifier 100): 1,000 x 800p = GBP 8,000; 18,000 in all.
        "gbp_pence_quotes_are_valued_in_pounds",
        GBP_PENCE,
        {"ISF": "0.5", "VUKE": "0.5"},
        {},
        [("BUY", "ISF", "125", "800", "GBP"), ("BUY", "VUKE", "225", "40", "GBP")],
        {"GBP": "0.00"},
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_worked_example(example: Example) -> None:
    plan = plan_rebalance(
        example.portfolio, targets(example.weights), policy(**example.options), NOW
    )
    assert isinstance(plan, Plan), plan
    got = [
        (leg.side.value, leg.symbol, leg.quantity, leg.reference_price, leg.currency)
        for leg in plan.legs
    ]
    assert got == [(side, s, D(q), D(p), c) for side, s, q, p, c in example.legs]
    summary = plan.summary
    assert summary.cash_by_currency_after == {c: D(v) for c, v in example.cash_after.items()}
    assert summary.unfunded == {c: D(v) for c, v in example.unfunded.items()}
    assert summary.gross_fx == D(example.fx_value)
    # no currency is left negative by accident
    assert all(v >= 0 for v in summary.cash_by_currency_after.values())
    assert [leg.leg for leg in plan.legs] == list(range(len(plan.legs)))


def test_cad_separate_needs_the_cad_proceeds_to_stay_in_cad() -> None:
    """Separate: the XIC proceeds (CAD) never pay a USD buy; USD 800 pays 1 SPY (USD 500)."""
    plan = plan_rebalance(CAD_ACCOUNT, targets({"XIC": "0.5", "SPY": "0.5"}), policy(), NOW)
    assert isinstance(plan, Plan)
    assert not [leg for leg in plan.legs if leg.sec_type == "CASH"]
    assert any("currency_policy is separate" in w for w in plan.warnings)
    spy = next(row for row in plan.drift if row.symbol == "SPY")
    assert spy.currency == "USD"
    assert spy.skip_reason is not None
    assert spy.skip_reason.startswith("not enough cash in USD")


def test_eur_summary_in_base_currency() -> None:
    plan = plan_rebalance(
        EUR_ACCOUNT,
        targets({"VTI": "0.5", "EXS1": "0.5"}),
        policy(currency_policy="convert", target_cash_weight=D("0.1"), **NO_FX_FEE),
        NOW,
    )
    assert isinstance(plan, Plan)
    s = plan.summary
    assert s.currency == "EUR"
    assert s.net_liquidation == D("40000.00")
    # VTI 12 x 200 x 0.80 = 1,920 EUR; EXS1 29 x 140 = 4,060 EUR
    assert s.gross_buy == D("5980.00")
    assert s.exchange_rates == {"USD": D("0.80")}
    vti = next(row for row in plan.drift if row.symbol == "VTI")
    # 16,000 EUR of 40,000 is 40 %; the price is shown in USD, the drift in EUR
    assert (vti.current_pct, vti.price, vti.currency) == (D("40.0000"), D("200"), "USD")
    assert vti.drift_value == D("-2000.00")
    fx = plan.legs[0]
    assert (fx.sec_type, fx.funds_currency, fx.estimated_value_base) == (
        "CASH",
        "USD",
        D("1125.60"),
    )


def test_fx_below_the_minimum_sizes_that_currency_from_its_own_cash() -> None:
    plan = plan_rebalance(
        EUR_ACCOUNT,
        targets({"VTI": "0.5", "EXS1": "0.5"}),
        policy(
            currency_policy="convert",
            target_cash_weight=D("0.1"),
            min_fx_order_value=D(5000),
            **NO_FX_FEE,
        ),
        NOW,
    )
    assert isinstance(plan, Plan)
    assert [(leg.symbol, str(leg.quantity)) for leg in plan.legs] == [("VTI", "5"), ("EXS1", "29")]
    assert any("minimum FX order" in w for w in plan.warnings)


def test_a_currency_without_a_rate_is_refused_with_a_reason() -> None:
    view = EUR_ACCOUNT.model_copy(update={"exchange_rates": {}})
    result = plan_rebalance(view, targets({"VTI": "0.5", "EXS1": "0.5"}), policy(), NOW)
    assert not isinstance(result, Plan)
    assert "no_exchange_rate" in result.codes
