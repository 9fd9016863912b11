"""PlanService: the executor's use cases, executing the core's decisions.

Each handler asks a pure function of ``executor.core.decide`` what to do and runs the
:class:`~executor.core.decide.Decision` with :meth:`PlanService.execute`: reports are written,
each plan event is published and then applied to its record (``core.plan.apply``: the only
way a status changes), order commands go out, and the effects start background work. Every
``on_*`` handler is idempotent: a redelivered or reclaimed message finds the plan already
moved, and the core decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from executor.core import decide
from executor.core.decide import (
    Abort,
    Decision,
    ExpireAt,
    Facts,
    StartApproval,
    StartRun,
    WriteReport,
)
from executor.core.plan import PlanRecord
from executor.core.risk import RiskContext, exposure_of, quotes_of, rates_of
from executor.core.window import in_window
from executor.metrics import ExecutorMetrics
from executor.service.book import Book
from executor.service.runner import PortfolioReader, Runner
from executor.settings import ExecutorSettings
from shared.accounts import Accounts
from shared.contracts.base import Message, Reason
from shared.contracts.gateway import GatewayDisconnected, ReconciliationCompleted
from shared.contracts.order_commands import CancelOrder, SubmitOrder
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading, ResumeTrading
from shared.contracts.plans import LegResult, PlanCompleted, PlanProposed
from shared.contracts.triggers import RequestRebalance
from shared.kit.logging import log_context
from shared.kit.portfolio import PortfolioUnavailableError
from shared.plans.view import PlanStatus, PlanView, fold_halt
from shared.policy import ExecutionPolicy

log = logging.getLogger(__name__)

Publish = Callable[[Message], Awaitable[None]]
Clock = Callable[[], datetime]
Background = Callable[[Coroutine[Any, Any, None], str], object]


class ReportWriter(Protocol):
    """Where the executor's reports go (CSV files: ``executor.reports.CsvReports``)."""

    def pre_trade(self, proposal: PlanProposed) -> Path: ...

    def post_trade(self, proposal: PlanProposed, legs: list[LegResult]) -> Path: ...

    def summary_path(self, proposal: PlanProposed) -> Path: ...

    def summary(self, proposal: PlanProposed, run: list[tuple[PlanProposed, PlanView]]) -> Path: ...


class PlanService:
    """Approval, risk gate, halt and the plans' runs, over one in-memory book."""

    def __init__(
        self,
        settings: ExecutorSettings,
        accounts: Accounts,
        *,
        publish: Publish,
        portfolio: PortfolioReader,
        reports: ReportWriter,
        metrics: ExecutorMetrics,
        clock: Clock,
        background: Background,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.publish = publish
        self.portfolio = portfolio
        self.reports = reports
        self.metrics = metrics
        self.clock = clock
        self.background = background
        self.book = Book()
        self.runner = Runner(self)
        self._locks: dict[str, asyncio.Lock] = {}

    def policy(self, account_id: str) -> ExecutionPolicy:
        """The account's execution policy (the safe default for an unknown account)."""
        return self.accounts.execution_policy(account_id, self.settings.default_execution)

    def facts(self) -> Facts:
        """What the core is told besides the plan: the time and the kill switch."""
        return Facts(
            now=self.clock(),
            halted=self.book.halt.halted,
            halt_reason=self.book.halt.reason,
            order_valid_for=timedelta(seconds=self.settings.order_valid_s),
        )

    # ------------------------------------------------------------------ executing decisions

    async def execute(self, plan_id: str | None, decision: Decision) -> PlanRecord | None:
        """Run a decision: reports, plan events (published, then applied), commands, effects."""
        record = self.book.records.get(plan_id) if plan_id else None
        if decision.note and not (decision.events or decision.commands or decision.effects):
            log.info("%s: %s", plan_id or "executor", decision.note)
        paths = self._write_reports(record, decision) if record else []
        for event in decision.events:
            if record is not None and "report_paths" in type(event).model_fields:
                event = self._with_reports(event, paths, record)
            await self.publish(event)
            before = record
            record = self.book.apply(event)
            self.metrics.observe(event, before.status if before else None)
        if record is not None and any(
            isinstance(e, WriteReport) and e.kind == "summary" for e in decision.effects
        ):
            run = [(r.proposal, r.view) for r in self.book.records.values()]
            self.reports.summary(record.proposal, run)
        for command in decision.commands:
            if isinstance(command, CancelOrder):
                self.book.mark_cancel_requested(command.client_order_id)
            await self.publish(command)
        for effect in decision.effects:
            self._start(plan_id, effect)
        return record

    def _write_reports(self, record: PlanRecord, decision: Decision) -> list[str]:
        paths: list[str] = []
        for effect in decision.effects:
            if not isinstance(effect, WriteReport):
                continue
            if effect.kind == "pre_trade":
                paths.append(str(self.reports.pre_trade(record.proposal)))
            elif effect.kind == "post_trade":
                paths.append(str(self.reports.post_trade(record.proposal, list(effect.legs))))
            else:
                paths.append(str(self.reports.summary_path(record.proposal)))
        return paths

    @staticmethod
    def _with_reports(event: Message, paths: list[str], record: PlanRecord) -> Message:
        known = [p for p in record.view.report_paths if p not in paths]
        update: dict[str, Any] = {"report_paths": (*known, *paths)}
        if isinstance(event, PlanCompleted):
            update["report_path"] = next((p for p in paths if "_post_" in p), None)
        return event.model_copy(update=update)

    def _start(self, plan_id: str | None, effect: object) -> None:
        if isinstance(effect, Abort):
            run = self.book.run(effect.plan_id)
            run.abort = run.abort or effect.reason
            run.changed.set()
        elif plan_id is None:
            return
        elif isinstance(effect, StartApproval):
            self.background(self.approval(plan_id, effect.by), f"approve-{plan_id}")
        elif isinstance(effect, ExpireAt):
            self.background(self.expire_at(plan_id, effect.at), f"expire-{plan_id}")
        elif isinstance(effect, StartRun):
            self.background(self.runner.run(plan_id), f"run-{plan_id}")

    # ------------------------------------------------------------------ plans in

    async def on_plan_proposed(self, plan: PlanProposed) -> None:
        """A new plan: dry run, wait for approval, or approve automatically."""
        if plan.plan_id in self.book.records:
            return  # redelivered, or already rebuilt from the stream
        record = self.book.apply(plan)
        with log_context(plan_id=plan.plan_id, account_id=plan.account_id):
            decision = decide.on_plan_proposed(record, self.policy(plan.account_id), self.facts())
            record = await self.execute(plan.plan_id, decision) or record
            log.info("plan %s (%d legs): %s", plan.plan_id, len(plan.legs), record.status.value)

    async def approval(self, plan_id: str, by: str) -> None:
        """Trading window, gateway, then the risk gate under the account's lock."""
        record = self.book.records[plan_id]
        plan, policy = record.proposal, self.policy(record.account_id)
        with log_context(plan_id=plan_id, account_id=record.account_id):
            while not in_window(self.clock(), policy.trading_window, policy.trading_window_tz):
                if policy.outside_window == "expire" or self.clock() >= plan.valid_until:
                    await self.execute(
                        plan_id, decide.expire(self.book.records[plan_id], self.clock())
                    )
                    return
                await asyncio.sleep(self.settings.window_check_s)
            if not await self.wait_gateway(plan.valid_until):
                await self.execute(plan_id, decide.expire(self.book.records[plan_id], self.clock()))
                return
            lock = self._locks.setdefault(record.account_id, asyncio.Lock())
            async with lock:
                record = self.book.records[plan_id]
                if record.status not in (PlanStatus.PROPOSED, PlanStatus.AWAITING_APPROVAL):
                    return
                context = await self.risk_context(record)
                await self.execute(
                    plan_id, decide.approve(record, policy, context, self.facts(), by)
                )

    async def risk_context(self, record: PlanRecord) -> RiskContext | Reason:
        """What the risk gate needs, from a fresh view of the account (or why there is none)."""
        plan = record.proposal
        symbols = tuple(sorted({leg.symbol for leg in plan.legs}))
        try:
            view = await self.portfolio.get(plan.account_id, symbols, plan.correlation_id)
        except PortfolioUnavailableError as error:
            return Reason(
                code="stale_data",
                message=f"no fresh portfolio from the gateway-bridge ({error.reason.message}); "
                "check `rebalancer status` and rebalance again",
            )
        quotes = quotes_of(view)
        self.book.run(plan.plan_id).cash_at_gate = view.total_cash
        now = self.clock()
        count, notional = self.book.today(plan.account_id, now.date())
        return RiskContext(
            now=now,
            net_liquidation=view.net_liquidation,
            exposure=exposure_of(view, quotes),
            positions={p.symbol: p.quantity for p in view.positions},
            quotes=quotes,
            portfolio_as_of=min(view.positions_as_of, view.account_as_of),
            open_sell_quantity=self.book.open_sells(plan.account_id, plan.plan_id),
            other_active_plan=self.book.active_plan(plan.account_id, plan.plan_id),
            orders_today=count,
            notional_today=notional,
            max_data_age_s=self.settings.max_data_age_s,
            rates=rates_of(view),
        )

    async def expire_at(self, plan_id: str, at: datetime) -> None:
        """Expire a plan still waiting for approval at ``at``."""
        await asyncio.sleep(max(0.0, (at - self.clock()).total_seconds()))
        record = self.book.records[plan_id]
        if record.status == PlanStatus.AWAITING_APPROVAL:
            await self.execute(plan_id, decide.expire(record, self.clock()))

    async def wait_gateway(self, until: datetime | None = None) -> bool:
        """Wait until the gateway is connected and reconciled (False if ``until`` passed)."""
        while not self.book.gateway_ready:
            if until is not None and self.clock() >= until:
                return False
            self.book.gateway_changed.clear()
            timeout = self.settings.gateway_wait_s
            if until is not None:
                timeout = max(0.05, min(timeout, (until - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.book.gateway_changed.wait(), timeout)
        return True

    # ------------------------------------------------------------------ commands in

    async def on_approve_plan(self, command: ApprovePlan) -> None:
        """Manual approval of a plan waiting for it."""
        record = self.book.records.get(command.plan_id)
        if record is None:
            log.warning("ApprovePlan for unknown plan %s ignored", command.plan_id)
            return
        await self.execute(record.plan_id, decide.on_approve_plan(record, command, self.clock()))

    async def on_cancel_plan(self, command: CancelPlan) -> None:
        """Drop a waiting plan, or stop an executing one (its open orders are cancelled)."""
        record = self.book.records.get(command.plan_id)
        if record is None or record.view.terminal:
            return
        orders = self.book.plan_orders(record.plan_id)
        await self.execute(
            record.plan_id, decide.on_cancel_plan(record, command, orders, self.facts())
        )

    async def on_halt_trading(self, command: HaltTrading) -> None:
        """Kill switch: cancel every open order, stop running plans, refuse new ones."""
        if command.message_id in self.book.seen_commands:
            return
        self.book.seen_commands.add(command.message_id)
        self.book.halt = fold_halt(self.book.halt, command)
        self.metrics.halted.set(1)
        decision = decide.on_halt(command, list(self.book.records.values()), self.facts())
        await self.execute(None, decision)

    async def on_resume_trading(self, command: ResumeTrading) -> None:
        """Lift the kill switch."""
        if command.message_id in self.book.seen_commands:
            return
        self.book.seen_commands.add(command.message_id)
        self.book.halt = fold_halt(self.book.halt, command)
        self.metrics.halted.set(0)

    # ------------------------------------------------------------------ events in

    async def on_order_event(self, event: Message) -> None:
        """Follow an order of ours (its plan's runner is woken)."""
        self.book.on_order_event(event)

    async def on_gateway_event(self, event: Message) -> None:
        """Pause while the gateway is down or reconciling; resume after."""
        if isinstance(event, GatewayDisconnected):
            self.set_gateway(False)
        elif isinstance(event, ReconciliationCompleted):
            self.set_gateway(True)

    def set_gateway(self, ready: bool) -> None:
        """Record the gateway's state."""
        self.book.set_gateway(ready)
        self.metrics.gateway_ready.set(1 if ready else 0)

    async def on_request_rebalance(self, trigger: RequestRebalance) -> None:
        """Remember when a rebalance was requested (trigger-to-fill latency)."""
        self.book.note_trigger(trigger.correlation_id or trigger.message_id, trigger.ts_event)

    async def send(self, command: SubmitOrder, reference_price: Any) -> bool:
        """Publish one SubmitOrder, tracked first; False if that id was sent already."""
        if self.book.add_order(command, reference_price) is None:
            return False
        await self.publish(command)
        self.metrics.orders.labels(command.account_id).inc()
        return True

    # ------------------------------------------------------------------ after a restart

    async def resume(self) -> None:
        """Carry on with every open plan, from where the streams say it is."""
        for record in self.book.open_records():
            plan_id = record.plan_id
            if record.status in (PlanStatus.APPROVED, PlanStatus.EXECUTING):
                run = self.book.run(plan_id)
                if self.book.halt.halted and run.abort is None:
                    run.abort = f"trading halted: {self.book.halt.reason}"
                log.info("resuming plan %s (%s)", plan_id, record.status.value)
                self.background(self.runner.run(plan_id), f"run-{plan_id}")
            elif record.status == PlanStatus.PROPOSED:
                decision = decide.on_plan_proposed(
                    record, self.policy(record.account_id), self.facts()
                )
                await self.execute(plan_id, decision)
            elif record.status == PlanStatus.AWAITING_APPROVAL:
                self.background(
                    self.expire_at(plan_id, record.proposal.valid_until), f"expire-{plan_id}"
                )
