"""Decisions about plans: dry run, manual or auto approval, the risk gate, halt and resume.

The engine holds the book (in-memory state rebuilt from the streams) and publishes every
decision on ``events.plans.v1``. Execution itself is in ``runner.py``. Every ``on_*`` method
is idempotent: a redelivered or reclaimed message finds the plan already moved and does
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from executor import reports
from executor.adapters import DecisionStore, PortfolioError, PortfolioReader, ReadModel
from executor.book import Book, PlanRecord
from executor.core.risk import FreshQuote, RiskContext, RiskLeg, check_plan
from executor.core.state import OPEN, TERMINAL, PlanStatus, PlanTrigger, can
from executor.core.tracking import apply_order_event
from executor.core.window import in_window
from executor.metrics import ExecutorMetrics
from executor.settings import ExecutorSettings
from shared.accounts import Accounts
from shared.contracts.alerts import SendAlert
from shared.contracts.base import ExecutionMode, Message, Reason, utc_now
from shared.contracts.gateway import GatewayDisconnected, ReconciliationCompleted
from shared.contracts.order_commands import CancelAllOrders, CancelOrder
from shared.contracts.plan_commands import ApprovePlan, CancelPlan, HaltTrading, ResumeTrading
from shared.contracts.plans import (
    PlanApproved,
    PlanExpired,
    PlanFailed,
    PlanProposed,
    PlanRejected,
)
from shared.contracts.portfolio import PortfolioView
from shared.contracts.triggers import RequestRebalance
from shared.kit.logging import log_context
from shared.policy import ApprovalMode, ExecutionPolicy

log = logging.getLogger(__name__)

Publish = Callable[[Message], Awaitable[None]]
Clock = Callable[[], datetime]


def quotes_of(view: PortfolioView) -> dict[str, FreshQuote]:
    """Fresh quotes of a portfolio view, by symbol (unusable ones left out)."""
    return {
        q.symbol: FreshQuote(q.bid, q.ask, q.last or q.close, q.as_of)
        for q in view.quotes
        if q.status == "ok"
    }


class Engine:
    """Approval, risk gate, halt; starts a runner per approved plan."""

    def __init__(
        self,
        settings: ExecutorSettings,
        accounts: Accounts,
        publish: Publish,
        portfolio: PortfolioReader,
        read_model: ReadModel,
        store: DecisionStore,
        metrics: ExecutorMetrics,
        clock: Clock = utc_now,
        source: str = "executor",
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.publish = publish
        self.portfolio = portfolio
        self.read_model = read_model
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.source = source
        self.book = Book()
        self.tasks: set[asyncio.Task[None]] = set()
        self._account_locks: dict[str, asyncio.Lock] = {}
        self._runs: dict[str, dict[str, reports.SummaryRow]] = {}
        # Set by main: runs one approved plan to its end (runner.run_plan).
        self.run_plan: Callable[[PlanRecord], Coroutine[Any, Any, None]] | None = None

    # ------------------------------------------------------------------ helpers

    def policy(self, account_id: str) -> ExecutionPolicy:
        """The account's execution policy (the safe default for an unknown account)."""
        return self.accounts.execution_policy(account_id, self.settings.default_execution)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` in the background, logging (never swallowing silently) its failure."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("task %s failed", name, exc_info=t.exception())

        task.add_done_callback(done)

    async def stop(self) -> None:
        """Cancel background tasks (a restart resumes them from the streams)."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def alert(self, title: str, text: str, record: PlanRecord | None, severity: str) -> None:
        """Tell the humans (through the notifier)."""
        await self.publish(
            SendAlert(
                source=self.source,
                correlation_id=record.proposal.correlation_id if record else None,
                severity=severity,
                title=title,
                text=text,
                account_id=record.account_id if record else None,
                plan_id=record.plan_id if record else None,
                dedupe_key=f"{title}:{record.plan_id if record else ''}",
                valid_until=self.clock() + timedelta(hours=1),
            )
        )

    async def save_row(self, record: PlanRecord) -> None:
        """Update the read model the CLI shows (`rebalancer plans`)."""
        legs = []
        for leg in record.proposal.legs:
            tracks = record.attempts(leg.leg)
            legs.append(
                {
                    "leg": leg.leg,
                    "symbol": leg.symbol,
                    "side": leg.side.value,
                    "planned": str(leg.quantity),
                    "ordered": str(tracks[-1].quantity) if tracks else "0",
                    "filled": str(sum((t.filled for t in tracks), Decimal(0))),
                    "status": tracks[-1].status if tracks else "",
                }
            )
        await self.read_model.put(
            record.plan_id,
            {
                "plan_id": record.plan_id,
                "account_id": record.account_id,
                "correlation_id": record.proposal.correlation_id,
                "execution": record.proposal.execution.value,
                "approval": self.policy(record.account_id).approval.value,
                "status": record.status.value,
                "proposed_at": record.proposal.ts_event.isoformat(),
                "valid_until": record.proposal.valid_until.isoformat(),
                "updated_at": self.clock().isoformat(),
                "legs": legs,
                "reasons": [r.model_dump(mode="json") for r in record.reasons],
                "reports": record.reports,
            },
        )

    def record_summary(
        self, record: PlanRecord, status: str, legs: list[Any] | None, error: str = ""
    ) -> None:
        """Add the plan's line to its run summary and rewrite the file."""
        proposal = record.proposal
        label = reports.run_label(proposal)
        run = self._runs.setdefault(label, {})
        run[proposal.account_id] = reports.summary_row(proposal, status, legs, error)
        path = reports.write_summary(
            self.settings.reports_dir, label, proposal.ts_event.isoformat(), list(run.values())
        )
        if str(path) not in record.reports:
            record.reports.append(str(path))

    # ------------------------------------------------------------------ plans in

    async def on_plan_proposed(self, plan: PlanProposed) -> None:
        """A new plan: decide dry run, wait for approval, or approve automatically."""
        if plan.plan_id in self.book.plans:
            return  # redelivered, or already rebuilt from the stream
        record = PlanRecord(proposal=plan)
        self.book.plans[plan.plan_id] = record
        for track in list(self.book.orders.values()):
            if track.client_order_id.startswith(plan.plan_id + "."):
                record.tracks[track.client_order_id] = track
        await self.decide(record)

    async def decide(self, record: PlanRecord) -> None:
        """Route a PROPOSED plan by its trigger's execution and the account's approval mode."""
        plan = record.proposal
        policy = self.policy(plan.account_id)
        now = self.clock()
        with log_context(plan_id=plan.plan_id, account_id=plan.account_id):
            live = (
                plan.execution == ExecutionMode.REBALANCE
                and policy.approval != ApprovalMode.DRY_RUN
            )
            if not live:
                await self._dry_run(record, policy)
                return
            if now >= plan.valid_until:
                await self._expire(record)
                return
            if self.book.halted:
                await self.reject(record, "approval", [self._halted_reason()])
                return
            if policy.approval == ApprovalMode.MANUAL:
                record.move(PlanTrigger.AWAIT_APPROVAL)
                self.metrics.outcomes.labels(plan.account_id, "awaiting_approval").inc()
                await self.save_row(record)
                await self.alert(
                    "Plan awaits approval",
                    f"{plan.account_id}: {len(plan.legs)} orders; approve with `rebalancer "
                    f"approve {plan.plan_id}` before {plan.valid_until:%H:%M:%S} UTC",
                    record,
                    "info",
                )
                self.spawn(self._expire_at_deadline(record), f"expire-{plan.plan_id}")
                return
            self.spawn(self.approve(record, "auto"), f"approve-{plan.plan_id}")

    async def _dry_run(self, record: PlanRecord, policy: ExecutionPolicy) -> None:
        record.move(PlanTrigger.DRY_RUN)
        self.metrics.outcomes.labels(record.account_id, "dry_run").inc()
        if not self.store.reported(record.plan_id):
            path = reports.write_pre_trade(self.settings.reports_dir, record.proposal)
            record.reports.append(str(path))
            why = (
                "the trigger asked for a dry run"
                if record.proposal.execution != ExecutionMode.REBALANCE
                else f"account approval mode is {policy.approval.value}"
            )
            self.record_summary(record, "dry_run", None, why)
            self.store.mark_reported(record.plan_id)
        await self.save_row(record)
        log.info("plan %s reported (dry run): %d legs", record.plan_id, len(record.proposal.legs))

    async def _expire_at_deadline(self, record: PlanRecord) -> None:
        delay = (record.proposal.valid_until - self.clock()).total_seconds()
        await asyncio.sleep(max(0.0, delay))
        if record.status == PlanStatus.AWAITING_APPROVAL:
            await self._expire(record)

    async def _expire(self, record: PlanRecord) -> None:
        if not can(record.status, PlanTrigger.EXPIRE):
            if record.status == PlanStatus.PROPOSED:
                record.move(PlanTrigger.AWAIT_APPROVAL)
            else:
                return
        record.move(PlanTrigger.EXPIRE)
        self.metrics.outcomes.labels(record.account_id, "expired").inc()
        await self.publish(
            PlanExpired(
                source=self.source,
                correlation_id=record.proposal.correlation_id,
                plan_id=record.plan_id,
                account_id=record.account_id,
            )
        )
        self.record_summary(record, "expired", None, "the plan expired before it could execute")
        await self.save_row(record)
        await self.alert("Plan expired", f"{record.plan_id} expired unexecuted", record, "warning")

    def _halted_reason(self) -> Reason:
        return Reason(
            code="halted",
            message=f"trading is halted ({self.book.halt_reason or 'HaltTrading'}); "
            "`rebalancer resume` lifts it",
        )

    async def reject(self, record: PlanRecord, stage: str, reasons: list[Reason]) -> None:
        """Refuse the plan with reasons (PlanRejected), report it and alert."""
        if not can(record.status, PlanTrigger.REJECT):
            return
        record.move(PlanTrigger.REJECT)
        record.reasons = tuple(reasons)
        self.metrics.outcomes.labels(record.account_id, "rejected").inc()
        await self.publish(
            PlanRejected(
                source=self.source,
                correlation_id=record.proposal.correlation_id,
                plan_id=record.plan_id,
                account_id=record.account_id,
                allocation_id=record.proposal.allocation_id,
                stage=stage,
                reasons=tuple(reasons),
            )
        )
        if not any(p.endswith(".csv") and "_pre_" in p for p in record.reports):
            record.reports.append(
                str(reports.write_pre_trade(self.settings.reports_dir, record.proposal))
            )
        self.record_summary(record, "rejected", None, "; ".join(r.message for r in reasons))
        await self.save_row(record)
        await self.alert(
            "Plan rejected",
            f"{record.account_id}: " + "; ".join(r.message for r in reasons),
            record,
            "warning",
        )

    # ------------------------------------------------------------------ approval

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

    async def approve(self, record: PlanRecord, by: str) -> None:
        """Trading window, gateway, risk gate; then PlanApproved and the runner."""
        plan = record.proposal
        policy = self.policy(plan.account_id)
        with log_context(plan_id=plan.plan_id, account_id=plan.account_id):
            while not in_window(self.clock(), policy.trading_window, policy.trading_window_tz):
                if policy.outside_window == "expire" or self.clock() >= plan.valid_until:
                    await self._expire(record)
                    return
                await asyncio.sleep(self.settings.window_check_s)
            if not await self.wait_gateway(plan.valid_until):
                await self._expire(record)
                return
            lock = self._account_locks.setdefault(plan.account_id, asyncio.Lock())
            async with lock:
                if record.status not in (PlanStatus.PROPOSED, PlanStatus.AWAITING_APPROVAL):
                    return
                if self.book.halted:
                    await self.reject(record, "approval", [self._halted_reason()])
                    return
                reasons = await self.gate(record, policy)
                if reasons:
                    await self.reject(record, "risk", reasons)
                    return
                record.move(PlanTrigger.APPROVE)
                record.approved_by = by
                record.approved_at = self.clock()
                self.metrics.active.inc()
                mode = "auto" if by == "auto" else "manual"
                self.metrics.approvals.labels(plan.account_id, mode).inc()
            await self.publish(
                PlanApproved(
                    source=self.source,
                    correlation_id=plan.correlation_id,
                    plan_id=plan.plan_id,
                    account_id=plan.account_id,
                    approved_by=by,
                )
            )
            record.reports.append(str(reports.write_pre_trade(self.settings.reports_dir, plan)))
            await self.save_row(record)
            self.start_runner(record)

    def start_runner(self, record: PlanRecord) -> None:
        """Execute an approved plan in the background."""
        assert self.run_plan is not None
        self.spawn(self.run_plan(record), f"run-{record.plan_id}")

    async def gate(self, record: PlanRecord, policy: ExecutionPolicy) -> list[Reason]:
        """Run the risk gate against a fresh view of the account."""
        plan = record.proposal
        symbols = tuple(sorted({leg.symbol for leg in plan.legs}))
        try:
            view = await self.portfolio.view(plan.account_id, symbols)
        except PortfolioError as error:
            return [
                Reason(
                    code="stale_data",
                    message=f"no fresh portfolio from the gateway-bridge ({error}); "
                    "check `rebalancer status` and rebalance again",
                )
            ]
        quotes = quotes_of(view)
        positions = {p.symbol: p.quantity for p in view.positions}
        gross = Decimal(0)
        for p in view.positions:
            q = quotes.get(p.symbol)
            price = (q.mid if q else None) or p.market_price or p.average_cost
            gross += abs(p.quantity * price)
        record.cash_at_gate = view.total_cash
        record.pre_leverage = gross / view.net_liquidation if view.net_liquidation > 0 else None
        now = self.clock()
        count, notional = self.book.today(plan.account_id, now.date())
        context = RiskContext(
            now=now,
            net_liquidation=view.net_liquidation,
            gross_position_value=gross,
            positions=positions,
            quotes=quotes,
            portfolio_as_of=min(view.positions_as_of, view.account_as_of),
            open_sell_quantity=self.book.open_sells(plan.account_id, plan.plan_id),
            other_active_plan=self.book.active_plan(plan.account_id, plan.plan_id),
            orders_today=count,
            notional_today=notional,
            max_data_age_s=self.settings.max_data_age_s,
        )
        legs = [
            RiskLeg(leg.symbol, leg.side, leg.quantity, leg.reference_price) for leg in plan.legs
        ]
        return check_plan(legs, policy, context)

    # ------------------------------------------------------------------ commands in

    async def on_approve(self, command: ApprovePlan) -> None:
        """Manual approval of a plan waiting for it."""
        record = self.book.plans.get(command.plan_id)
        if record is None:
            log.warning("ApprovePlan for unknown plan %s ignored", command.plan_id)
            return
        if record.status != PlanStatus.AWAITING_APPROVAL:
            log.info("ApprovePlan for %s ignored: plan is %s", command.plan_id, record.status)
            return
        if command.is_expired(self.clock()) or self.clock() >= record.proposal.valid_until:
            await self._expire(record)
            return
        self.spawn(self.approve(record, command.approved_by), f"approve-{record.plan_id}")

    async def on_cancel(self, command: CancelPlan) -> None:
        """Drop a waiting plan, or stop an executing one (its open orders are cancelled)."""
        record = self.book.plans.get(command.plan_id)
        if record is None or record.status in TERMINAL:
            return
        reason = Reason(code="cancelled", message=f"cancelled: {command.reason}")
        if record.status == PlanStatus.PROPOSED:
            record.move(PlanTrigger.AWAIT_APPROVAL)
        if record.status == PlanStatus.AWAITING_APPROVAL:
            await self.fail(record, [reason], [])
            return
        record.abort = reason.message
        for track in record.tracks.values():
            if not track.final:
                await self.cancel_order(record, track.client_order_id, "plan cancelled")
        record.changed.set()

    async def cancel_order(self, record: PlanRecord, client_order_id: str, why: str) -> None:
        """Ask the bridge to cancel one order."""
        track = self.book.orders.get(client_order_id)
        if track is not None:
            track.cancel_requested = True
        await self.publish(
            CancelOrder(
                source=self.source,
                correlation_id=record.proposal.correlation_id,
                client_order_id=client_order_id,
                account_id=record.account_id,
                reason=why,
                valid_until=self.clock() + timedelta(seconds=self.settings.order_valid_s),
            )
        )

    async def on_halt(self, command: HaltTrading) -> None:
        """Kill switch: cancel every open order, stop running plans, refuse new ones."""
        if command.message_id in self.book.seen_commands:
            return
        self.book.seen_commands.add(command.message_id)
        self.book.halted = True
        self.book.halt_reason = command.reason
        self.metrics.halted.set(1)
        await self.read_model.set_halt(command.reason)
        await self.publish(
            CancelAllOrders(
                source=self.source,
                reason=f"HaltTrading: {command.reason}",
                valid_until=self.clock() + timedelta(seconds=self.settings.order_valid_s),
            )
        )
        for record in self.book.plans.values():
            if record.status in (PlanStatus.APPROVED, PlanStatus.EXECUTING):
                record.abort = f"trading halted: {command.reason}"
                record.changed.set()
        await self.alert("Trading halted", command.reason, None, "critical")

    async def on_resume(self, command: ResumeTrading) -> None:
        """Lift the kill switch."""
        if command.message_id in self.book.seen_commands:
            return
        self.book.seen_commands.add(command.message_id)
        if not self.book.halted:
            return
        self.book.halted = False
        self.book.halt_reason = None
        self.metrics.halted.set(0)
        await self.read_model.set_halt(None)
        await self.alert("Trading resumed", "HaltTrading lifted", None, "info")

    # ------------------------------------------------------------------ events in

    def on_order_event(self, event: Message) -> None:
        """Follow an order of ours: update its track and wake its plan's runner."""
        coid = getattr(event, "client_order_id", None)
        if coid is None:
            return
        track = self.book.orders.get(coid)
        if track is None:
            return  # not ours (or an order of a plan long gone)
        if apply_order_event(track, event):
            record = self.book.plan_of(coid)
            if record is not None:
                record.changed.set()

    def on_trigger(self, trigger: RequestRebalance) -> None:
        """Remember when a rebalance was requested (trigger-to-fill latency)."""
        self.book.note_trigger(trigger.correlation_id or trigger.message_id, trigger.ts_event)

    def on_gateway_event(self, event: Message) -> None:
        """Pause while the gateway is down or reconciling; resume after."""
        if isinstance(event, GatewayDisconnected):
            self.set_gateway(False)
        elif isinstance(event, ReconciliationCompleted):
            self.set_gateway(True)

    def set_gateway(self, ready: bool) -> None:
        """Record the gateway's state and wake whoever waits for it."""
        self.book.gateway_ready = ready
        self.metrics.gateway_ready.set(1 if ready else 0)
        self.book.gateway_changed.set()

    # ------------------------------------------------------------------ endings

    async def fail(self, record: PlanRecord, reasons: list[Reason], legs: list[Any]) -> None:
        """PlanFailed with reasons (and whatever legs did), reports, alert."""
        if not can(record.status, PlanTrigger.FAIL):
            return
        was_active = record.status in (PlanStatus.APPROVED, PlanStatus.EXECUTING)
        record.move(PlanTrigger.FAIL)
        record.reasons = tuple(reasons)
        record.finished_at = self.clock()
        if was_active:
            self.metrics.active.dec()
        self.metrics.outcomes.labels(record.account_id, "failed").inc()
        await self.publish(
            PlanFailed(
                source=self.source,
                correlation_id=record.proposal.correlation_id,
                plan_id=record.plan_id,
                account_id=record.account_id,
                reasons=tuple(reasons),
                legs=tuple(legs),
            )
        )
        self.record_summary(record, "failed", legs or None, "; ".join(r.message for r in reasons))
        await self.save_row(record)
        await self.alert(
            "Plan failed",
            f"{record.account_id}: " + "; ".join(r.message for r in reasons),
            record,
            "critical",
        )

    def open_plans(self) -> list[PlanRecord]:
        """Plans not yet in a terminal state."""
        return [r for r in self.book.plans.values() if r.status in OPEN]
