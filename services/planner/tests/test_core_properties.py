"""Invariants of the planning core over random portfolios, prices, targets and policies."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.core import Plan, plan_rebalance
from rebalancer_testkit.portfolios import NOW, policy, quote, view
from shared.contracts.base import Side, TargetWeight
from shared.contracts.portfolio import PortfolioView
from shared.policy import PlanningPolicy, TradeMode
from shared.rebalancing.costs import commission

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]
ZERO = Decimal(0)

prices = st.integers(min_value=100, max_value=200_000).map(lambda c: Decimal(c) / 100)
quantities = st.integers(min_value=0, max_value=2_000).map(Decimal)
cash = st.integers(min_value=0, max_value=500_000).map(Decimal)


@dataclass
class Case:
    portfolio: PortfolioView
    targets: tuple[TargetWeight, ...]
    policy: PlanningPolicy
    prices: dict[str, Decimal]


@st.composite
def weights(draw: st.DrawFn, total: Decimal = Decimal(1)) -> dict[str, Decimal]:
    """Random weights over a random subset of symbols, summing exactly to ``total``."""
    chosen = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=6, unique=True))
    raw = [draw(st.integers(min_value=0, max_value=100)) for _ in chosen]
    if sum(raw) == 0:
        raw[0] = 1
    result = {
        s: (Decimal(r) / sum(raw) * total).quantize(Decimal("0.0001"))
        for s, r in zip(chosen, raw, strict=True)
    }
    result[chosen[0]] += total - sum(result.values())
    return result


@st.composite
def policies(draw: st.DrawFn, commissions: bool = True) -> PlanningPolicy:
    leverage = draw(st.booleans())
    options = {
        "fractional": draw(st.booleans()),
        "quantity_increment": draw(st.sampled_from([Decimal("0.0001"), Decimal("0.01")])),
        "min_order_value": draw(st.sampled_from([ZERO, Decimal(50), Decimal(100)])),
        "min_share_diff": draw(st.sampled_from([ZERO, Decimal("0.5"), Decimal(1)])),
        "cash_buffer_pct": draw(st.sampled_from([ZERO, Decimal(1), Decimal(5)])),
        "target_cash_weight": draw(st.sampled_from([ZERO, Decimal("0.02")])),
        "mode": draw(st.sampled_from(list(TradeMode))),
        "sell_unlisted": draw(st.booleans()),
        "excluded_symbols": frozenset(draw(st.lists(st.sampled_from(SYMBOLS), max_size=2))),
        "sizing_price": draw(st.sampled_from(["mid", "bid_ask", "last"])),
        "allow_leverage": leverage,
        "max_leverage": draw(st.sampled_from([Decimal(1), Decimal("1.5"), Decimal(2)]))
        if leverage
        else Decimal(1),
    }
    if commissions:
        options["commission_per_share"] = Decimal("0.005")
        options["commission_minimum"] = Decimal(1)
    return policy(**options)


@st.composite
def cases(draw: st.DrawFn, commissions: bool = True, spread: bool = True) -> Case:
    rules = draw(policies(commissions))
    limit = rules.max_leverage if rules.allow_leverage else Decimal(1)
    total = draw(st.sampled_from(sorted({Decimal(1), limit})))
    wanted = draw(weights(total))
    held_symbols = draw(st.lists(st.sampled_from(SYMBOLS), max_size=6, unique=True))
    price_of = {s: draw(prices) for s in SYMBOLS}
    holdings = {s: (draw(quantities), price_of[s]) for s in held_symbols}
    quotes = []
    for symbol in set(wanted) | set(held_symbols):
        mid = price_of[symbol]
        half = draw(st.sampled_from([ZERO, Decimal("0.01"), Decimal("0.05")])) if spread else ZERO
        quotes.append(quote(symbol, bid=mid - half, ask=mid + half, last=mid))
    portfolio = view(draw(cash), holdings, quotes=quotes)
    targets = tuple(TargetWeight(symbol=s, weight=w) for s, w in wanted.items())
    return Case(portfolio, targets, rules, price_of)


def plan_of(case: Case) -> Plan | None:
    result = plan_rebalance(case.portfolio, case.targets, case.policy, NOW)
    return result if isinstance(result, Plan) else None


def held(case: Case) -> dict[str, Decimal]:
    return {p.symbol: p.quantity for p in case.portfolio.positions}


# PLANNER_HYPOTHESIS_EXAMPLES=5000 for a long soak; CI keeps the suite fast.
FAST = settings(
    max_examples=int(os.environ.get("PLANNER_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FAST
@given(cases())
def test_never_sells_more_than_held_and_never_plans_a_short(case: Case) -> None:
    plan = plan_of(case)
    if plan is None:
        return
    holdings = held(case)
    for leg in plan.legs:
        assert leg.quantity > 0
        if leg.side is Side.SELL:
            assert leg.quantity <= holdings.get(leg.symbol, ZERO)


@FAST
@given(cases())
def test_buys_never_exceed_cash_after_sells_buffer_and_commissions(case: Case) -> None:
    plan = plan_of(case)
    if plan is None:
        return
    p, view_ = case.policy, case.portfolio
    nlv = view_.net_liquidation
    borrow = (p.max_leverage - 1) * nlv if p.allow_leverage else ZERO
    sells = sum(
        (leg.quantity * leg.reference_price for leg in plan.legs if leg.side is Side.SELL), ZERO
    )
    buys = sum(
        (leg.quantity * leg.reference_price for leg in plan.legs if leg.side is Side.BUY), ZERO
    )
    fees = sum((commission(leg.quantity, p) for leg in plan.legs), ZERO)
    if buys:
        assert buys + fees <= view_.total_cash + sells - p.cash_buffer_pct / 100 * nlv + borrow


@FAST
@given(cases())
def test_leverage_after_the_plan_stays_within_the_maximum(case: Case) -> None:
    plan = plan_of(case)
    if plan is None:
        return
    limit = case.policy.max_leverage if case.policy.allow_leverage else Decimal(1)
    s = plan.summary
    assert s.post_leverage <= max(limit, s.pre_leverage) + Decimal("0.0001")


@FAST
@given(cases())
def test_whole_share_mode_gives_whole_shares(case: Case) -> None:
    plan = plan_of(case)
    if plan is None or case.policy.fractional:
        return
    assert all(leg.quantity == leg.quantity.to_integral_value() for leg in plan.legs)


@FAST
@given(cases())
def test_modes_and_exclusions_are_respected(case: Case) -> None:
    plan = plan_of(case)
    if plan is None:
        return
    sides = {leg.side for leg in plan.legs}
    if case.policy.mode is TradeMode.BUY_ONLY:
        assert Side.SELL not in sides
    if case.policy.mode is TradeMode.SELL_ONLY:
        assert Side.BUY not in sides
    assert not {leg.symbol for leg in plan.legs} & case.policy.excluded_symbols
    if not case.policy.sell_unlisted:
        wanted = {t.symbol for t in case.targets}
        assert all(leg.symbol in wanted for leg in plan.legs)


@FAST
@given(cases())
def test_sells_come_before_buys(case: Case) -> None:
    plan = plan_of(case)
    if plan is None:
        return
    sides = [leg.side for leg in plan.legs]
    assert sides == sorted(sides, key=lambda side: side is Side.BUY)


def execute(case: Case, plan: Plan) -> Case:
    """Fill every leg at its reference price, paying the estimated commissions."""
    quantities = held(case)
    cash_now = case.portfolio.total_cash
    for leg in plan.legs:
        sign = 1 if leg.side is Side.BUY else -1
        quantities[leg.symbol] = quantities.get(leg.symbol, ZERO) + sign * leg.quantity
        cash_now -= sign * leg.quantity * leg.reference_price + commission(
            leg.quantity, case.policy
        )
    holdings = {s: (q, case.prices[s]) for s, q in quantities.items()}
    portfolio = view(cash_now, holdings, quotes=list(case.portfolio.quotes))
    return Case(portfolio, case.targets, case.policy, case.prices)


@FAST
@given(cases(commissions=False, spread=False))
def test_running_the_plan_then_planning_again_gives_an_empty_plan(case: Case) -> None:
    plan = plan_of(case)
    if plan is None:
        return
    again = plan_of(execute(case, plan))
    assert again is not None
    assert again.legs == (), (plan.legs, again.legs)


@FAST
@given(cases(commissions=False, spread=False), st.sampled_from([ZERO, Decimal(1), Decimal(3)]))
def test_a_portfolio_at_its_target_gives_an_empty_plan(case: Case, band: Decimal) -> None:
    view_ = case.portfolio
    nlv = view_.net_liquidation
    if nlv <= 0:
        return
    values = {p.symbol: p.quantity * case.prices[p.symbol] for p in view_.positions}
    values = {s: v for s, v in values.items() if v > 0}
    invested = sum(values.values(), ZERO)
    if not values or invested <= 0:
        return
    # The cash becomes the target cash weight, so every holding is exactly on target.
    weights = {s: v / invested for s, v in values.items()}  # 28 digits: exactly on target
    first = next(iter(weights))
    weights[first] += 1 - sum(weights.values())
    at_target = tuple(TargetWeight(symbol=s, weight=w) for s, w in weights.items())
    rules = case.policy.model_copy(
        update={
            "excluded_symbols": frozenset(),
            "target_cash_weight": view_.total_cash / nlv,
            "drift_band_abs_pct": band,
        }
    )
    result = plan_rebalance(view_, at_target, rules, NOW)
    assert isinstance(result, Plan), result
    assert result.legs == ()
