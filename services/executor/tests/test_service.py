"""The executor in this process on a real Redis, with a bridge stand-in that fills orders.

Component tests of the service layer: plans go in on ``events.plans.v1``, operator commands
on ``commands.plans.v1``; what comes out (plan events, orders, reports) is read back from the
streams and the disk. A restart is a second executor on the same Redis, replaying the streams.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from executor.main import ExecutorApp, create_app
from executor.settings import ExecutorSettings
from rebalancer_testkit.fake_bridge import FakeBridge, SimAccount
from rebalancer_testkit.streams import of_type, read_stream
from rebalancer_testkit.waiting import eventually, stays
from shared.accounts import parse_accounts
from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode, Message, Side, utc_now
from shared.contracts.order_commands import CancelAllOrders, SubmitOrder
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading
from shared.contracts.plans import (
    BatchSummary,
    DriftRow,
    PlanAwaitingApproval,
    PlanCompleted,
    PlanDryRunReported,
    PlanExpired,
    PlanFailed,
    PlanLeg,
    PlanProposed,
    PlanRejected,
    SizingTerms,
)
from shared.plans.view import PlanView, fold_all

D = Decimal
ACCOUNTS = parse_accounts(
    {
        "accounts": [
            {"id": "DU1", "approval": "auto"},
            {"id": "DU2", "approval": "manual"},
            {"id": "DU3"},  # approval dry_run: the default
        ]
    }
)
TERMS = SizingTerms(
    cash_buffer_pct=D(0), leverage_limit=D(1), quantity_step=D(1),
    commission_per_share=D("0.005"), commission_minimum=D(1),
    min_order_value=D(100), min_share_diff=D("0.5"),
)  # fmt: skip
SUMMARY = BatchSummary(
    net_liquidation=D(11_000), cash_before=D(1000), cash_after=D(998), gross_buy=D(5000),
    gross_sell=D(5000), pre_gross_exposure=D(10_000), post_gross_exposure=D(10_000),
    pre_leverage=D("0.9091"), post_leverage=D("0.9091"), turnover_pct=D("90.9"),
    estimated_commissions=D(2),
)  # fmt: skip


def account() -> SimAccount:
    """100 AGG at 100 and 1,000 cash; SPY at 500."""
    return SimAccount(
        cash=D(1000), positions={"AGG": D(100)}, prices={"AGG": D(100), "SPY": D(500)}
    )


def plan(
    plan_id: str,
    account_id: str,
    *,
    execution: ExecutionMode = ExecutionMode.REBALANCE,
    buy: int = 10,
    ttl_s: float = 900,
) -> PlanProposed:
    """Sell 50 AGG, then buy ``buy`` SPY."""
    legs = (
        PlanLeg(
            leg=0,
            symbol="AGG",
            side=Side.SELL,
            quantity=D(50),
            reference_price=D(100),
            estimated_value=D(5000),
            quantity_step=D(1),
        ),
        PlanLeg(
            leg=1,
            symbol="SPY",
            side=Side.BUY,
            quantity=D(buy),
            reference_price=D(500),
            estimated_value=D(buy * 500),
            quantity_step=D(1),
        ),
    )
    drift = (
        DriftRow(
            symbol="AGG",
            target_pct=D(45),
            current_pct=D("90.9"),
            drift_pct=D("45.9"),
            drift_value=D(5000),
            action="SELL",
            quantity=D(50),
            estimated_value=D(5000),
            current_quantity=D(100),
            price=D(100),
        ),
        DriftRow(
            symbol="SPY",
            target_pct=D(45),
            current_pct=D(0),
            drift_pct=D(-45),
            drift_value=D(-5000),
            action="BUY",
            quantity=D(buy),
            estimated_value=D(buy * 500),
            price=D(500),
        ),
    )
    now = utc_now()
    return PlanProposed(
        source="planner", correlation_id=f"trigger-{plan_id}", ts_event=now, plan_id=plan_id,
        account_id=account_id, allocation_id=f"al-{plan_id}", execution=execution, legs=legs,
        drift=drift, summary=SUMMARY, valid_until=now + timedelta(seconds=ttl_s), sizing=TERMS,
    )  # fmt: skip


class Stack:
    """Redis, the bridge stand-in, and the executor (which can be stopped and started again)."""

    def __init__(self, redis_url: str, reports: Path) -> None:
        self.redis_url = redis_url
        self.reports = reports
        self.redis = aioredis.Redis.from_url(redis_url)
        self.bridge = FakeBridge(redis_url)
        self.bridge.accounts = {"DU1": account(), "DU2": account(), "DU3": account()}
        self.executor: ExecutorApp | None = None
        self.started = 0

    async def start_executor(self) -> ExecutorApp:
        self.started += 1
        settings = ExecutorSettings(
            redis_url=self.redis_url, consumer_name=f"executor-{self.started}",
            reports_dir=self.reports, gateway_wait_s=0.2, cash_wait_s=0.5,
            commission_wait_s=0.5, reclaim_idle_ms=1000, portfolio_timeout_s=3,
        )  # fmt: skip
        self.executor = create_app(settings, accounts=ACCOUNTS)
        await self.executor.start()
        return self.executor

    async def stop_executor(self) -> None:
        assert self.executor is not None
        await self.executor.stop()
        self.executor = None

    async def send(self, message: Message) -> None:
        await self.bridge.service.publish(message)

    async def events(self, plan_id: str) -> list[Message]:
        return [
            m
            for m in await read_stream(self.redis, catalogue.PLANS)
            if getattr(m, "plan_id", None) == plan_id
        ]

    async def kinds(self, plan_id: str) -> list[str]:
        return [type(m).__name__ for m in await self.events(plan_id)]

    async def view(self, plan_id: str) -> PlanView | None:
        return fold_all(await read_stream(self.redis, catalogue.PLANS)).get(plan_id)

    def ended(self, plan_id: str, *kinds: type[Message]) -> Callable[[], Awaitable[Any]]:
        async def probe() -> Message | None:
            return next((m for m in await self.events(plan_id) if isinstance(m, kinds)), None)

        return probe

    async def submits(self) -> list[SubmitOrder]:
        return [m for m in await of_type(self.redis, catalogue.ORDER_COMMANDS, SubmitOrder)]


@pytest.fixture
async def stack(redis_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(redis_url, tmp_path / "reports")
    await s.bridge.start()
    await s.start_executor()
    yield s
    if s.executor is not None:
        await s.stop_executor()
    await s.bridge.stop()
    await s.redis.aclose()


def approve(plan_id: str) -> ApprovePlan:
    return ApprovePlan(source="cli", plan_id=plan_id, approved_by="ops", valid_until=utc_now() + timedelta(minutes=1))  # fmt: skip


async def test_a_dry_run_is_an_event_with_its_reports_and_sends_nothing(stack: Stack) -> None:
    await stack.send(plan("pl-dry", "DU1", execution=ExecutionMode.DRY_RUN))
    reported = await eventually(
        stack.ended("pl-dry", PlanDryRunReported), what="the dry run reported"
    )
    assert reported.why == "the trigger asked for a dry run"
    assert files_exist(reported.report_paths)
    assert {Path(p).name.split("_")[0] for p in reported.report_paths} == {"rebalance", "run"}
    view = await stack.view("pl-dry")
    assert view is not None
    assert view.status == "dry_run"
    await stays(lambda: _none(stack.submits()), 0.3, "no order sent")
    assert await read_stream(stack.redis, catalogue.ALERTS) == []


async def test_an_account_in_dry_run_mode_is_reported_even_when_asked_to_trade(
    stack: Stack,
) -> None:
    await stack.send(plan("pl-dry3", "DU3"))
    reported = await eventually(stack.ended("pl-dry3", PlanDryRunReported))
    assert reported.why == "the account's approval mode is dry_run"
    assert await stack.submits() == []


async def test_a_manual_plan_awaits_approval_then_sells_before_it_buys(stack: Stack) -> None:
    await stack.send(plan("pl-man", "DU2"))
    awaiting = await eventually(
        stack.ended("pl-man", PlanAwaitingApproval), what="awaiting approval"
    )
    assert awaiting.leg_count == 2
    assert (await stack.view("pl-man")).status == "awaiting_approval"
    await stays(lambda: _none(stack.submits()), 0.3, "no order before the approval")
    await stack.send(approve("pl-man"))
    done = await eventually(stack.ended("pl-man", PlanCompleted, PlanFailed), within=15)
    assert isinstance(done, PlanCompleted), done
    assert await stack.kinds("pl-man") == [
        "PlanProposed",
        "PlanAwaitingApproval",
        "PlanApproved",
        "PlanExecutionStarted",
        "PlanCompleted",
    ]
    assert [s.side for s in await stack.submits()] == [Side.SELL, Side.BUY]
    assert [leg.status for leg in done.legs] == ["filled", "filled"]
    assert all(leg.commission > 0 for leg in done.legs)
    assert any("_post_" in p for p in done.report_paths)
    assert await read_stream(stack.redis, catalogue.ALERTS) == []


async def test_buys_are_sized_from_the_cash_there_is_after_the_sells(stack: Stack) -> None:
    # The plan wants 12 SPY (6,000); the sells raise 5,000 - 1 on top of 1,000 cash.
    await stack.send(plan("pl-cash", "DU1", buy=12))
    done = await eventually(stack.ended("pl-cash", PlanCompleted, PlanFailed), within=15)
    [_, spy] = done.legs
    assert spy.ordered_quantity == 11
    assert stack.bridge.accounts["DU1"].cash >= 0


async def test_a_restart_mid_plan_replays_the_streams_and_sends_no_order_twice(
    stack: Stack,
) -> None:
    stack.bridge.hold_fills = True
    await stack.send(plan("pl-rst", "DU1"))
    await eventually(lambda: _at_least(stack.submits(), 1), what="the sell sent")
    await stack.stop_executor()
    await stack.bridge.release()  # the sell fills while no executor runs
    await stack.start_executor()
    done = await eventually(stack.ended("pl-rst", PlanCompleted, PlanFailed), within=20)
    assert isinstance(done, PlanCompleted), done
    ids = [s.client_order_id for s in await stack.submits()]
    assert ids == ["pl-rst.0.0", "pl-rst.1.0"]
    assert await stack.kinds("pl-rst") == [
        "PlanProposed",
        "PlanApproved",
        "PlanExecutionStarted",
        "PlanCompleted",
    ]
    # the run summary written after the restart still has the plan of before it
    summary = next(stack.reports.glob("run_summary_*")).read_text()
    assert "DU1" in summary
    assert ",completed," in summary


async def test_a_halt_aborts_a_running_plan_and_refuses_new_ones(stack: Stack) -> None:
    stack.bridge.hold_fills = True
    await stack.send(plan("pl-halt", "DU1"))
    await eventually(lambda: _at_least(stack.submits(), 1), what="the sell sent")
    await stack.send(
        HaltTrading(
            source="cli", reason="market chaos", valid_until=utc_now() + timedelta(minutes=1)
        )
    )
    failed = await eventually(stack.ended("pl-halt", PlanFailed), within=15)
    assert failed.reasons[0].code == "aborted"
    assert any(
        isinstance(m, CancelAllOrders)
        for m in await read_stream(stack.redis, catalogue.ORDER_COMMANDS)
    )
    await stack.send(plan("pl-after", "DU1"))
    rejected = await eventually(
        stack.ended("pl-after", PlanRejected, PlanFailed, PlanCompleted), within=10
    )
    assert rejected.reasons[0].code == "halted"
    assert await read_stream(stack.redis, catalogue.ALERTS) == []


async def test_cancelling_a_plan_that_awaits_approval_fails_it(stack: Stack) -> None:
    await stack.send(plan("pl-cxl", "DU2"))
    await eventually(stack.ended("pl-cxl", PlanAwaitingApproval))
    await stack.send(
        CancelPlan(
            source="cli",
            plan_id="pl-cxl",
            reason="not today",
            valid_until=utc_now() + timedelta(minutes=1),
        )
    )
    failed = await eventually(stack.ended("pl-cxl", PlanFailed))
    assert failed.reasons[0].message == "cancelled: not today"
    await stack.send(approve("pl-cxl"))  # too late: nothing happens
    await stays(lambda: _none(stack.submits()), 0.3, "no order after the cancel")


async def test_a_plan_waiting_for_approval_expires_at_its_deadline_even_across_a_restart(
    stack: Stack,
) -> None:
    await stack.send(plan("pl-exp", "DU2", ttl_s=1.5))
    await eventually(stack.ended("pl-exp", PlanAwaitingApproval))
    await stack.stop_executor()
    await stack.start_executor()
    expired = await eventually(stack.ended("pl-exp", PlanExpired), within=10)
    assert expired.plan_id == "pl-exp"


def files_exist(paths: tuple[str, ...]) -> bool:
    return bool(paths) and all(Path(p).exists() for p in paths)


async def _none(found: Awaitable[list[Any]]) -> bool:
    return not await found


async def _at_least(found: Awaitable[list[Any]], n: int) -> bool:
    return len(await found) >= n


def test_after_a_restart_the_gateway_is_ready_by_its_last_status_when_the_stream_was_trimmed():
    from executor.service.recovery import gateway_ready
    from shared.contracts.gateway import GatewayDisconnected, GatewayStatus

    def status(connected: bool, reconciled: bool) -> GatewayStatus:
        return GatewayStatus(
            source="gateway-bridge", host="ib", port=4004, client_id=17,
            connected=connected, reconciled=reconciled,
        )  # fmt: skip

    # events.gateway.v1 is trimmed: the ReconciliationCompleted of a long-lived connection is
    # gone, only the bridge's recent statuses remain.
    assert gateway_ready([status(True, True), status(True, True)]) is True
    assert gateway_ready([status(True, True), status(False, False)]) is False
    assert gateway_ready([status(True, False)]) is False
    assert gateway_ready([status(True, True), GatewayDisconnected(source="b", reason="x")]) is False
    assert gateway_ready([]) is False
