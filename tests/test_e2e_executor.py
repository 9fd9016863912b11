"""End to end over the real stack: Redis, emulator, bridge, planner and executor processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from e2e_stack import E2EStack, accounts_file

from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode, utc_now
from shared.contracts.order_commands import SubmitOrder
from shared.contracts.plan_commands import ApprovePlan
from shared.contracts.plans import (
    PlanApproved,
    PlanCompleted,
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
    row = await stack.wait_status(plans[A1], "dry_run")
    assert [m for m in await stack.messages(catalogue.ORDER_COMMANDS)] == []
    assert await stack.ib_orders() == []
    assert any("rebalance_pre_DU1000001_" in p for p in row["reports"])
    assert not list(stack.reports_dir.glob("rebalance_post_*"))
    [summary] = stack.reports_dir.glob("run_summary_*.csv")
    assert summary.read_text().splitlines()[0] == (
        "timestamp_run,account_id,planned_orders,submitted,filled,rejected,buy_usd,sell_usd,"
        "pre_leverage,post_leverage,status,error"
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
