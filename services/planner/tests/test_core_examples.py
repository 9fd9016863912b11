"""Worked examples of the planning core: known portfolios, targets and policies -> legs.

The first rows are the examples of the reference products' READMEs (seeds 000, 001, 002).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from planner.core import Plan, Rejection, Skip, plan_rebalance
from rebalancer_testkit.portfolios import (
    NOW,
    SEED002_HOLDINGS,
    SEED002_TARGETS,
    D,
    policy,
    quote,
    targets,
    view,
)
from shared.contracts.portfolio import PortfolioView
from shared.policy import Replacement, TradeMode


@dataclass
class Example:
    name: str
    portfolio: PortfolioView
    weights: dict[str, Any]
    expected: list[tuple[str, str, str]]
    """(side, symbol, quantity) in leg order."""
    options: dict[str, Any] = field(default_factory=dict)
    skips: dict[str, Skip] = field(default_factory=dict)


EXAMPLES = [
    Example(
        "seed000_all_cash_three_etfs",
        view(100_000, prices={"QQQ": 500, "SPY": 400, "VIXY": 20}),
        {"QQQ": "0.6", "SPY": "0.3", "VIXY": "0.1"},
        [("BUY", "QQQ", "120"), ("BUY", "SPY", "75"), ("BUY", "VIXY", "500")],
    ),
    Example(
        # Commissions (1 minimum, 0.005/share) leave 4.50 short: VIXY gives one share.
        "seed000_commissions_never_overspend",
        view(100_000, prices={"QQQ": 500, "SPY": 400, "VIXY": 20}),
        {"QQQ": "0.6", "SPY": "0.3", "VIXY": "0.1"},
        [("BUY", "QQQ", "120"), ("BUY", "SPY", "75"), ("BUY", "VIXY", "499")],
        {"commission_per_share": D("0.005"), "commission_minimum": D(1)},
        {"VIXY": Skip.NO_CASH},
    ),
    Example(
        "seed002_drift_table_spy_under_agg_over",
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [("SELL", "AGG", "5"), ("BUY", "SPY", "5")],
    ),
    Example(
        "seed001_sells_positions_not_in_target",
        view(0, {"SPY": (10, 100), "XYZ": (20, 50)}),
        {"SPY": "1"},
        [("SELL", "XYZ", "20"), ("BUY", "SPY", "10")],
    ),
    Example(
        "seed001_difference_under_half_a_share_is_not_traded",
        view("40", {"SPY": (99, 100)}, nlv="9940"),
        {"SPY": "1"},
        [],
        {"min_share_diff": D("0.5")},
    ),
    Example(
        "seed000_minimum_trade_size_100",
        view(50, {"SPY": (99, 100)}),
        {"SPY": "1"},
        [],
        {"min_order_value": D(100)},
        {},
    ),
    Example(
        "leave_unlisted_positions_when_sell_unlisted_is_off",
        view(0, {"SPY": (10, 100), "XYZ": (20, 50)}),
        {"SPY": "1"},
        [],
        {"sell_unlisted": False},
        {"XYZ": Skip.LEFT_UNLISTED},
    ),
    Example(
        "buy_only_account_never_sells_overweight_positions",
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [],
        {"mode": TradeMode.BUY_ONLY},
        {"AGG": Skip.BUY_ONLY, "SPY": Skip.NO_CASH},
    ),
    Example(
        "sell_only_account_sells_and_never_buys",
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [("SELL", "AGG", "5")],
        {"mode": TradeMode.SELL_ONLY},
        {"SPY": Skip.SELL_ONLY},
    ),
    Example(
        "symbol_mode_buy_only_protects_one_holding",
        view(1000, {"SPY": (45, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [("BUY", "SPY", "10")],
        {"symbol_modes": {"AGG": TradeMode.BUY_ONLY}},
        {"AGG": Skip.BUY_ONLY},
    ),
    Example(
        "absolute_band_wider_than_drift_trades_nothing",
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [],
        {"drift_band_abs_pct": D(6)},
        {"SPY": Skip.INSIDE_BAND, "AGG": Skip.INSIDE_BAND},
    ),
    Example(
        "absolute_band_narrower_than_drift_trades",
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [("SELL", "AGG", "5"), ("BUY", "SPY", "5")],
        {"drift_band_abs_pct": D(4)},
    ),
    Example(
        # 5 points is 8.3 % of SPY's 60 but 12.5 % of AGG's 40: only AGG leaves its band.
        "relative_band_uses_each_targets_size",
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [("SELL", "AGG", "5")],
        {"drift_band_rel_pct": D(10)},
        {"SPY": Skip.INSIDE_BAND},
    ),
    Example(
        "portfolio_band_holds_everything_while_total_drift_is_small",
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        {"SPY": "0.6", "AGG": "0.4"},
        [],
        {"portfolio_drift_band_pct": D(5)},
        {"SPY": Skip.INSIDE_PORTFOLIO_BAND, "AGG": Skip.INSIDE_PORTFOLIO_BAND},
    ),
    Example(
        "cash_buffer_is_never_spent",
        view(10_000, prices={"SPY": 100}),
        {"SPY": "1"},
        [("BUY", "SPY", "95")],
        {"cash_buffer_pct": D(5)},
        {"SPY": Skip.NO_CASH},
    ),
    Example(
        "target_cash_weight_keeps_cash_as_a_target",
        view(10_000, prices={"SPY": 100}),
        {"SPY": "1"},
        [("BUY", "SPY", "90")],
        {"target_cash_weight": D("0.1")},
    ),
    Example(
        "whole_shares_round_to_the_nearest_share",
        view(1000, prices={"SPY": 300}),
        {"SPY": "1"},
        [("BUY", "SPY", "3")],
    ),
    Example(
        "fractional_shares_in_quantity_increments",
        view(1000, prices={"SPY": 300}),
        {"SPY": "1"},
        [("BUY", "SPY", "3.3333")],
        {"fractional": True, "quantity_increment": D("0.0001")},
    ),
    Example(
        "replacement_trades_vxx_instead_of_uvxy_and_sells_held_uvxy",
        view(0, {"SPY": (100, 100), "UVXY": (50, 20)}, prices={"VXX": 50}),
        {"SPY": "0.9", "UVXY": "0.1"},
        [("SELL", "SPY", "1"), ("SELL", "UVXY", "50"), ("BUY", "VXX", "22")],
        {"replacements": {"UVXY": Replacement(symbol="VXX", scale=D(1))}},
    ),
    Example(
        "excluded_holding_is_left_out_of_the_weights",
        view(10_000, {"TSLA": (10, 200)}, prices={"SPY": 100}),
        {"SPY": "1"},
        [("BUY", "SPY", "100")],
        {"excluded_symbols": frozenset({"TSLA"})},
        {"TSLA": Skip.EXCLUDED},
    ),
    Example(
        "excluded_target_weight_is_spread_over_the_others",
        view(10_000, prices={"SPY": 100, "TSLA": 200}),
        {"SPY": "0.5", "TSLA": "0.5"},
        [("BUY", "SPY", "100")],
        {"excluded_symbols": frozenset({"TSLA"})},
    ),
    Example(
        "leverage_allowed_up_to_its_maximum",
        view(10_000, prices={"SPY": 100}),
        {"SPY": "1.5"},
        [("BUY", "SPY", "150")],
        {"allow_leverage": True, "max_leverage": D("1.5")},
    ),
    Example(
        "bid_ask_sizing_buys_at_ask_and_sells_at_bid",
        view(
            0,
            {"SPY": (50, 100), "AGG": (50, 100)},
            quotes=[quote("SPY", bid=99, ask=101), quote("AGG", bid=99, ask=101)],
        ),
        {"SPY": "0.7", "AGG": "0.3"},
        [("SELL", "AGG", "20"), ("BUY", "SPY", "19")],
        {"sizing_price": "bid_ask"},
        {"SPY": Skip.NO_CASH},
    ),
    Example(
        "cash_short_buys_are_scaled_down_evenly",
        view(1000, {"OLD": (90, 100)}, prices={"AAA": 100, "BBB": 100}),
        {"AAA": "0.5", "BBB": "0.5"},
        [("BUY", "AAA", "5"), ("BUY", "BBB", "5")],
        {"mode": TradeMode.BUY_ONLY},
        {"OLD": Skip.BUY_ONLY, "AAA": Skip.NO_CASH, "BBB": Skip.NO_CASH},
    ),
    Example(
        "a_buy_too_small_after_scaling_gives_its_cash_to_the_others",
        view(1000, {"OLD": (90, 100)}, prices={"AAA": 100, "BBB": 100}),
        {"AAA": "0.9", "BBB": "0.1"},
        [("BUY", "AAA", "10")],
        {"mode": TradeMode.BUY_ONLY, "min_order_value": D(200)},
        {"BBB": Skip.NO_CASH},
    ),
    Example(
        "weights_within_the_tolerance_are_accepted",
        view(10_000, prices={"SPY": 100, "AGG": 100}),
        {"SPY": "0.6", "AGG": "0.3995"},
        [("BUY", "SPY", "60"), ("BUY", "AGG", "40")],
    ),
    Example(
        "no_bid_ask_falls_back_to_last",
        view(1000, quotes=[quote("SPY", last=100)]),
        {"SPY": "1"},
        [("BUY", "SPY", "10")],
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_worked_example(example: Example) -> None:
    result = plan_rebalance(
        example.portfolio, targets(example.weights), policy(**example.options), NOW
    )
    assert isinstance(result, Plan), result
    legs = [(leg.side.value, leg.symbol, f"{leg.quantity.normalize():f}") for leg in result.legs]
    assert legs == [(s, sym, f"{D(q).normalize():f}") for s, sym, q in example.expected]
    assert [leg.leg for leg in result.legs] == list(range(len(result.legs)))
    skips = {row.symbol: row.skip_reason for row in result.drift if row.skip_reason}
    for symbol, skip in example.skips.items():
        assert skips.get(symbol, "").startswith(skip.value), (symbol, skips)


def test_drift_table_and_summary_of_the_seed002_example() -> None:
    result = plan_rebalance(view(0, SEED002_HOLDINGS), targets(SEED002_TARGETS), policy(), NOW)
    assert isinstance(result, Plan)
    spy, agg = result.drift
    assert (spy.symbol, spy.target_pct, spy.current_pct, spy.drift_pct) == ("SPY", 60, 55, -5)
    assert (spy.drift_value, spy.action, spy.quantity, spy.estimated_value) == (-500, "BUY", 5, 500)
    assert (agg.drift_pct, agg.drift_value, agg.action, agg.quantity) == (5, 500, "SELL", 5)
    s = result.summary
    assert (s.net_liquidation, s.cash_before, s.cash_after) == (10_000, 0, 0)
    assert (s.gross_buy, s.gross_sell, s.turnover_pct) == (500, 500, 10)
    assert (s.pre_gross_exposure, s.post_gross_exposure) == (10_000, 10_000)
    assert (s.pre_leverage, s.post_leverage, s.estimated_commissions) == (1, 1, 0)
    assert result.portfolio_drift_pct == 5


def test_summary_counts_commissions_and_leverage_after_the_plan() -> None:
    result = plan_rebalance(
        view(10_000, prices={"SPY": 100}),
        targets({"SPY": "1.5"}),
        policy(
            allow_leverage=True,
            max_leverage=D("1.5"),
            commission_per_share=D("0.01"),
            commission_minimum=D(1),
        ),
        NOW,
    )
    assert isinstance(result, Plan)
    s = result.summary
    assert result.legs[0].quantity == 149  # 150 shares plus 1.50 commission would pass 1.5x
    assert s.estimated_commissions == Decimal("1.49")
    assert s.cash_after == Decimal("-4901.49")
    assert s.post_leverage == Decimal("1.49")
    assert s.pre_leverage == 0


def test_excluded_symbols_never_appear_in_legs_even_when_overweight() -> None:
    result = plan_rebalance(
        view(0, {"TSLA": (50, 200), "SPY": (0, 100)}, prices={"SPY": 100}),
        targets({"SPY": "1"}),
        policy(excluded_symbols=frozenset({"tsla"})),
        NOW,
    )
    assert isinstance(result, Rejection)
    assert result.codes == ("no_managed_value",)


def test_every_skipped_leg_says_why_and_warnings_explain_scaling() -> None:
    result = plan_rebalance(
        view(10_000, prices={"SPY": 100}),
        targets({"SPY": "1"}),
        policy(cash_buffer_pct=D(5)),
        NOW,
    )
    assert isinstance(result, Plan)
    assert any("cash buffer" in w for w in result.warnings)
    assert result.drift[0].skip_reason
    assert "wanted 100" in result.drift[0].skip_reason


def test_portfolio_band_warns_that_nothing_trades() -> None:
    result = plan_rebalance(
        view(0, {"SPY": (55, 100), "AGG": (45, 100)}),
        targets({"SPY": "0.6", "AGG": "0.4"}),
        policy(portfolio_drift_band_pct=D(5)),
        NOW,
    )
    assert isinstance(result, Plan)
    assert result.legs == ()
    assert any("portfolio band" in w for w in result.warnings)


def test_symbols_are_compared_trimmed_and_upper_case() -> None:
    result = plan_rebalance(view(0, {"SPY": (10, 100)}), targets({" spy ": "1"}), policy(), NOW)
    assert isinstance(result, Plan)
    assert result.legs == ()
