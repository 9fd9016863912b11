"""The executor's pure core: the plan's transitions, risk gate, sizing, order specs, tracking,
windows. The decisions have their own tables in ``test_decisions.py``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from executor.core.orders import order_spec, submit_order
from executor.core.plan import IllegalTransition, PlanRecord, apply
from executor.core.risk import FreshQuote, RiskContext, RiskLeg, check_plan
from executor.core.sizing import budget, size_buys
from executor.core.tracking import OrderTrack, apply_order_event, leg_status, needs_new_attempt
from executor.core.window import in_window
from executor.service.book import TRIGGERS_KEPT, Book
from rebalancer_testkit.samples import sample_of
from shared.contracts.base import Side
from shared.contracts.order_commands import OrderType
from shared.contracts.orders import (
    CommissionReported,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderStatusUnknown,
)
from shared.contracts.plans import PlanLeg, SizingTerms
from shared.plans.view import TRANSITIONS, PlanStatus
from shared.policy import ExecutionPolicy, OrderStyle
from shared.rebalancing.costs import buy_cost
from shared.rebalancing.exposure import Exposure

NOW = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
D = Decimal


# ----------------------------------------------------------------- the plan's transitions

PATHS = {
    PlanStatus.PROPOSED: (),
    PlanStatus.AWAITING_APPROVAL: ("PlanAwaitingApproval",),
    PlanStatus.APPROVED: ("PlanApproved",),
    PlanStatus.EXECUTING: ("PlanApproved", "PlanExecutionStarted"),
}


def reach(status: PlanStatus) -> PlanRecord:
    """A record brought to ``status`` through the table itself."""
    record = apply(None, sample_of("PlanProposed"))
    for name in PATHS[status]:
        record = apply(record, sample_of(name))
    return record


@pytest.mark.parametrize(
    ("before", "event", "after"),
    [(b, e.__name__, a) for (b, e), a in TRANSITIONS.items() if b is not None],
)
def test_every_move_of_the_table_is_applied(
    before: PlanStatus, event: str, after: PlanStatus
) -> None:
    record = reach(before)
    assert record.status == before
    assert apply(record, sample_of(event)).status == after


def test_unlisted_moves_are_refused() -> None:
    done = apply(reach(PlanStatus.EXECUTING), sample_of("PlanCompleted"))
    assert done.status == PlanStatus.COMPLETED
    for name in ("PlanExecutionStarted", "PlanApproved", "PlanDryRunReported", "PlanFailed"):
        with pytest.raises(IllegalTransition):
            apply(done, sample_of(name))
    with pytest.raises(IllegalTransition):
        apply(reach(PlanStatus.PROPOSED), sample_of("PlanCompleted"))  # never started
    with pytest.raises(IllegalTransition):
        apply(None, sample_of("PlanApproved"))  # never proposed


def test_a_dry_run_is_final() -> None:
    reported = apply(reach(PlanStatus.PROPOSED), sample_of("PlanDryRunReported"))
    assert reported.status == PlanStatus.DRY_RUN
    assert reported.view.why == "the trigger asked for a dry run"
    with pytest.raises(IllegalTransition):
        apply(reported, sample_of("PlanApproved"))


# ----------------------------------------------------------------- risk gate


def ctx(**overrides) -> RiskContext:
    base = {
        "now": NOW,
        "net_liquidation": D(100_000),
        "exposure": Exposure({"SPY": (D(100), D(500)), "BND": (D(200), D(72))}, other=D(35_600)),
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


def test_post_trade_leverage_is_recomputed_position_by_position() -> None:
    # Short 50 SPY: buying them back closes the short, so gross exposure falls by 25,000;
    # "gross + buys - sells" would have seen it rise by 25,000.
    cover = RiskLeg("SPY", Side.BUY, D(50), D(500))
    policy = ExecutionPolicy(max_post_leverage=D("0.85"))
    short = ctx(
        exposure=Exposure({"SPY": (D(-50), D(500))}, other=D(80_000)),
        positions={"SPY": D(-50)},
    )
    assert "max_post_leverage" not in codes(check_plan([cover], policy, short))
    flat = ctx(exposure=Exposure({}, other=D(80_000)), positions={})
    assert "max_post_leverage" in codes(check_plan([cover], policy, flat))


# ----------------------------------------------------------------- sizing

TERMS = SizingTerms(
    cash_buffer_pct=D(0), leverage_limit=D(1), quantity_step=D(1),
    commission_per_share=D("0.005"), commission_minimum=D(1),
    min_order_value=D(0), min_share_diff=D(0),
)  # fmt: skip


def buy_leg(n: int, quantity: int, price: str, step: str | None = None) -> PlanLeg:
    return PlanLeg(
        leg=n, symbol=f"S{n}", side=Side.BUY, quantity=D(quantity), reference_price=D(price),
        estimated_value=D(quantity) * D(price), quantity_step=D(step) if step else None,
    )  # fmt: skip


def sized(
    legs: list[PlanLeg],
    cash: int,
    terms: SizingTerms = TERMS,
    working: tuple[OrderTrack, ...] = (),
) -> dict[int, Decimal]:
    quotes = {
        leg.symbol: FreshQuote(leg.reference_price, leg.reference_price, None, NOW) for leg in legs
    }
    result = size_buys(
        legs, terms, ExecutionPolicy(), cash=D(cash), net_liquidation=D(10_000), quotes=quotes,
        working=working, margin_bps=D(0),
    )  # fmt: skip
    return result.quantities


def test_the_budget_keeps_the_buffer_and_counts_allowed_leverage() -> None:
    buffered = TERMS.model_copy(update={"cash_buffer_pct": D(2)})
    assert budget(D(10_000), D(100_000), buffered, D(0)) == D(8_000)
    levered = TERMS.model_copy(update={"leverage_limit": D("1.5")})
    assert budget(D(10_000), D(100_000), levered, D(1_000)) == D(59_000)


def test_buys_that_fit_the_cash_keep_their_quantities() -> None:
    assert sized([buy_leg(1, 10, "100"), buy_leg(2, 5, "50")], 2000) == {1: D(10), 2: D(5)}


def test_buys_shrink_when_the_sells_raised_less_cash_than_planned() -> None:
    quantities = sized([buy_leg(1, 10, "100"), buy_leg(2, 10, "100")], 1000)
    assert sum(buy_cost(q, D(100), TERMS) for q in quantities.values()) <= 1000
    assert quantities[1] > 0
    assert quantities[2] > 0


def test_a_buy_is_resized_with_the_planners_minimums_and_its_own_step() -> None:
    terms = TERMS.model_copy(update={"min_order_value": D(300), "quantity_step": D("0.01")})
    legs = [buy_leg(1, 10, "100", step="1"), buy_leg(2, 3, "100", step="0.5")]
    quantities = sized(legs, 900, terms)
    assert quantities[1] % 1 == 0
    assert quantities[2] % D("0.5") == 0
    assert all(q == 0 or q * 100 >= 300 for q in quantities.values()), quantities


def test_working_buys_of_another_attempt_are_paid_for_first() -> None:
    working = (OrderTrack("p.0.0", 0, 0, "S1", Side.BUY, D(5)),)
    quantities = sized([buy_leg(1, 10, "100")], 1000, working=working)
    assert quantities[1] == 4  # 500 are held by the working buy; 5 x 100 + 1 would pass it


def test_no_cash_means_no_buys() -> None:
    assert sized([buy_leg(1, 3, "10")], 0) == {1: D(0)}


# ----------------------------------------------------------------- orders


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


def test_orders_carry_the_plan_leg_and_attempt_in_their_id() -> None:
    plan = sample_of("PlanProposed")
    spec = order_spec(ExecutionPolicy(), Side.SELL, None, None)
    command = submit_order(plan, plan.legs[0], D(5), 2, spec, NOW, timedelta(seconds=120))
    assert command.client_order_id == f"{plan.plan_id}.{plan.legs[0].leg}.2"
    assert command.valid_until == NOW + timedelta(seconds=120)
    assert command.correlation_id == plan.correlation_id


# ----------------------------------------------------------------- tracking


def track() -> OrderTrack:
    return OrderTrack("p.0.0", 0, 0, "SPY", Side.SELL, D(10))


def fill(exec_id: str, qty: str, price: str = "500") -> OrderFilled:
    return OrderFilled(
        source="t", client_order_id="p.0.0", account_id="A", exec_id=exec_id, side=Side.SELL,
        last_quantity=D(qty), last_price=D(price), cumulative_quantity=D(qty), average_price=D(price),
    )  # fmt: skip


def test_a_redelivered_fill_counts_once() -> None:
    t = apply_order_event(track(), fill("e1", "4"))
    assert t.filled == D(4)
    assert apply_order_event(t, fill("e1", "4")) is t  # nothing changed
    t = apply_order_event(t, fill("e2", "6", "502"))
    assert t.status == "filled"
    assert t.filled == D(10)
    assert t.average_price == D("501.2")


def test_the_last_fill_time_is_the_newest_execution_whatever_the_arrival_order() -> None:
    late, early = datetime(2025, 1, 2, 15, 0, 5, tzinfo=UTC), datetime(2025, 1, 2, 15, tzinfo=UTC)
    t = apply_order_event(track(), fill("e2", "6").model_copy(update={"ts_event": late}))
    t = apply_order_event(t, fill("e1", "4").model_copy(update={"ts_event": early}))
    assert t.last_fill_at == late


def test_a_fill_after_a_cancel_still_counts() -> None:
    cancel = OrderCancelled(source="t", client_order_id="p.0.0", account_id="A")
    t = apply_order_event(apply_order_event(track(), cancel), fill("e1", "3"))
    assert t.status == "cancelled"
    assert t.filled == D(3)
    assert leg_status(D(10), [t]) == "partially_filled"


def test_commissions_are_summed_per_execution() -> None:
    t = track()
    for exec_id in ("e1", "e1", "e2"):
        t = apply_order_event(
            t,
            CommissionReported(
                source="t", client_order_id="p.0.0", account_id="A", exec_id=exec_id,
                commission=D("1.25"),
            ),
        )  # fmt: skip
    assert t.commission == D("2.50")


def test_a_rejected_leg_reports_rejected() -> None:
    t = apply_order_event(
        track(),
        OrderRejected(source="t", client_order_id="p.0.0", account_id="A", reason="no", code=201),
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
    t = apply_order_event(track(), unknown(not_found_at_ib=True))
    assert t.status == "unknown"
    assert needs_new_attempt(t)


def test_an_unclear_outcome_alone_never_asks_for_a_new_attempt() -> None:
    t = apply_order_event(track(), unknown(not_found_at_ib=False))
    assert t.status == "unknown"
    assert not needs_new_attempt(t)


def test_an_order_with_fills_is_never_sent_again_even_if_reported_unknown() -> None:
    t = apply_order_event(track(), fill("e1", "4"))
    t = replace(t, status="sent")  # as after a restart that lost the acceptance
    t = apply_order_event(t, unknown(not_found_at_ib=True))
    assert not needs_new_attempt(t)


def test_the_book_remembers_trigger_times_within_a_bound() -> None:
    book, start = Book(), datetime(2025, 1, 2, tzinfo=UTC)
    for n in range(TRIGGERS_KEPT + 5):
        book.note_trigger(f"t{n}", start + timedelta(seconds=n))
    assert len(book.triggers) == TRIGGERS_KEPT
    assert book.triggered_at("t0") is None
    assert book.triggered_at(f"t{TRIGGERS_KEPT + 4}") == start + timedelta(
        seconds=TRIGGERS_KEPT + 4
    )
    assert book.triggered_at(None) is None


@pytest.mark.parametrize(
    ("status", "event", "after"),
    [
        ("sent", "OrderAccepted", "accepted"),
        ("unknown", "OrderAccepted", "accepted"),
        ("accepted", "OrderAccepted", "accepted"),
        ("sent", "OrderCancelled", "cancelled"),
        ("rejected", "OrderCancelled", "cancelled"),
        ("filled", "OrderCancelled", "filled"),
        ("accepted", "OrderRejected", "rejected"),
        ("filled", "OrderRejected", "filled"),
        ("cancelled", "OrderStatusUnknown", "cancelled"),
        ("accepted", "OrderStatusUnknown", "unknown"),
    ],
)
def test_the_order_status_table(status: str, event: str, after: str) -> None:
    moved = apply_order_event(
        replace(track(), status=status), sample_of(event, client_order_id="p.0.0")
    )
    assert moved.status == after


def test_a_rejection_after_a_partial_fill_cancels_the_rest() -> None:
    rejected = OrderRejected(
        source="t", client_order_id="p.0.0", account_id="A", reason="x", code=202
    )
    t = apply_order_event(apply_order_event(track(), fill("e1", "4")), rejected)
    assert (t.status, t.filled) == ("cancelled", D(4))
    assert leg_status(D(10), [t]) == "partially_filled"


def test_the_book_replaces_tracks_and_counts_each_order_once() -> None:
    book = Book()
    submit = sample_of("SubmitOrder")
    first = book.add_order(submit, D(100))
    assert first is not None
    assert book.add_order(submit, D(100)) is None  # once per client order id
    filled = OrderFilled(
        source="t", client_order_id=submit.client_order_id, account_id=submit.account_id,
        exec_id="x1", side=submit.side, last_quantity=submit.quantity, last_price=D(100),
        cumulative_quantity=submit.quantity, average_price=D(100),
    )  # fmt: skip
    assert book.on_order_event(filled)
    assert not book.on_order_event(filled)
    assert book.orders[submit.client_order_id].status == "filled"
    assert first.status == "sent"
    assert book.today(submit.account_id, submit.ts_init.date())[0] == 1
