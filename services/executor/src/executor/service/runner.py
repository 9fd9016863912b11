"""Run one approved plan: sells, wait for their fills, size the buys from the cash, buys.

The runner is the waiting part: it sends what the core says, waits for the facts (order
events, the cash after the sells, the gateway, timeouts) and asks the core again. It is
written to be run again after a restart: every step first looks at what the book (rebuilt
from the streams) already holds. An order whose ``client_order_id`` exists is never sent
again; only an explicit new attempt (algo refused, repriced, expired before the bridge read
it, never received by IB) gets a new id, and only while the plan is still valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from executor.core import decide
from executor.core.decide import Decision, Facts
from executor.core.orders import manual_spec, order_spec, submit_order
from executor.core.plan import PlanRecord
from executor.core.risk import FreshQuote, quotes_of
from executor.core.sizing import (
    Money,
    is_multi_currency,
    size_buys,
    size_buys_by_currency,
    size_fx,
)
from executor.core.tracking import OrderTrack
from executor.metrics import ExecutorMetrics
from executor.service.book import Book
from executor.settings import ExecutorSettings
from shared.contracts.base import Reason, Side
from shared.contracts.order_commands import SubmitOrder
from shared.contracts.plans import PlanLeg
from shared.contracts.portfolio import PortfolioView
from shared.kit.logging import log_context
from shared.kit.portfolio import PortfolioUnavailableError
from shared.plans.view import PlanStatus
from shared.policy import ExecutionPolicy, OrderStyle
from shared.rebalancing.ids import ClientOrderId

log = logging.getLogger(__name__)

CASH_TOLERANCE = Decimal(5)
"""IB's account values trail the fills: the sells' proceeds count as arrived once the cash is
within this much (in the account's base currency) of cash-at-gate plus what the sells made;
it only absorbs rounding and the commissions not yet booked."""


class NoCashView(Exception):
    """The cash after the sells could not be read while the plan was valid."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.message)
        self.reason = reason


def money_of(view: PortfolioView) -> Money:
    """The view's cash per currency and rates, for sizing."""
    return Money(
        base=view.currency,
        cash=dict(view.cash_by_currency) or {view.currency: view.total_cash},
        rates=dict(view.exchange_rates),
        net_liquidation=view.net_liquidation,
    )


class PortfolioReader(Protocol):
    """Asks the bridge for a fresh view of one account (``shared.kit.portfolio``)."""

    async def get(
        self, account_id: str, symbols: tuple[str, ...] = (), correlation_id: str | None = None
    ) -> PortfolioView:
        """Return the view, or raise PortfolioUnavailableError."""
        ...


class RunnerPorts(Protocol):
    """What a run needs from the executor's service layer, and nothing more."""

    book: Book
    settings: ExecutorSettings
    portfolio: PortfolioReader
    metrics: ExecutorMetrics
    clock: Callable[[], datetime]

    def policy(self, account_id: str) -> ExecutionPolicy: ...

    def facts(self) -> Facts: ...

    async def execute(self, plan_id: str | None, decision: Decision) -> PlanRecord | None: ...

    async def send(self, command: SubmitOrder, reference_price: Decimal) -> bool: ...

    async def wait_gateway(self, until: datetime | None = None) -> bool: ...


class Runner:
    """Takes APPROVED or EXECUTING plans to PlanCompleted or PlanFailed."""

    def __init__(self, ports: RunnerPorts) -> None:
        self.ports = ports
        self.book = ports.book
        self.settings = ports.settings

    async def run(self, plan_id: str) -> None:
        """Run one plan to its end; an unexpected error fails it explicitly."""
        record = self.book.records[plan_id]
        with log_context(plan_id=plan_id, account_id=record.account_id):
            try:
                await self._run(plan_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("plan %s broke", plan_id)
                record = self.book.records[plan_id]
                reasons = [Reason(code="internal_error", message=f"the executor failed: {error!r}")]
                results = decide.results(record, self.book.attempts(plan_id), self._sized(plan_id))
                await self.ports.execute(
                    plan_id, decide.fail(record, reasons, results, self.ports.clock())
                )

    def _record(self, plan_id: str) -> PlanRecord:
        return self.book.records[plan_id]

    def _sized(self, plan_id: str) -> dict[int, Decimal]:
        return self.book.sized.setdefault(plan_id, {})

    async def _run(self, plan_id: str) -> None:
        started = time.monotonic()
        record = await self._start(plan_id)
        if record.status != PlanStatus.EXECUTING:
            return
        policy = self.ports.policy(record.account_id)
        await self._sells(record, policy)
        problems = await self._fx(record, policy)
        problems += await self._buys(record, policy)
        await self._finish(plan_id, problems, started)

    async def _start(self, plan_id: str) -> PlanRecord:
        """PlanExecutionStarted for an approved plan (a restarted one is executing already)."""
        record = self._record(plan_id)
        if record.status != PlanStatus.APPROVED:
            return record
        decision = decide.start(
            record,
            self.ports.policy(record.account_id),
            abort=self.book.run(plan_id).abort,
            has_orders=bool(self.book.plan_orders(plan_id)),
            facts=self.ports.facts(),
        )
        return await self.ports.execute(plan_id, decision) or record

    async def _sells(self, record: PlanRecord, policy: ExecutionPolicy) -> None:
        """Send every sell not sent yet, then wait for them to end."""
        sells = record.legs(Side.SELL)
        if not sells:
            return
        run = self.book.run(record.plan_id)
        quotes = await self._quotes_for_limits(record, policy, sells)
        for leg in sells:
            if run.abort:
                break
            if self.book.last_attempt(record.plan_id, leg.leg) is None:
                await self._send(record, leg, leg.quantity, 0, policy, quotes.get(leg.symbol))
        await self._settle(record, sells, policy, policy.sell_fill_timeout_s)

    async def _fx(self, record: PlanRecord, policy: ExecutionPolicy) -> list[Reason]:
        """Size the unsent FX legs from the cash there is after the sells, send them, wait."""
        fx_legs = record.fx_legs()
        run = self.book.run(record.plan_id)
        if not fx_legs or run.abort:
            return []
        plan = record.proposal
        unsent = [leg for leg in fx_legs if self.book.last_attempt(plan.plan_id, leg.leg) is None]
        quotes: dict[str, FreshQuote] = {}
        if unsent:
            assert plan.sizing is not None, "a live plan with FX legs carries its sizing terms"
            try:
                view = await self._view_after_sells(record)
            except NoCashView as error:
                return [] if run.abort else [error.reason]
            quotes = quotes_of(view)
            buys = [
                leg
                for leg in record.legs(Side.BUY)
                if self.book.last_attempt(plan.plan_id, leg.leg) is None
            ]
            sizes = size_fx(
                unsent,
                buys,
                plan.sizing,
                policy,
                money=money_of(view),
                quotes=quotes,
                margin_bps=Decimal(str(self.settings.buy_price_margin_bps)),
            )
            log.info("FX legs sized from cash %s: %s", dict(view.cash_by_currency), sizes)
            run.cash_before_fx = dict(view.cash_by_currency)
            self._sized(plan.plan_id).update(sizes)
        for leg in unsent:
            if run.abort:
                break
            quantity = self._sized(plan.plan_id).get(leg.leg, leg.quantity)
            if quantity > 0:
                await self._send(record, leg, quantity, 0, policy, quotes.get(leg.symbol))
        await self._settle(record, fx_legs, policy, policy.fill_timeout_s)
        return []

    async def _view_after_sells(self, record: PlanRecord) -> PortfolioView:
        """A fresh view once the sells' proceeds show in the cash (or ``cash_wait_s`` passed)."""
        plan = record.proposal
        symbols = tuple(sorted({leg.symbol for leg in plan.legs}))
        rates = plan.summary.exchange_rates
        sold = Decimal(0)
        for leg in record.legs(Side.SELL):  # the proceeds in the base, at the plan's rates
            rate = rates.get(leg.currency or "", Decimal(1)) / leg.price_magnifier
            tracks = self.book.attempts(plan.plan_id).get(leg.leg, [])
            sold += sum((t.value for t in tracks), Decimal(0)) * rate
        expected = (self.book.run(plan.plan_id).cash_at_gate or Decimal(0)) + sold
        deadline = time.monotonic() + self.settings.cash_wait_s
        while True:
            view = await self._cash_view(record, symbols)  # waits through an outage
            arrived = view.total_cash >= expected - CASH_TOLERANCE
            if sold <= 0 or arrived or time.monotonic() > deadline:
                return view
            await asyncio.sleep(0.25)

    async def _view_after_fx(self, record: PlanRecord) -> PortfolioView:
        """A fresh view once every filled FX leg's currency shows its cash (or the wait ends)."""
        plan = record.proposal
        symbols = tuple(sorted({leg.symbol for leg in plan.legs}))
        bought = self._fx_bought(record)
        before = self.book.run(plan.plan_id).cash_before_fx or {}
        deadline = time.monotonic() + self.settings.cash_wait_s
        while True:
            view = await self._cash_view(record, symbols)  # waits through an outage
            cash = view.cash_by_currency
            # IB's account values trail the fills: wait until each bought currency shows it
            # (after a restart, until it is no longer negative). Late values only shrink buys.
            arrived = all(
                cash.get(c, Decimal(0))
                >= (before[c] + amount - CASH_TOLERANCE if c in before else Decimal(0))
                for c, amount in bought.items()
            )
            if arrived or time.monotonic() > deadline:
                return view
            await asyncio.sleep(0.25)

    def _fx_bought(self, record: PlanRecord) -> dict[str, Decimal]:
        """How much of each currency the filled FX legs bought."""
        found: dict[str, Decimal] = {}
        attempts = self.book.attempts(record.plan_id)
        for leg in record.fx_legs():
            tracks = attempts.get(leg.leg, [])
            got = sum((t.filled if leg.side == Side.BUY else t.value for t in tracks), Decimal(0))
            if got > 0 and leg.funds_currency:
                found[leg.funds_currency] = found.get(leg.funds_currency, Decimal(0)) + got
        return found

    async def _buys(self, record: PlanRecord, policy: ExecutionPolicy) -> list[Reason]:
        """Size the unsent buys from the cash there is now, send them, wait for them to end."""
        buys = record.legs(Side.BUY)
        run = self.book.run(record.plan_id)
        if not buys or run.abort:
            return []
        unsent = [leg for leg in buys if self.book.last_attempt(record.plan_id, leg.leg) is None]
        # An operator's order is sent as asked: its quantity is never sized again.
        to_size = [leg for leg in unsent if leg.order is None]
        quotes: dict[str, FreshQuote] = {}
        if to_size:
            try:
                sizes, quotes = await self._size_buys(record, policy, to_size)
            except NoCashView as error:
                return [] if run.abort else [error.reason]
            self._sized(record.plan_id).update(sizes)
        for leg in unsent:
            if run.abort:
                break
            quantity = self._sized(record.plan_id).get(leg.leg, leg.quantity)
            if quantity > 0:
                await self._send(record, leg, quantity, 0, policy, quotes.get(leg.symbol))
        await self._settle(record, buys, policy, policy.fill_timeout_s)
        return []

    async def _quotes_for_limits(
        self, record: PlanRecord, policy: ExecutionPolicy, legs: list[PlanLeg]
    ) -> dict[str, FreshQuote]:
        if policy.order_type != OrderStyle.LIMIT:
            return {}
        with contextlib.suppress(PortfolioUnavailableError):
            view = await self.ports.portfolio.get(
                record.account_id, tuple(sorted({leg.symbol for leg in legs}))
            )
            return quotes_of(view)
        return {}

    async def _size_buys(
        self, record: PlanRecord, policy: ExecutionPolicy, unsent: list[PlanLeg]
    ) -> tuple[dict[int, Decimal], dict[str, FreshQuote]]:
        """Read the cash after the sells and size the unsent buys within it."""
        plan = record.proposal
        assert plan.sizing is not None, "a live plan with buys carries its sizing terms"
        if is_multi_currency(plan.legs, plan.sizing.base_currency):
            return await self._size_buys_by_currency(record, policy, unsent)
        symbols = tuple(sorted({leg.symbol for leg in plan.legs}))
        tracks = self.book.plan_orders(plan.plan_id)
        sold = sum((t.value for t in tracks if t.side == Side.SELL), Decimal(0))
        expected = (self.book.run(plan.plan_id).cash_at_gate or Decimal(0)) + sold
        deadline = time.monotonic() + self.settings.cash_wait_s
        while True:
            view = await self._cash_view(record, symbols)
            # A view that still lags the fills only makes the buys smaller, never larger.
            arrived = view.total_cash >= expected - CASH_TOLERANCE
            if sold <= 0 or arrived or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        quotes = quotes_of(view)
        sizing = size_buys(
            unsent,
            plan.sizing,
            policy,
            cash=view.total_cash,
            net_liquidation=view.net_liquidation,
            quotes=quotes,
            working=tracks,
            margin_bps=Decimal(str(self.settings.buy_price_margin_bps)),
        )
        log.info(
            "buys sized from cash %s (budget %s): %s",
            sizing.cash,
            sizing.budget,
            sizing.quantities,
        )
        return sizing.quantities, quotes

    async def _cash_view(self, record: PlanRecord, symbols: tuple[str, ...]) -> PortfolioView:
        """The account's view for sizing the buys, waited for through an outage.

        The sells have filled: failing here would leave their proceeds in cash. So a gateway
        that is down, a bridge that does not answer (killed, restarting) or a Redis that cannot
        be reached is waited for, while the plan is valid (``valid_until``) and not aborted;
        only then does the plan fail, with the last cause in the reason.
        """
        plan = record.proposal
        run = self.book.run(plan.plan_id)
        last: str | None = None
        while not run.abort:
            if not await self.ports.wait_gateway(plan.valid_until):
                last = last or "the gateway stayed disconnected from IB"
                break
            try:
                return await self.ports.portfolio.get(plan.account_id, symbols, plan.correlation_id)
            except PortfolioUnavailableError as error:
                last = f"{error.reason.message} ({error.code})"
            if self.ports.clock() >= plan.valid_until:
                break
            log.warning("no view of the cash to size the buys yet, trying again: %s", last)
            await asyncio.sleep(self.settings.cash_view_retry_s)
        until = plan.valid_until.strftime("%Y-%m-%d %H:%M:%S UTC")
        raise NoCashView(
            Reason(
                code="no_cash_view",
                message=f"the buys were not sent: no view of the cash after the sells until the "
                f"plan's validity ended ({until}); last: {last or 'plan aborted'}. The sells' "
                "proceeds are in cash: check `rebalancer status`, then rebalance again",
            )
        )

    async def _size_buys_by_currency(
        self, record: PlanRecord, policy: ExecutionPolicy, unsent: list[PlanLeg]
    ) -> tuple[dict[int, Decimal], dict[str, FreshQuote]]:
        """Read each currency's cash after the sells and the FX legs; size the buys in it."""
        plan = record.proposal
        assert plan.sizing is not None
        view = (
            await self._view_after_fx(record)
            if record.fx_legs()
            else await self._view_after_sells(record)
        )
        quotes = quotes_of(view)
        sizing = size_buys_by_currency(
            unsent,
            plan.sizing,
            policy,
            money=money_of(view),
            quotes=quotes,
            working=self.book.plan_orders(plan.plan_id),
            margin_bps=Decimal(str(self.settings.buy_price_margin_bps)),
        )
        log.info(
            "buys sized from cash %s (budget %s %s): %s",
            dict(view.cash_by_currency),
            sizing.budget,
            view.currency,
            sizing.quantities,
        )
        return sizing.quantities, quotes

    async def _send(
        self,
        record: PlanRecord,
        leg: PlanLeg,
        quantity: Decimal,
        attempt: int,
        policy: ExecutionPolicy,
        quote: FreshQuote | None,
        *,
        fallback: bool = False,
        reprice: bool = False,
    ) -> bool:
        """Publish one SubmitOrder (once per client order id); return whether it was sent."""
        plan = record.proposal
        coid = str(ClientOrderId(plan.plan_id, leg.leg, attempt))
        if coid in self.book.orders:
            return False
        if attempt > 0 and self.ports.clock() >= plan.valid_until:
            log.warning("no new attempt for %s: plan expired", coid)
            return False
        await self.ports.wait_gateway()
        if leg.order is not None:
            spec = manual_spec(leg.order, policy, fallback=fallback)
        else:
            spec = order_spec(
                policy,
                leg.side,
                quote.bid if quote else None,
                quote.ask if quote else None,
                fallback=fallback,
                reprice_bps=Decimal(str(self.settings.reprice_bps)) if reprice else Decimal(0),
                fx=leg.sec_type == "CASH",
            )
        facts = self.ports.facts()
        command = submit_order(plan, leg, quantity, attempt, spec, facts.now, facts.order_valid_for)
        return await self.ports.send(command, leg.reference_price)

    def _pending(self, record: PlanRecord, legs: list[PlanLeg]) -> list[OrderTrack]:
        found = (self.book.last_attempt(record.plan_id, leg.leg) for leg in legs)
        return [t for t in found if t is not None and not t.final]

    async def _settle(
        self, record: PlanRecord, legs: list[PlanLeg], policy: ExecutionPolicy, timeout_s: float
    ) -> None:
        """Wait for the legs' orders to end; apply fallback, the fill-timeout policy and aborts."""
        run = self.book.run(record.plan_id)
        deadline = time.monotonic() + timeout_s
        repriced = False
        while True:
            await self._retry_refused(record, legs, policy)
            pending = self._pending(record, legs)
            if not pending:
                return
            if run.abort:
                await self._cancel(record, pending, "plan aborted")
                return
            if not self.book.gateway_ready:
                paused = time.monotonic()
                await self.ports.wait_gateway()
                deadline += time.monotonic() - paused  # no fill timeout while paused
                continue
            if time.monotonic() >= deadline:
                if policy.on_fill_timeout == "leave":
                    log.warning("fill timeout: %d orders left working", len(pending))
                    return
                if policy.on_fill_timeout == "reprice" and not repriced:
                    repriced = True
                    await self._reprice(record, pending, policy)
                    deadline = time.monotonic() + timeout_s
                    continue
                await self._cancel(record, pending, "fill timeout")
                return
            run.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    run.changed.wait(), max(0.01, min(1.0, deadline - time.monotonic()))
                )

    async def _retry_refused(
        self, record: PlanRecord, legs: list[PlanLeg], policy: ExecutionPolicy
    ) -> None:
        """New attempts the core asks for (an algo IB refused, an order read too late, an order
        IB never received)."""
        if self.book.run(record.plan_id).abort:
            return
        last = {
            leg.leg: track
            for leg in legs
            if (track := self.book.last_attempt(record.plan_id, leg.leg)) is not None
        }
        for retry in decide.retries(last, policy):
            log.warning(
                "%s: sending attempt %d (%s)",
                last[retry.leg].client_order_id,
                retry.attempt,
                retry.why,
            )
            await self._send(
                record, record.leg(retry.leg), retry.quantity, retry.attempt, policy, None,
                fallback=retry.fallback,
            )  # fmt: skip

    async def _cancel(self, record: PlanRecord, pending: list[OrderTrack], why: str) -> None:
        facts = self.ports.facts()
        commands = tuple(
            decide.cancel_order(record, track, why, facts)
            for track in pending
            if not track.cancel_requested
        )
        await self.ports.execute(record.plan_id, Decision(commands=commands))
        run = self.book.run(record.plan_id)
        ids = [t.client_order_id for t in pending]
        deadline = time.monotonic() + self.settings.cancel_wait_s
        while time.monotonic() < deadline and any(not self.book.orders[i].final for i in ids):
            run.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.changed.wait(), 0.5)

    async def _reprice(
        self, record: PlanRecord, pending: list[OrderTrack], policy: ExecutionPolicy
    ) -> None:
        """Cancel each late order, then send its remaining quantity once more, repriced."""
        await self._cancel(record, pending, "fill timeout: repricing")
        quotes: dict[str, FreshQuote] = {}
        with contextlib.suppress(PortfolioUnavailableError):
            view = await self.ports.portfolio.get(
                record.account_id, tuple(sorted({t.symbol for t in pending}))
            )
            quotes = quotes_of(view)
        for stale in pending:
            track = self.book.orders[stale.client_order_id]
            if track.final and track.left > 0:
                await self._send(
                    record, record.leg(track.leg), track.left, track.attempt + 1, policy,
                    quotes.get(track.symbol), reprice=True,
                )  # fmt: skip

    async def _await_commissions(self, plan_id: str) -> None:
        """Commission reports follow their fills; wait a little for them (then count 0)."""
        run = self.book.run(plan_id)
        deadline = time.monotonic() + self.settings.commission_wait_s
        while time.monotonic() < deadline and any(
            t.commissions_missing for t in self.book.plan_orders(plan_id)
        ):
            run.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.changed.wait(), 0.25)

    async def _finish(self, plan_id: str, problems: list[Reason], started: float) -> None:
        await self._await_commissions(plan_id)
        record = self._record(plan_id)
        tracks = self.book.plan_orders(plan_id)
        fills = [t.last_fill_at for t in tracks if t.last_fill_at is not None]
        if fills:
            requested = self.book.triggered_at(record.proposal.correlation_id)
            begun = requested or record.proposal.ts_event
            self.ports.metrics.trigger_to_fill.observe(
                max(0.0, (max(fills) - begun).total_seconds())
            )
        decision = decide.finish(
            record,
            self.book.attempts(plan_id),
            self._sized(plan_id),
            abort=self.book.run(plan_id).abort,
            problems=problems,
            facts=self.ports.facts(),
        )
        await self.ports.execute(plan_id, decision)
        self.ports.metrics.duration.observe(time.monotonic() - started)
