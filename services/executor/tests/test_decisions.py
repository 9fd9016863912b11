"""The executor's decisions as tables: record, policy and facts in; events, commands and
effects out. Pure functions, so each case runs in microseconds; the shell that executes
them is tested over Redis in ``test_service.py``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from executor.core import decide
from executor.core.decide import Abort, ExpireAt, Facts, StartApproval, StartRun, WriteReport
from executor.core.plan import PlanRecord, apply, replay
from executor.core.risk import FreshQuote, RiskContext
from executor.core.tracking import OrderTrack, apply_order_event
from rebalancer_testkit.samples import sample_of
from shared.contracts.base import ExecutionMode, Message, Reason, Side
from shared.contracts.order_commands import CancelAllOrders, CancelOrder
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading
from shared.contracts.plans import PlanLeg, PlanProposed
from shared.plans.view import PlanStatus
from shared.policy import ApprovalMode, ExecutionPolicy
from shared.rebalancing.exposure import Exposure

NOW = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
D = Decimal
SELL = PlanLeg(leg=0, symbol="AGG", side=Side.SELL, quantity=D(5), reference_price=D(100), estimated_value=D(500))  # fmt: skip
BUY = PlanLeg(leg=1, symbol="SPY", side=Side.BUY, quantity=D(1), reference_price=D(500), estimated_value=D(500))  # fmt: skip


def proposal(**changes: object) -> PlanProposed:
    values: dict[str, object] = {
        "plan_id": "pl-1",
        "execution": ExecutionMode.REBALANCE,
        "legs": (SELL, BUY),
        "ts_event": NOW - timedelta(seconds=5),
        "valid_until": NOW + timedelta(minutes=15),
    }
    plan = sample_of("PlanProposed")
    assert isinstance(plan, PlanProposed)
    return plan.model_copy(update=values | changes)


def record(*events: str, **changes: object) -> PlanRecord:
    """A plan proposed, then moved by the named events (samples, for the same plan id)."""
    found = apply(None, proposal(**changes))
    for name in events:
        found = apply(found, sample_of(name, plan_id=found.plan_id))
    return found


def kinds(decision: decide.Decision) -> list[str]:
    return [type(m).__name__ for m in (*decision.events, *decision.commands)]


def facts(**changes: object) -> Facts:
    return replace(Facts(now=NOW), **changes)


MANUAL = ExecutionPolicy(approval=ApprovalMode.MANUAL)
AUTO = ExecutionPolicy(approval=ApprovalMode.AUTO)
DRY = ExecutionPolicy(approval=ApprovalMode.DRY_RUN)


# ----------------------------------------------------------------- a plan arrives


@pytest.mark.parametrize(
    ("changes", "policy", "given", "events", "effects"),
    [
        ({"execution": ExecutionMode.DRY_RUN}, AUTO, {}, ["PlanDryRunReported"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({}, DRY, {}, ["PlanDryRunReported"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({}, MANUAL, {}, ["PlanAwaitingApproval"], [ExpireAt(NOW + timedelta(minutes=15))]),
        ({}, AUTO, {}, [], [StartApproval("auto")]),
        ({"valid_until": NOW}, AUTO, {}, ["PlanExpired"], [WriteReport("summary")]),
        ({}, AUTO, {"halted": True, "halt_reason": "panic"}, ["PlanRejected"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({}, MANUAL, {"halted": True}, ["PlanRejected"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({"sizing": None}, AUTO, {}, ["PlanRejected"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({"sizing": None, "legs": (SELL,)}, AUTO, {}, [], [StartApproval("auto")]),
        ({"plan_id": "alloc-1.DU1"}, AUTO, {}, ["PlanRejected"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({"plan_id": "alloc-1.DU1", "execution": ExecutionMode.DRY_RUN}, AUTO, {}, ["PlanDryRunReported"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({"hold_for_approval": True}, AUTO, {}, ["PlanAwaitingApproval"], [ExpireAt(NOW + timedelta(minutes=15))]),
        ({"hold_for_approval": True, "execution": ExecutionMode.DRY_RUN}, AUTO, {}, ["PlanDryRunReported"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ({"hold_for_approval": True}, DRY, {}, ["PlanDryRunReported"], [WriteReport("pre_trade"), WriteReport("summary")]),
    ],
    ids=[
        "dry_run_trigger", "dry_run_account", "manual_waits", "auto_approves", "expired_on_arrival",
        "halted", "halted_manual", "buys_without_sizing_terms", "sells_need_no_sizing_terms",
        "plan_id_with_a_dot", "dry_run_of_a_dotted_id", "auto_held_for_the_cli_prompt",
        "held_dry_run_stays_a_dry_run", "held_dry_run_account_never_trades",
    ],
)  # fmt: skip
def test_a_new_plan_is_routed(
    changes: dict[str, object],
    policy: ExecutionPolicy,
    given: dict[str, object],
    events: list[str],
    effects: list[object],
) -> None:
    decision = decide.on_plan_proposed(record(**changes), policy, facts(**given))
    assert kinds(decision) == events
    assert list(decision.effects) == effects


def test_a_dry_run_says_why_and_a_refusal_says_what_to_do() -> None:
    dry = decide.on_plan_proposed(record(), DRY, facts())
    assert dry.events[0].why == "the account's approval mode is dry_run"
    halted = decide.on_plan_proposed(record(), AUTO, facts(halted=True, halt_reason="panic"))
    [reason] = halted.events[0].reasons
    assert reason.code == "halted"
    assert "panic" in reason.message
    assert "rebalancer resume" in reason.message
    dotted = decide.on_plan_proposed(record(plan_id="a.b"), AUTO, facts())
    assert dotted.events[0].reasons[0].code == "invalid_plan_id"


def test_a_plan_decided_already_is_left_alone() -> None:
    for moved in (
        record("PlanDryRunReported"),
        record("PlanAwaitingApproval"),
        record("PlanApproved"),
    ):
        decision = decide.on_plan_proposed(moved, AUTO, facts())
        assert (decision.events, decision.effects) == ((), ())
        assert decision.note


# ----------------------------------------------------------------- approval


def approve_command(**changes: object) -> ApprovePlan:
    values: dict[str, object] = {"plan_id": "pl-1", "approved_by": "ops", "valid_until": NOW + timedelta(minutes=1)}  # fmt: skip
    return ApprovePlan(source="cli", **values | changes)


@pytest.mark.parametrize(
    ("events", "command", "kinds_out", "effects"),
    [
        (["PlanAwaitingApproval"], {}, [], [StartApproval("ops")]),
        (["PlanAwaitingApproval"], {"valid_until": NOW}, ["PlanExpired"], [WriteReport("summary")]),
        ([], {}, [], []),
        (["PlanDryRunReported"], {}, [], []),
        (["PlanApproved"], {}, [], []),
    ],
    ids=["awaiting", "command_expired", "not_decided_yet", "dry_run", "approved_already"],
)
def test_an_approval_applies_only_to_a_plan_awaiting_it(
    events: list[str], command: dict[str, object], kinds_out: list[str], effects: list[object]
) -> None:
    decision = decide.on_approve_plan(record(*events), approve_command(**command), NOW)
    assert kinds(decision) == kinds_out
    assert list(decision.effects) == effects


def test_an_approval_after_the_plans_deadline_expires_it() -> None:
    late = record("PlanAwaitingApproval", valid_until=NOW - timedelta(seconds=1))
    assert kinds(decide.on_approve_plan(late, approve_command(), NOW)) == ["PlanExpired"]


def context(**changes: object) -> RiskContext:
    values: dict[str, object] = {
        "now": NOW,
        "net_liquidation": D(100_000),
        "exposure": Exposure({"AGG": (D(100), D(100))}, other=D(50_000)),
        "positions": {"AGG": D(100)},
        "quotes": {"AGG": FreshQuote(D(100), D(100), None, NOW), "SPY": FreshQuote(D(500), D(500), None, NOW)},
        "portfolio_as_of": NOW,
    }  # fmt: skip
    return RiskContext(**values | changes)


@pytest.mark.parametrize(
    ("events", "risk", "given", "kinds_out", "effects"),
    [
        (["PlanAwaitingApproval"], context(), {}, ["PlanApproved"], [WriteReport("pre_trade"), StartRun()]),
        ([], context(), {}, ["PlanApproved"], [WriteReport("pre_trade"), StartRun()]),
        ([], context(other_active_plan="pl-0"), {}, ["PlanRejected"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ([], Reason(code="stale_data", message="no view"), {}, ["PlanRejected"], [WriteReport("pre_trade"), WriteReport("summary")]),
        ([], context(), {"halted": True}, ["PlanRejected"], [WriteReport("pre_trade"), WriteReport("summary")]),
        (["PlanExpired"], context(), {}, [], []),
    ],
    ids=["manual", "auto", "gate_fails", "no_portfolio", "halted_meanwhile", "expired_meanwhile"],
)  # fmt: skip
def test_the_last_step_of_approval(
    events: list[str],
    risk: RiskContext | Reason,
    given: dict[str, object],
    kinds_out: list[str],
    effects: list[object],
) -> None:
    decision = decide.approve(record(*events), AUTO, risk, facts(**given), "ops")
    assert kinds(decision) == kinds_out
    assert list(decision.effects) == effects


def test_a_rejection_names_its_stage() -> None:
    gate = decide.approve(record(), AUTO, context(other_active_plan="pl-0"), facts(), "auto")
    halt = decide.approve(record(), AUTO, context(), facts(halted=True), "auto")
    assert gate.events[0].stage == "risk"
    assert halt.events[0].stage == "approval"


# ----------------------------------------------------------------- cancel and halt


def working(coid: str = "pl-1.0.0", status: str = "accepted") -> OrderTrack:
    return replace(OrderTrack(coid, 0, 0, "AGG", Side.SELL, D(5)), status=status)


def cancel_command() -> CancelPlan:
    return CancelPlan(source="cli", plan_id="pl-1", reason="changed my mind", valid_until=NOW + timedelta(minutes=1))  # fmt: skip


@pytest.mark.parametrize(
    ("events", "kinds_out", "aborts"),
    [
        ([], ["PlanFailed"], False),
        (["PlanAwaitingApproval"], ["PlanFailed"], False),
        (["PlanApproved", "PlanExecutionStarted"], ["CancelOrder"], True),
        (["PlanDryRunReported"], [], False),
    ],
    ids=["proposed", "awaiting", "executing", "dry_run"],
)
def test_a_cancel_drops_a_waiting_plan_or_aborts_a_running_one(
    events: list[str], kinds_out: list[str], aborts: bool
) -> None:
    decision = decide.on_cancel_plan(record(*events), cancel_command(), [working(), working("pl-1.1.0", "filled")], facts())  # fmt: skip
    assert kinds(decision) == kinds_out
    assert any(isinstance(e, Abort) for e in decision.effects) == aborts
    for command in decision.commands:
        assert isinstance(command, CancelOrder)
        assert command.client_order_id == "pl-1.0.0"


def test_a_halt_cancels_everything_and_aborts_only_running_plans() -> None:
    running = record("PlanApproved", "PlanExecutionStarted")
    waiting = record("PlanAwaitingApproval", plan_id="pl-2")
    halt = HaltTrading(source="cli", reason="panic", valid_until=NOW + timedelta(minutes=1))
    decision = decide.on_halt(halt, [running, waiting], facts())
    [command] = decision.commands
    assert isinstance(command, CancelAllOrders)
    assert command.account_ids == ()
    assert decision.effects == (Abort("pl-1", "trading halted: panic"),)
    assert decision.events == ()  # no SendAlert: the notifier tells the humans from HaltTrading


# ----------------------------------------------------------------- the run


def test_a_run_starts_or_fails_when_aborted_before_its_first_order() -> None:
    approved = record("PlanApproved")
    assert kinds(decide.start(approved, AUTO, abort=None, has_orders=False, facts=facts())) == [
        "PlanExecutionStarted"
    ]
    first = ExecutionPolicy(approval=ApprovalMode.AUTO, cancel_open_orders_first=True)
    assert kinds(decide.start(approved, first, abort=None, has_orders=False, facts=facts())) == [
        "PlanExecutionStarted",
        "CancelAllOrders",
    ]
    assert kinds(decide.start(approved, first, abort=None, has_orders=True, facts=facts())) == [
        "PlanExecutionStarted"
    ]
    aborted = decide.start(
        approved, AUTO, abort="trading halted: x", has_orders=False, facts=facts()
    )
    assert kinds(aborted) == ["PlanFailed"]
    assert aborted.events[0].reasons[0].code == "aborted"


def filled(track: OrderTrack, quantity: str, price: str = "100") -> OrderTrack:
    event = sample_of("OrderFilled", client_order_id=track.client_order_id, exec_id=f"x-{track.client_order_id}", last_quantity=D(quantity), last_price=D(price))  # fmt: skip
    return apply_order_event(track, event)


SELL_DONE = filled(OrderTrack("pl-1.0.0", 0, 0, "AGG", Side.SELL, D(5)), "5")
BUY_DONE = filled(OrderTrack("pl-1.1.0", 1, 0, "SPY", Side.BUY, D(1)), "1", "500")
BUY_REJECTED = replace(OrderTrack("pl-1.1.0", 1, 0, "SPY", Side.BUY, D(1)), status="rejected", reason="no margin")  # fmt: skip


@pytest.mark.parametrize(
    ("attempts", "sized", "abort", "problems", "kinds_out", "codes"),
    [
        ({0: [SELL_DONE], 1: [BUY_DONE]}, {1: D(1)}, None, [], ["PlanCompleted"], []),
        ({0: [SELL_DONE]}, {1: D(0)}, None, [], ["PlanCompleted"], []),
        ({0: [SELL_DONE], 1: [BUY_REJECTED]}, {1: D(1)}, None, [], ["PlanFailed"], ["leg_rejected"]),
        ({0: [SELL_DONE]}, {}, "trading halted: x", [], ["PlanFailed"], ["aborted"]),
        ({0: [SELL_DONE]}, {}, None, [Reason(code="no_cash_view", message="?")], ["PlanFailed"], ["no_cash_view"]),
    ],
    ids=["all_filled", "buy_sized_to_nothing", "buy_rejected", "aborted", "no_cash_view"],
)  # fmt: skip
def test_the_end_of_a_run(
    attempts: dict[int, list[OrderTrack]],
    sized: dict[int, Decimal],
    abort: str | None,
    problems: list[Reason],
    kinds_out: list[str],
    codes: list[str],
) -> None:
    decision = decide.finish(record("PlanApproved", "PlanExecutionStarted"), attempts, sized, abort=abort, problems=problems, facts=facts())  # fmt: skip
    assert kinds(decision) == kinds_out
    assert [r.code for r in getattr(decision.events[0], "reasons", ())] == codes
    assert WriteReport("post_trade", decision.events[0].legs) in decision.effects


def test_a_leg_result_adds_up_every_attempt() -> None:
    first = replace(filled(OrderTrack("pl-1.1.0", 1, 0, "SPY", Side.BUY, D(2)), "1", "500"), status="cancelled")  # fmt: skip
    second = filled(OrderTrack("pl-1.1.1", 1, 1, "SPY", Side.BUY, D(1)), "1", "502")
    [_, leg] = decide.results(record(), {1: [first, second]}, {1: D(2)})
    assert (leg.filled_quantity, leg.average_price, leg.status) == (D(2), D(501), "filled")
    assert leg.client_order_id == "pl-1.1.1"


@pytest.mark.parametrize(
    ("track", "policy", "attempt", "fallback"),
    [
        (replace(working(), order_type="ADAPTIVE", status="rejected"), ExecutionPolicy(), 1, True),
        (replace(working(), order_type="ADAPTIVE", status="rejected"), ExecutionPolicy(fallback_to_market=False), None, False),
        (replace(working(), status="rejected", field="valid_until"), ExecutionPolicy(), 1, False),
        (replace(working(), status="rejected"), ExecutionPolicy(), None, False),
        (replace(working(), status="unknown", not_found_at_ib=True), ExecutionPolicy(), 1, False),
        (replace(working(), status="unknown"), ExecutionPolicy(), None, False),
    ],
    ids=["algo_refused", "algo_refused_no_fallback", "read_too_late", "plain_rejection", "never_received", "unclear"],
)  # fmt: skip
def test_new_attempts_only_for_orders_that_never_worked(
    track: OrderTrack, policy: ExecutionPolicy, attempt: int | None, fallback: bool
) -> None:
    found = decide.retries({0: track}, policy)
    if attempt is None:
        assert found == ()
    else:
        [retry] = found
        assert (retry.attempt, retry.fallback) == (attempt, fallback)


# ----------------------------------------------------------------- live and replay agree


def test_replaying_the_published_events_rebuilds_the_live_records() -> None:
    live: dict[str, PlanRecord] = {}
    published: list[Message] = []

    def run(plan_id: str, decision: decide.Decision) -> None:
        for event in decision.events:
            published.append(event)
            live[plan_id] = apply(live.get(plan_id), event)

    for plan_id, policy in (("pl-a", AUTO), ("pl-m", MANUAL), ("pl-d", DRY)):
        plan = proposal(plan_id=plan_id)
        published.append(plan)
        live[plan_id] = apply(None, plan)
        run(plan_id, decide.on_plan_proposed(live[plan_id], policy, facts()))
    run("pl-a", decide.approve(live["pl-a"], AUTO, context(), facts(), "auto"))
    run("pl-a", decide.start(live["pl-a"], AUTO, abort=None, has_orders=False, facts=facts()))
    run("pl-a", decide.finish(live["pl-a"], {0: [SELL_DONE], 1: [BUY_DONE]}, {1: D(1)}, abort=None, problems=[], facts=facts()))  # fmt: skip
    run("pl-m", decide.expire(live["pl-m"], NOW))
    assert {k: r.status for k, r in live.items()} == {
        "pl-a": PlanStatus.COMPLETED,
        "pl-m": PlanStatus.EXPIRED,
        "pl-d": PlanStatus.DRY_RUN,
    }
    # the same events, read back after a restart (a redelivered one included)
    assert replay([*published, published[-1]]) == live
