"""End to end over the real stack: Redis, emulator, bridge, planner and executor processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode, utc_now
from shared.contracts.order_commands import SubmitOrder
from shared.contracts.plan_commands import ApprovePlan, HaltTrading, ResumeTrading
from shared.contracts.plans import (
    PlanApproved,
    PlanCompleted,
    PlanExecutionStarted,
    PlanExpired,
    PlanFailed,
    PlanRejected,
)

A1, A2 = "DU1000001", "DU1000002"
# DU1000001 holds SPY, BND, VXUS, GLD (+25k cash): move it to 60/40 SPY/BND.
TARGETS = {"SPY": "0.6", "BND": "0.4"}
PLANNING = {"drift_band_abs_pct": "0.5", "min_order_value": "50"}


def weights_ok(positions: dict[str, Decimal], prices: dict[str, Decimal]) -> dict[str, Decimal]:
    total = sum(q * prices[s] for s, q in positions.items())
    return {s: q * prices[s] / total for s, q in positions.items()}


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[E2EStack]:
    marker = request.node.get_closest_marker("accounts")
    accounts = (
        marker.args[0]
        if marker
        else accounts_file(
            DU1000001={"approval": "auto", "planning": PLANNING},
            DU1000002={"approval": "manual", "planning": PLANNING},
        )
    )
    env_marker = request.node.get_closest_marker("executor_env")
    s = E2EStack(tmp_path, accounts, executor_env=env_marker.args[0] if env_marker else None)
    await s.start()
    yield s
    await s.stop()


async def test_dry_run_sends_nothing_and_writes_the_pre_trade_report(stack: E2EStack) -> None:
    plans = await stack.request_plan((A1,), TARGETS, ExecutionMode.DRY_RUN)
    view = await stack.wait_status(plans[A1], "dry_run")
    assert [m for m in await stack.messages(catalogue.ORDER_COMMANDS)] == []
    assert await stack.ib_orders() == []
    assert any("rebalance_pre_DU1000001_" in p for p in view.report_paths)
    assert not list(stack.reports_dir.glob("rebalance_post_*"))
    [summary] = stack.reports_dir.glob("run_summary_*.csv")
    assert summary.read_text().splitlines()[0] == (
        "timestamp_run,account_id,planned_orders,submitted,filled,rejected,buy_usd,sell_usd,"
        "pre_leverage,post_leverage,status,error,currency"
    )


async def test_auto_account_executes_sells_then_buys_and_reaches_the_target(
    stack: E2EStack,
) -> None:
    plans = await stack.request_plan((A1,), TARGETS)
    end = await stack.wait_end(plans[A1], 60)
    assert isinstance(end, PlanCompleted), end
    kinds = [type(m).__name__ for m in await stack.plan_events(plans[A1])]
    assert kinds == ["PlanProposed", "PlanApproved", "PlanExecutionStarted", "PlanCompleted"]
    assert all(leg.status == "filled" for leg in end.legs)
    assert all(leg.commission > 0 for leg in end.legs)
    # sells were all sent before the first buy
    sides = [
        c.side.value
        for c in await stack.messages(catalogue.ORDER_COMMANDS)
        if isinstance(c, SubmitOrder)
    ]
    assert sides == sorted(sides, key=lambda s: s != "SELL")
    positions = await stack.positions(A1)
    assert set(positions) == {"SPY", "BND"}
    state = await stack.emulator("GET", "/state")
    prices = {s: Decimal(str(p["last"])) for s, p in state["prices"].items()}
    weights = weights_ok(positions, prices)
    assert abs(weights["SPY"] - Decimal("0.6")) < Decimal("0.02")
    # a second plan finds nothing to trade
    again = await stack.request_plan((A1,), TARGETS)
    second = await stack.wait_end(again[A1], 30)
    assert isinstance(second, PlanCompleted)
    assert second.legs == ()


async def test_manual_account_waits_for_approval_then_executes(stack: E2EStack) -> None:
    plans = await stack.request_plan((A2,), {"QQQ": "0.5", "TLT": "0.5"})
    await stack.wait_status(plans[A2], "awaiting_approval")
    assert await stack.ib_orders() == []
    await stack.publish(
        ApprovePlan(
            source="e2e", plan_id=plans[A2], approved_by="tester",
            valid_until=utc_now() + timedelta(minutes=1),
        )
    )  # fmt: skip
    end = await stack.wait_end(plans[A2], 60)
    assert isinstance(end, PlanCompleted), end
    approved = await stack.wait_event(plans[A2], (PlanApproved,))
    assert approved.approved_by == "tester"


@pytest.mark.accounts(
    accounts_file(
        DU1000001={
            "approval": "auto",
            "planning": PLANNING,
            "execution": {"denied_symbols": ["BND"], "max_order_notional": "1000"},
        }
    )
)
async def test_risk_gate_rejects_with_every_reason_and_sends_nothing(stack: E2EStack) -> None:
    plans = await stack.request_plan((A1,), TARGETS)
    end = await stack.wait_end(plans[A1])
    assert isinstance(end, PlanRejected)
    assert end.stage == "risk"
    assert {"denied_symbol", "max_order_notional"} <= {r.code for r in end.reasons}
    assert await stack.ib_orders() == []
    # The rejection is an event; the executor sends no alert of its own about it (the
    # notifier alone decides what a human hears: see test_e2e_alerts.py).
    alerts = await stack.messages(catalogue.ALERTS)
    assert not [a for a in alerts if a.plan_id == plans[A1]]
    summary = next(stack.reports_dir.glob("run_summary_*.csv")).read_text()
    assert ",rejected," in summary


@pytest.mark.accounts(
    accounts_file(DU1000002={"approval": "manual", "planning": {**PLANNING, "plan_ttl_s": 2}})
)
async def test_a_plan_not_approved_in_time_expires_and_a_late_approval_is_refused(
    stack: E2EStack,
) -> None:
    plans = await stack.request_plan((A2,), {"QQQ": "0.5", "TLT": "0.5"})
    end = await stack.wait_end(plans[A2], 15)
    assert isinstance(end, PlanExpired)
    await stack.publish(
        ApprovePlan(
            source="e2e", plan_id=plans[A2], approved_by="late",
            valid_until=utc_now() + timedelta(minutes=1),
        )
    )  # fmt: skip
    await stack.wait_status(plans[A2], "expired")
    assert await stack.ib_orders() == []


async def test_an_account_in_dry_run_mode_never_trades_even_when_asked_to_rebalance(
    tmp_path: Path,
) -> None:
    s = E2EStack(tmp_path, accounts_file(DU1000001={"approval": "dry_run", "planning": PLANNING}))
    await s.start()
    try:
        plans = await s.request_plan((A1,), TARGETS, ExecutionMode.REBALANCE)
        await s.wait_status(plans[A1], "dry_run")
        # an unconfigured account is dry run too
        other = await s.request_plan((A2,), {"QQQ": "1"}, ExecutionMode.REBALANCE)
        await s.wait_status(other[A2], "dry_run")
        assert await s.messages(catalogue.ORDER_COMMANDS) == []
    finally:
        await s.stop()


@pytest.mark.accounts(
    accounts_file(
        DU1000001={
            "approval": "auto",
            "planning": PLANNING,
            "execution": {"order_type": "adaptive", "adaptive_priority": "Urgent"},
        }
    )
)
async def test_a_refused_algo_order_falls_back_to_a_plain_market_order(stack: E2EStack) -> None:
    await stack.emulator(
        "POST", "/faults/reject-orders", {"count": 1, "code": 201, "reason": "algo not allowed"}
    )
    plans = await stack.request_plan((A1,), TARGETS)
    end = await stack.wait_end(plans[A1], 60)
    assert isinstance(end, PlanCompleted), end
    commands = [
        c for c in await stack.messages(catalogue.ORDER_COMMANDS) if isinstance(c, SubmitOrder)
    ]
    retried = [c for c in commands if c.client_order_id.endswith(".1")]
    assert len(retried) == 1
    assert retried[0].order_type.value == "MKT"
    assert all(
        c.order_type.value == "ADAPTIVE" for c in commands if c.client_order_id.endswith(".0")
    )


async def test_halt_during_execution_cancels_orders_fails_the_plan_and_survives_a_restart(
    stack: E2EStack,
) -> None:
    await stack.emulator("POST", "/faults/hold-fills", {"enabled": True})
    plans = await stack.request_plan((A1,), TARGETS)
    await stack.wait_event(plans[A1], (PlanExecutionStarted,))

    async def working() -> bool:
        return any(o["status"] in ("Submitted", "PreSubmitted") for o in await stack.ib_orders())

    await eventually(working, 20, "a working order at IB")
    await stack.publish(
        HaltTrading(source="e2e", reason="test halt", valid_until=utc_now() + timedelta(minutes=1))
    )
    end = await stack.wait_end(plans[A1], 30)
    assert isinstance(end, PlanFailed)
    assert end.reasons[0].code == "aborted"

    async def all_cancelled() -> bool:
        return all(
            o["status"] in ("Cancelled", "Filled", "Inactive") for o in await stack.ib_orders()
        )

    await eventually(all_cancelled, 20, "every IB order cancelled")
    await stack.restart("executor")
    await stack.emulator("POST", "/faults/hold-fills", {"enabled": False})
    refused = await stack.request_plan((A1,), TARGETS)
    rejected = await stack.wait_end(refused[A1], 30)
    assert isinstance(rejected, PlanRejected)
    assert rejected.reasons[0].code == "halted"
    await stack.publish(ResumeTrading(source="e2e", valid_until=utc_now() + timedelta(minutes=1)))

    # after resume, trading works again (wait for the executor to have read the resume)
    async def resumed() -> bool:
        return await stack.metric("executor", "rebalancer_trading_halted") == 0

    await eventually(resumed, 20, "the halt lifted")
    again = await stack.request_plan((A1,), TARGETS)
    assert isinstance(await stack.wait_end(again[A1], 60), PlanCompleted)
