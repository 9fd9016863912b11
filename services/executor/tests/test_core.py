"""The executor's pure core: state machine, risk gate, sizing, order specs, tracking, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor.core.orders import client_order_id, order_spec, parse_client_order_id
from executor.core.risk import FreshQuote, RiskContext, RiskLeg, check_plan
from executor.core.sizing import BuyIntent, cost, size_buys
from executor.core.state import TRANSITIONS, IllegalTransition, PlanStatus, PlanTrigger, apply
from executor.core.tracking import OrderTrack, apply_order_event, leg_status, needs_new_attempt
from executor.core.window import in_window
from shared.contracts.base import Side
from shared.contracts.order_commands import OrderType
from shared.contracts.orders import (
    CommissionReported,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderStatusUnknown,
)
from shared.policy import ExecutionPolicy, OrderStyle

NOW = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
D = Decimal


# ----------------------------------------------------------------- state machine


@pytest.mark.parametrize(
    ("status", "trigger", "after"),
    [(s, t, a) for (s, t), a in TRANSITIONS.items()],
)
def test_every_listed_transition_is_applied(status, trigger, after) -> None:
    assert apply(status, trigger) == after


def test_unlisted_transitions_are_refused() -> None:
    for status in PlanStatus:
        for trigger in PlanTrigger:
            if (status, trigger) not in TRANSITIONS:
                with pytest.raises(IllegalTransition):
                    apply(status, trigger)


def test_a_completed_plan_can_never_start_again() -> None:
    with pytest.raises(IllegalTransition):
        apply(PlanStatus.COMPLETED, PlanTrigger.START)


# ----------------------------------------------------------------- risk gate


def ctx(**overrides) -> RiskContext:
    base = {
        "now": NOW,
        "net_liquidation": D(100_000),
        "gross_position_value": D(90_000),
        "positions": {"SPY": D(100), "BND": D(200)},
        "quotes": {
            "SPY": FreshQuote(D("499.9"), D("500.1"), D(500), NOW),
            "BND": FreshQuote(D("71.99"), D("72.01"), D(72), NOW),
            "QQQ": FreshQuote(D("399.9"), D("400.1"), D(400), NOW),
        },
        "portfolio_as_of": NOW - timedelta(seconds=5),
    }
    return RiskContext(**{**base, **overrides})


SELL_SPY = RiskLeg("SPY", Side.SELL, D(10), D(500))
BUY_QQQ = RiskLeg("QQQ", Side.BUY, D(10), D(400))


def codes(reasons) -> list[str]:
    return [r.code for r in reasons]


def test_a_modest_plan_within_every_limit_passes() -> None:
    assert check_plan([SELL_SPY, BUY_QQQ], ExecutionPolicy(), ctx()) == []


@pytest.mark.parametrize(
    ("policy", "legs", "context", "expected"),
    [
        (ExecutionPolicy(max_order_notional=D(4000)), [SELL_SPY], {}, "max_order_notional"),
        (ExecutionPolicy(max_turnover_pct=D(5)), [SELL_SPY, BUY_QQQ], {}, "max_turnover"),
        (
            ExecutionPolicy(),
            [RiskLeg("QQQ", Side.BUY, D(100), D(400))],
            {},
            "max_post_leverage",
        ),
        (ExecutionPolicy(denied_symbols=frozenset({"QQQ"})), [BUY_QQQ], {}, "denied_symbol"),
        (
            ExecutionPolicy(allowed_symbols=frozenset({"SPY"})),
            [BUY_QQQ],
            {},
            "symbol_not_allowed",
        ),
        (ExecutionPolicy(), [RiskLeg("QQQ", Side.BUY, D(1), D(430))], {}, "price_collar"),
        (ExecutionPolicy(), [RiskLeg("VTI", Side.BUY, D(1), D(200))], {}, "no_fresh_quote"),
        (
            ExecutionPolicy(),
            [RiskLeg("SPY", Side.SELL, D(101), D(500))],
            {},
            "sell_beyond_position",
        ),
        (
            ExecutionPolicy(),
            [SELL_SPY],
            {"open_sell_quantity": {"SPY": D(95)}},
            "sell_beyond_position",
        ),
        (ExecutionPolicy(), [SELL_SPY], {"other_active_plan": "p0"}, "active_plan"),
        (ExecutionPolicy(daily_order_cap=2), [SELL_SPY], {"orders_today": 2}, "daily_order_cap"),
        (
            ExecutionPolicy(daily_notional_cap=D(10_000)),
            [SELL_SPY],
            {"notional_today": D(6000)},
            "daily_notional_cap",
        ),
        (
            ExecutionPolicy(),
            [SELL_SPY],
            {"portfolio_as_of": NOW - timedelta(minutes=10)},
            "stale_data",
        ),
        (ExecutionPolicy(), [SELL_SPY], {"portfolio_as_of": None}, "stale_data"),
    ],
)
def test_the_risk_gate_names_the_limit_a_plan_breaks(policy, legs, context, expected) -> None:
    reasons = check_plan(legs, policy, ctx(**context))
    assert expected in codes(reasons)
    assert all(r.message for r in reasons)


def test_the_gate_reports_every_failed_check_at_once() -> None:
    policy = ExecutionPolicy(max_order_notional=D(1000), denied_symbols=frozenset({"QQQ"}))
    reasons = check_plan([SELL_SPY, BUY_QQQ], policy, ctx(other_active_plan="p0"))
    assert {"max_order_notional", "denied_symbol", "active_plan"} <= set(codes(reasons))


def test_a_limit_price_outside_the_collar_is_refused() -> None:
    leg = RiskLeg("SPY", Side.BUY, D(1), D(500), limit_price=D(530))
    assert "price_collar" in codes(check_plan([leg], ExecutionPolicy(), ctx()))


# ----------------------------------------------------------------- sizing


def test_buys_that_fit_the_cash_keep_their_quantities() -> None:
    buys = [BuyIntent(1, D(10), D(100)), BuyIntent(2, D(5), D(50))]
    assert size_buys(buys, D(2000)) == {1: D(10), 2: D(5)}


def test_buys_shrink_when_the_sells_raised_less_cash_than_planned() -> None:
    buys = [BuyIntent(1, D(10), D(100)), BuyIntent(2, D(10), D(100))]
    sized = size_buys(buys, D(1000))
    assert sum(q * 100 for q in sized.values()) + 2 <= 1000
    assert sized[1] > 0
    assert sized[2] > 0


def test_no_cash_means_no_buys() -> None:
    assert size_buys([BuyIntent(1, D(3), D(10))], D(0)) == {1: D(0)}


@given(
    quantities=st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=20),
    prices=st.lists(st.decimals(min_value=1, max_value=900, places=2), min_size=20, max_size=20),
    budget=st.decimals(min_value=0, max_value=500_000, places=2),
    fractional=st.booleans(),
)
def test_sized_buys_never_spend_more_than_the_cash(quantities, prices, budget, fractional) -> None:
    increment = D("0.0001") if fractional else D(1)
    buys = [BuyIntent(n, D(q), prices[n], increment) for n, q in enumerate(quantities)]
    sized = size_buys(buys, budget)
    spent = sum((cost(sized[b.leg], b.price, D("0.005"), D(1)) for b in buys), D(0))
    assert spent <= max(budget, D(0))
    for b in buys:
        assert D(0) <= sized[b.leg] <= b.quantity
        assert sized[b.leg] % increment == 0


# ----------------------------------------------------------------- orders


def test_client_order_ids_are_deterministic_and_parse_back() -> None:
    coid = client_order_id("alloc-1.DU1", 3, 1)
    assert coid == "alloc-1.DU1.3.1"
    assert parse_client_order_id(coid) == ("alloc-1.DU1", 3, 1)
    assert parse_client_order_id("manual-order") is None


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (OrderStyle.MARKET, OrderType.MARKET),
        (OrderStyle.LIMIT, OrderType.LIMIT),
        (OrderStyle.MIDPRICE, OrderType.MIDPRICE),
        (OrderStyle.ADAPTIVE, OrderType.ADAPTIVE),
    ],
)
def test_the_account_policy_picks_the_order_type(style, expected) -> None:
    spec = order_spec(ExecutionPolicy(order_type=style), Side.BUY, D(100), D("100.10"))
    assert spec.order_type == expected


def test_a_limit_buy_sits_above_the_mid_by_the_offset_and_a_sell_below() -> None:
    policy = ExecutionPolicy(order_type=OrderStyle.LIMIT, limit_offset_bps=D(10))
    buy = order_spec(policy, Side.BUY, D(100), D(100))
    sell = order_spec(policy, Side.SELL, D(100), D(100))
    assert buy.limit_price == D("100.10")
    assert sell.limit_price == D("99.90")


def test_fallback_gives_a_plain_market_order() -> None:
    spec = order_spec(
        ExecutionPolicy(order_type=OrderStyle.ADAPTIVE), Side.BUY, None, None, fallback=True
    )
    assert spec.order_type == OrderType.MARKET
    assert spec.adaptive_priority is None


# ----------------------------------------------------------------- tracking


def track() -> OrderTrack:
    return OrderTrack("p.0.0", 0, 0, "SPY", Side.SELL, D(10))


def fill(exec_id: str, qty: str, price: str = "500") -> OrderFilled:
    return OrderFilled(
        source="t", client_order_id="p.0.0", account_id="A", exec_id=exec_id, side=Side.SELL,
        last_quantity=D(qty), last_price=D(price), cumulative_quantity=D(qty), average_price=D(price),
    )  # fmt: skip


def test_a_redelivered_fill_counts_once() -> None:
    t = track()
    assert apply_order_event(t, fill("e1", "4"))
    assert not apply_order_event(t, fill("e1", "4"))
    apply_order_event(t, fill("e2", "6", "502"))
    assert t.status == "filled"
    assert t.filled == D(10)
    assert t.average_price == D("501.2")


def test_the_last_fill_time_is_the_newest_execution_whatever_the_arrival_order() -> None:
    t = track()
    late, early = datetime(2025, 1, 2, 15, 0, 5, tzinfo=UTC), datetime(2025, 1, 2, 15, tzinfo=UTC)
    apply_order_event(t, fill("e2", "6").model_copy(update={"ts_event": late}))
    apply_order_event(t, fill("e1", "4").model_copy(update={"ts_event": early}))
    assert t.last_fill_at == late


def test_a_fill_after_a_cancel_still_counts() -> None:
    t = track()
    apply_order_event(t, OrderCancelled(source="t", client_order_id="p.0.0", account_id="A"))
    apply_order_event(t, fill("e1", "3"))
    assert t.filled == D(3)
    assert leg_status(D(10), [t]) == "partially_filled"


def test_commissions_are_summed_per_execution() -> None:
    t = track()
    for exec_id in ("e1", "e1", "e2"):
        apply_order_event(
            t,
            CommissionReported(
                source="t", client_order_id="p.0.0", account_id="A", exec_id=exec_id,
                commission=D("1.25"),
            ),
        )  # fmt: skip
    assert t.commission == D("2.50")


def test_a_rejected_leg_reports_rejected() -> None:
    t = track()
    apply_order_event(
        t, OrderRejected(source="t", client_order_id="p.0.0", account_id="A", reason="no", code=201)
    )
    assert leg_status(D(10), [t]) == "rejected"
    assert t.code == 201


# ----------------------------------------------------------------- windows


def test_trading_windows_are_local_time() -> None:
    # 15:00 UTC is 10:00 in New York in March (EST until the 9th).
    assert in_window(NOW, "09:35-15:55", "America/New_York")
    assert not in_window(NOW, "11:00-15:55", "America/New_York")
    assert in_window(NOW, None, "America/New_York")
    assert in_window(NOW, "22:00-11:00", "America/New_York")


def unknown(*, not_found_at_ib: bool) -> OrderStatusUnknown:
    return OrderStatusUnknown(
        source="t", client_order_id="p.0.0", account_id="A", reason="?",
        not_found_at_ib=not_found_at_ib,
    )  # fmt: skip


def test_an_order_ib_never_received_asks_for_a_new_attempt() -> None:
    t = track()
    assert apply_order_event(t, unknown(not_found_at_ib=True))
    assert t.status == "unknown"
    assert needs_new_attempt(t)


def test_an_unclear_outcome_alone_never_asks_for_a_new_attempt() -> None:
    t = track()
    apply_order_event(t, unknown(not_found_at_ib=False))
    assert t.status == "unknown"
    assert not needs_new_attempt(t)


def test_an_order_with_fills_is_never_sent_again_even_if_reported_unknown() -> None:
    t = track()
    apply_order_event(t, fill("e1", "4"))
    t.status = "sent"  # as after a restart that lost the acceptance
    apply_order_event(t, unknown(not_found_at_ib=True))
    assert not needs_new_attempt(t)


def test_the_book_remembers_trigger_times_within_a_bound() -> None:
    from executor.book import TRIGGERS_KEPT, Book

    book, start = Book(), datetime(2025, 1, 2, tzinfo=UTC)
    for n in range(TRIGGERS_KEPT + 5):
        book.note_trigger(f"t{n}", start + timedelta(seconds=n))
    assert len(book.triggers) == TRIGGERS_KEPT
    assert book.triggered_at("t0") is None
    assert book.triggered_at(f"t{TRIGGERS_KEPT + 4}") == start + timedelta(
        seconds=TRIGGERS_KEPT + 4
    )
    assert book.triggered_at(None) is None
