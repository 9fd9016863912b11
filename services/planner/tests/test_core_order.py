"""One operator order priced into a one-leg plan, or refused with a reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from planner.core import Plan, Rejection, plan_order
from rebalancer_testkit.portfolios import NOW, D, policy, view
from shared.contracts.base import Side
from shared.contracts.order_commands import ManualOrder, OrderType, TimeInForce
from shared.policy import TradeMode


def order(side: str = "BUY", **fields: Any) -> ManualOrder:
    return ManualOrder.model_validate({"symbol": "SPY", "side": side, **fields})


def test_a_market_buy_becomes_one_leg_at_the_quote_with_its_terms_kept() -> None:
    asked = order(quantity="10", time_in_force="GTC", outside_rth=True)
    plan = plan_order(view(10_000, prices={"SPY": 400}), asked, policy(), NOW)
    assert isinstance(plan, Plan)
    (leg,) = plan.legs
    assert (leg.side, leg.symbol, leg.quantity, leg.reference_price) == (
        Side.BUY, "SPY", D(10), D(400),
    )  # fmt: skip
    assert leg.estimated_value == D(4000)
    assert leg.order == asked
    assert leg.order.time_in_force == TimeInForce.GTC
    assert plan.summary.gross_buy == D(4000)
    assert plan.summary.cash_after == D(6000)
    (row,) = plan.drift
    assert (row.action, row.current_quantity, row.target_pct) == ("BUY", D(0), D(40))


def test_a_cash_amount_is_sized_down_to_whole_shares_at_the_limit_price() -> None:
    asked = order(cash_amount="1000", order_type="LMT", limit_price="300")
    plan = plan_order(view(10_000, prices={"SPY": 400}), asked, policy(), NOW)
    assert isinstance(plan, Plan)
    assert (plan.legs[0].quantity, plan.legs[0].reference_price) == (D(3), D(300))
    assert plan.legs[0].order is not None
    assert plan.legs[0].order.order_type == OrderType.LIMIT
    assert any("rounded down" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("asked", "options", "code"),
    [
        (order(cash_amount="100"), {}, "order_too_small"),
        (order(quantity="1.5"), {}, "fractional_quantity"),
        (order("SELL", quantity="11"), {}, "short_sale"),
        (order("SELL", quantity="1"), {"mode": TradeMode.BUY_ONLY}, "side_not_allowed"),
        (order(symbol="NOPE", quantity="1"), {}, "missing_quote"),
    ],
)
def test_an_order_that_cannot_be_planned_as_asked_is_refused_with_its_reason(
    asked: ManualOrder, options: dict[str, Any], code: str
) -> None:
    portfolio = view(10_000, {"SPY": (10, 400)})
    result = plan_order(portfolio, asked, policy(**options), NOW)
    assert isinstance(result, Rejection)
    assert result.codes == (code,)


def test_a_fractional_account_buys_fractions() -> None:
    plan = plan_order(
        view(10_000, prices={"SPY": 400}), order(cash_amount="500"), policy(fractional=True), NOW
    )
    assert isinstance(plan, Plan)
    assert plan.legs[0].quantity == Decimal("1.25")


@pytest.mark.parametrize(
    "fields",
    [
        {"quantity": "1", "cash_amount": "5"},
        {},
        {"quantity": "1", "order_type": "LMT"},
        {"quantity": "1", "limit_price": "5"},
        {"quantity": "0"},
    ],
)
def test_a_manual_order_contract_refuses_inconsistent_terms(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        order(**fields)
