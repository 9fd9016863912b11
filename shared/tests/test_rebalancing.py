"""The rules every service shares: target formats and checks, ids, costs, buy sizing, exposure."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.base import TargetWeight
from shared.contracts.plans import SizingTerms
from shared.policy import PlanningPolicy
from shared.rebalancing.costs import BuyDemand, allocate_buys, buy_cost, commission, floor_to_step
from shared.rebalancing.exposure import Exposure, leverage, valuation_price
from shared.rebalancing.ids import ClientOrderId, InvalidPlanId, plan_id_for, plan_id_of
from shared.rebalancing.portfolio_csv import parse_portfolio_csv
from shared.rebalancing.targets import (
    parse_target_mapping,
    parse_target_rows,
    validate_targets,
)

D = Decimal


def weights(**pairs: str) -> list[TargetWeight]:
    # model_construct: the contract refuses NaN itself; these show the rules refuse it too.
    return [TargetWeight.model_construct(symbol=s, weight=D(w)) for s, w in pairs.items()]


# ----------------------------------------------------------------- ids


def test_client_order_ids_format_and_parse_back() -> None:
    coid = ClientOrderId("pl-0123456789ab", 3, 1)
    assert str(coid) == "pl-0123456789ab.3.1"
    assert ClientOrderId.parse(str(coid)) == coid
    assert coid.next_attempt() == ClientOrderId("pl-0123456789ab", 3, 2)


@pytest.mark.parametrize("value", ["manual-order", "p.1", "p.1.2.3", "p.x.1", ".1.2", "p.1.-1"])
def test_ids_that_are_not_ours_parse_to_none(value: str) -> None:
    assert ClientOrderId.parse(value) is None
    assert plan_id_of(value) is None


@pytest.mark.parametrize("plan_id", ["alloc-1.DU1", "", "a b"])
def test_a_plan_id_that_cannot_make_client_order_ids_is_refused(plan_id: str) -> None:
    with pytest.raises(InvalidPlanId):
        ClientOrderId(plan_id, 0, 0)


def test_plan_ids_are_deterministic_and_dotless() -> None:
    first = plan_id_for("al-1", "DU1")
    assert first == plan_id_for("al-1", "DU1") != plan_id_for("al-1", "DU2")
    assert "." not in first
    assert first.startswith("pl-")


# ----------------------------------------------------------------- target formats


def test_rows_accept_allocation_or_weight_and_report_every_bad_row() -> None:
    good = parse_target_rows(
        [{"symbol": "QQQ", "allocation": 0.6}, {"symbol": "SPY", "weight": "0.4"}], "t"
    )
    assert good.ok
    assert [(t.symbol, t.weight) for t in good.targets] == [("QQQ", D("0.6")), ("SPY", D("0.4"))]
    bad = parse_target_rows(
        [
            {"symbol": "QQQ"},
            {"symbol": "", "allocation": 1},
            "x",
            {"symbol": "A", "allocation": True},
        ],
        "t",
    )
    assert [r.code for r in bad.reasons] == ["invalid_targets"] * 4
    assert "t[0] (QQQ): allocation is missing" in bad.reasons[0].message
    assert not parse_target_rows({"symbol": "QQQ"}, "t").ok
    [floated] = parse_target_rows([{"symbol": "Q", "allocation": 0.1}], "t").targets
    assert floated.weight == D("0.1")  # not the float's binary expansion


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("symbol,weight\nSPY,0.6\nAGG,0.4\nOLD,\n", [("SPY", "0.6"), ("AGG", "0.4"), ("OLD", "0")]),
        ("SPY,1\n", [("SPY", "1")]),
        ("# model\nSPY,0.5\n\nAGG,0.5\n", [("SPY", "0.5"), ("AGG", "0.5")]),
        ("\ufeffName,Symbol,Allocation\nS&P,SPY,1\n", [("SPY", "1")]),
        ("symbol,target_weight\nSPY,1\n", [("SPY", "1")]),
    ],
)
def test_csv_with_or_without_header(text: str, expected: list[tuple[str, str]]) -> None:
    parsed = parse_portfolio_csv(text, "t.csv")
    assert parsed.ok, parsed.reasons
    assert [(t.symbol, str(t.weight)) for t in parsed.targets] == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("SPY,60%\nAGG,0.4\n", "line 2 (AGG): 0.4 has no % sign while other rows have one"),
        ("SPY,abc\n", "t.csv: line 1 (SPY): weight 'abc' is not a number"),
        ("SPY,nan\n", "not a finite number"),
        ("symbol,price\nSPY,1\n", "names no weight column"),
        (",0.5\n", "a weight without a symbol"),
        ("", "no targets in the file"),
    ],
)
def test_csv_problems_name_the_line_and_the_fix(text: str, says: str) -> None:
    parsed = parse_portfolio_csv(text, "t.csv")
    assert not parsed.ok
    assert all(r.code == "invalid_csv" for r in parsed.reasons)
    assert says in parsed.reasons[0].message


def test_mappings_and_lists_from_yaml() -> None:
    assert [t.symbol for t in parse_target_mapping({"SPY": "0.5", "AGG": 0.5}, "y").targets] == [
        "SPY",
        "AGG",
    ]
    listed = parse_target_mapping([{"symbol": "SPY", "allocation": 1}], "y")
    assert listed.targets[0].weight == D(1)
    assert not parse_target_mapping("SPY", "y").ok
    assert "item 1" in parse_target_mapping([{"weight": 1}], "y").reasons[0].message


# ----------------------------------------------------------------- target checks

LEVERED = PlanningPolicy(allow_leverage=True, max_leverage=D("1.5"))


@pytest.mark.parametrize(
    ("targets", "policy", "codes"),
    [
        (weights(SPY="0.6", AGG="0.4"), PlanningPolicy(), []),
        ([], PlanningPolicy(), ["empty_target"]),
        (weights(SPY="-0.1", AGG="1.1"), PlanningPolicy(), ["weight_negative", "weight_above_one"]),
        (weights(SPY="1.5"), PlanningPolicy(), ["weight_above_one"]),
        (weights(SPY="1.6"), LEVERED, ["weight_above_max_leverage"]),
        (weights(SPY="NaN", AGG="0.4"), PlanningPolicy(), ["weight_not_finite"]),
        ([*weights(SPY="0.5"), TargetWeight(symbol=" spy", weight=D("0.5"))], PlanningPolicy(), ["duplicate_symbol"]),
        (weights(**{"SP$Y": "1"}), PlanningPolicy(), ["invalid_symbol"]),
        (weights(SPY="0.6", AGG="0.35"), PlanningPolicy(), ["weights_sum"]),
        (weights(SPY="0.7", AGG="0.4"), PlanningPolicy(), ["weights_sum"]),
        (weights(SPY="1", AGG="0.4"), LEVERED, []),
        (weights(SPY="1", AGG="0.6"), LEVERED, ["leverage_above_max"]),
        (weights(SPY="0.5", AGG="0.4"), LEVERED, ["weights_sum"]),
        (weights(SPY="0.6", AGG="0.4005"), PlanningPolicy(), []),
    ],
)  # fmt: skip
def test_one_rule_set_for_targets(
    targets: list[TargetWeight], policy: PlanningPolicy, codes: list[str]
) -> None:
    check = validate_targets(targets, policy)
    assert [r.code for r in check.reasons] == codes
    assert all(r.message for r in check.reasons)


def test_checked_targets_are_normalised() -> None:
    check = validate_targets([TargetWeight(symbol=" brk b ", weight=D(1))], PlanningPolicy())
    assert check.ok
    assert check.weights == {"BRK B": D(1)}
    assert check.targets == (TargetWeight(symbol="BRK B", weight=D(1)),)


def test_the_leverage_limit_is_one_without_leverage() -> None:
    assert PlanningPolicy().leverage_limit == 1
    assert LEVERED.leverage_limit == D("1.5")


# ----------------------------------------------------------------- costs and buy sizing

TERMS = SizingTerms(
    cash_buffer_pct=D(0), leverage_limit=D(1), quantity_step=D(1),
    commission_per_share=D("0.005"), commission_minimum=D(1),
    min_order_value=D(0), min_share_diff=D(0),
)  # fmt: skip


def test_commission_is_per_share_with_a_minimum() -> None:
    assert commission(D(0), TERMS) == 0
    assert commission(D(10), TERMS) == 1
    assert commission(D(1000), TERMS) == 5
    assert commission(D(-1000), TERMS) == 5
    assert floor_to_step(D("7.99"), D("0.5")) == D("7.5")


def test_buys_that_fit_keep_their_quantities() -> None:
    demands = [BuyDemand("a", D(10), D(100), D(1)), BuyDemand("b", D(5), D(50), D(1))]
    assert allocate_buys(demands, D(2000), TERMS) == {"a": D(10), "b": D(5)}


def test_buys_shrink_together_when_the_cash_is_short() -> None:
    demands = [BuyDemand("a", D(10), D(100), D(1)), BuyDemand("b", D(10), D(100), D(1))]
    sized = allocate_buys(demands, D(1000), TERMS)
    assert sum(buy_cost(q, D(100), TERMS) for q in sized.values()) <= 1000
    assert sized["a"] > 0
    assert sized["b"] > 0


def test_a_buy_below_the_minimums_is_dropped_and_its_cash_given_to_the_others() -> None:
    terms = TERMS.model_copy(update={"min_order_value": D(500)})
    demands = [BuyDemand("a", D(10), D(100), D(1)), BuyDemand("b", D(6), D(100), D(1))]
    sized = allocate_buys(demands, D(1100), terms)
    assert sized["b"] == 0 or sized["b"] * 100 >= 500
    assert sized["a"] * 100 >= 500
    assert sum(buy_cost(q, D(100), terms) for q in sized.values()) <= 1100


@given(
    quantities=st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=20),
    prices=st.lists(st.decimals(min_value=1, max_value=900, places=2), min_size=20, max_size=20),
    budget=st.decimals(min_value=0, max_value=500_000, places=2),
    fractional=st.booleans(),
    minimum_value=st.sampled_from([D(0), D(100)]),
)
def test_sized_buys_never_spend_more_than_the_cash(
    quantities: list[int],
    prices: list[Decimal],
    budget: Decimal,
    fractional: bool,
    minimum_value: Decimal,
) -> None:
    step = D("0.0001") if fractional else D(1)
    terms = TERMS.model_copy(update={"min_order_value": minimum_value})
    demands = [BuyDemand(str(n), D(q), prices[n], step) for n, q in enumerate(quantities)]
    sized = allocate_buys(demands, budget, terms)
    spent = sum((buy_cost(sized[d.key], d.unit_cost, terms) for d in demands), D(0))
    assert spent <= budget
    for d in demands:
        assert D(0) <= sized[d.key] <= d.quantity
        assert sized[d.key] % step == 0
        assert sized[d.key] == 0 or sized[d.key] * d.unit_cost >= minimum_value


# ----------------------------------------------------------------- exposure


def test_valuation_is_the_mid_of_a_sound_quote_else_last_else_close() -> None:
    assert valuation_price(D(99), D(101), D(50), D(40)) == 100
    assert valuation_price(D(101), D(99), D(50), D(40)) == 50  # crossed quote
    assert valuation_price(None, D(101), D("NaN"), D(40)) == 40
    assert valuation_price(None, None, D(0), None) is None


def test_exposure_after_a_trade_is_recomputed_position_by_position() -> None:
    exposure = Exposure({"SPY": (D(-10), D(100)), "BND": (D(20), D(50))})
    assert exposure.gross == 2000
    # Buying back the short closes it: 1000 less, not 1000 more (gross + buys - sells).
    assert exposure.after({"SPY": D(10)}, {}) == 1000
    assert exposure.after({"QQQ": D(2)}, {"QQQ": D(400)}) == 2800
    assert exposure.after({"BND": D(-20)}, {}) == 1000
    assert leverage(D(1000), D(2000)) == D("0.5")
    assert leverage(D(1000), D(0)) is None
