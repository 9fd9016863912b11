"""Every invalid input is refused with a stable code and a sentence saying what to fix."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from planner.core import Rejection, plan_rebalance
from rebalancer_testkit.portfolios import NOW, D, policy, quote, targets, view
from shared.contracts.base import TargetWeight
from shared.contracts.portfolio import PortfolioView, Quote
from shared.contracts.prices import MarketDataType
from shared.policy import Replacement

FRESH = view(10_000, {"SPY": (10, 100)}, prices={"AGG": 100})
OK = {"SPY": "0.6", "AGG": "0.4"}

CASES: list[tuple[str, PortfolioView, Any, dict[str, Any], list[str], str | None]] = [
    # (name, portfolio, weights, policy options, expected codes, symbol named)
    ("empty_target", FRESH, {}, {}, ["empty_target"], None),
    (
        "negative_weight",
        FRESH,
        {"SPY": "1.1", "AGG": "-0.1"},
        {},
        ["weight_above_one", "weight_negative"],
        "AGG",
    ),
    ("nan_weight", FRESH, {"SPY": "NaN", "AGG": "0.4"}, {}, ["weight_not_finite"], "SPY"),
    ("weight_above_one", FRESH, {"SPY": "1.5"}, {}, ["weight_above_one"], "SPY"),
    (
        "weight_above_max_leverage",
        FRESH,
        {"SPY": "2.5"},
        {"allow_leverage": True, "max_leverage": D(2)},
        ["weight_above_max_leverage"],
        "SPY",
    ),
    (
        "duplicate_symbol_any_case",
        FRESH,
        [("SPY", "0.5"), ("spy", "0.5")],
        {},
        ["duplicate_symbol"],
        "SPY",
    ),
    ("sum_below_one", FRESH, {"SPY": "0.6", "AGG": "0.35"}, {}, ["weights_sum"], None),
    (
        "sum_above_one_without_leverage",
        FRESH,
        {"SPY": "0.7", "AGG": "0.4"},
        {},
        ["weights_sum"],
        None,
    ),
    (
        "sum_above_max_leverage",
        FRESH,
        {"SPY": "0.9", "AGG": "0.9"},
        {"allow_leverage": True, "max_leverage": D("1.5")},
        ["leverage_above_max"],
        None,
    ),
    ("all_zero_weights", FRESH, {"SPY": "0", "AGG": "0"}, {}, ["weights_sum"], None),
    ("invalid_symbol", FRESH, {"SP$Y": "1"}, {}, ["invalid_symbol"], "SP$Y"),
    (
        "replacement_above_leverage",
        FRESH,
        {"SPY": "0.9", "UVXY": "0.1"},
        {"replacements": {"UVXY": Replacement(symbol="VXX", scale=D("1.5"))}},
        ["replacement_leverage"],
        None,
    ),
    (
        "only_excluded_symbols",
        FRESH,
        {"SPY": "1"},
        {"excluded_symbols": frozenset({"SPY"})},
        ["only_excluded"],
        None,
    ),
    (
        "unknown_symbol",
        view(10_000, {"SPY": (10, 100)}, unqualified=("XXXX",)),
        {"SPY": "0.5", "XXXX": "0.5"},
        {},
        ["unknown_symbol"],
        "XXXX",
    ),
    (
        "unqualified_quote",
        view(10_000, {"SPY": (10, 100)}, quotes=[quote("XXXX", status="unqualified")]),
        {"SPY": "0.5", "XXXX": "0.5"},
        {},
        ["unknown_symbol"],
        "XXXX",
    ),
    ("missing_quote", view(10_000, {"SPY": (10, 100)}), OK, {}, ["missing_quote"], "AGG"),
    (
        "missing_status",
        view(10_000, {"SPY": (10, 100)}, quotes=[quote("AGG", status="missing")]),
        OK,
        {},
        ["missing_quote"],
        "AGG",
    ),
    (
        "zero_price",
        view(10_000, {"SPY": (10, 100)}, quotes=[quote("AGG", 0)]),
        OK,
        {},
        ["missing_quote"],
        "AGG",
    ),
    (
        "stale_quote",
        view(10_000, {"SPY": (10, 100)}, quotes=[quote("AGG", 100, age_s=301)]),
        OK,
        {},
        ["stale_quote"],
        "AGG",
    ),
    (
        "stale_held_quote",
        view(
            10_000, {"SPY": (10, 100)}, prices={"AGG": 100}, quotes=[quote("SPY", 100, age_s=900)]
        ),
        OK,
        {},
        ["stale_quote"],
        "SPY",
    ),
    (
        "delayed_data_when_live_required",
        view(10_000, {"SPY": (10, 100)}, quotes=[quote("AGG", 100, data=MarketDataType.DELAYED)]),
        OK,
        {"require_live_data": True},
        ["delayed_data"],
        "AGG",
    ),
    (
        "unknown_data_type_when_live_required",
        view(10_000, {"SPY": (10, 100)}, quotes=[quote("AGG", 100, data=None)]),
        OK,
        {"require_live_data": True},
        ["delayed_data"],
        "AGG",
    ),
    (
        "stale_positions",
        view(10_000, {"SPY": (10, 100)}, prices={"AGG": 100}, positions_age_s=301),
        OK,
        {},
        ["stale_positions", "stale_account"],
        None,
    ),
    (
        "zero_net_liquidation",
        view(0, prices={"SPY": 100, "AGG": 100}),
        OK,
        {},
        ["no_net_liquidation"],
        None,
    ),
    (
        "unlisted_holding_without_any_price",
        view(
            10_000, {"SPY": (10, 100)}, prices={"AGG": 100}, quotes=[quote("SPY", status="missing")]
        ),
        {"AGG": "1"},
        {},
        ["missing_quote"],
        "SPY",
    ),
]


@pytest.mark.parametrize(
    ("portfolio", "weights", "options", "codes", "symbol"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_invalid_input_is_rejected_with_reasons(
    portfolio: PortfolioView,
    weights: Any,
    options: dict[str, Any],
    codes: list[str],
    symbol: str | None,
) -> None:
    pairs = weights.items() if isinstance(weights, dict) else weights
    # The contract itself refuses NaN; model_construct shows the core refuses it too.
    target = tuple(TargetWeight.model_construct(symbol=s, weight=Decimal(w)) for s, w in pairs)
    result = plan_rebalance(portfolio, target, policy(**options), NOW)
    assert isinstance(result, Rejection), result
    assert sorted(result.codes) == sorted(codes)
    for reason in result.reasons:
        assert reason.message.endswith(".")
        assert len(reason.message) > 40
    if symbol is not None:
        assert any(r.symbol == symbol and symbol in r.message for r in result.reasons)


def test_nan_price_that_slipped_past_the_contract_is_treated_as_missing() -> None:
    nan = Quote.model_construct(
        symbol="AGG",
        status="ok",
        bid=Decimal("NaN"),
        ask=Decimal("NaN"),
        last=None,
        close=None,
        market_data_type=MarketDataType.LIVE,
        as_of=NOW,
        con_id=None,
        min_quantity_increment=None,
    )
    result = plan_rebalance(
        view(10_000, {"SPY": (10, 100)}, quotes=[nan]), targets(OK), policy(), NOW
    )
    assert isinstance(result, Rejection)
    assert result.codes == ("missing_quote",)


def test_all_problems_of_a_portfolio_are_reported_together() -> None:
    portfolio = view(
        10_000, {"SPY": (10, 100)}, quotes=[quote("SPY", 100, age_s=999)], positions_age_s=999
    )
    result = plan_rebalance(portfolio, targets(OK), policy(), NOW)
    assert isinstance(result, Rejection)
    assert set(result.codes) == {"stale_positions", "stale_account", "stale_quote", "missing_quote"}


def test_a_zero_target_not_held_needs_no_quote() -> None:
    result = plan_rebalance(
        view(10_000, prices={"SPY": 100}), targets({"SPY": "1", "GONE": "0"}), policy(), NOW
    )
    assert not isinstance(result, Rejection)
    assert [leg.symbol for leg in result.legs] == ["SPY"]
