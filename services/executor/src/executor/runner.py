"""Execute one approved plan: sells, wait for their fills, size the buys from the cash, buys.

``run_plan`` is written to be run again after a restart: every step first looks at what the
book (rebuilt from the streams) already holds. An order whose ``client_order_id`` exists is
never sent again; only an explicit new attempt (algo refused, repriced, expired before the
bridge read it) gets a new id, and only while the plan is still valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from decimal import Decimal

from executor import reports
from executor.adapters import PortfolioError
from executor.book import PlanRecord, policy_decimal, policy_flag
from executor.core.orders import ALGO_TYPES, client_order_id, order_spec
from executor.core.risk import FreshQuote
from executor.core.sizing import BuyIntent, size_buys
from executor.core.state import PlanStatus, PlanTrigger
from executor.core.tracking import OrderTrack, leg_status, needs_new_attempt
from executor.engine import Engine, quotes_of
from shared.contracts.base import Reason, Side
from shared.contracts.order_commands import CancelAllOrders, OrderType, SubmitOrder
from shared.contracts.plans import LegResult, PlanCompleted, PlanExecutionStarted, PlanLeg
from shared.kit.logging import log_context
from shared.policy import ExecutionPolicy, OrderStyle

log = logging.getLogger(__name__)
BPS = Decimal(10_000)


class Runner:
    """Runs approved plans for an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings

    async def run_plan(self, record: PlanRecord) -> None:
        """Take an APPROVED or EXECUTING plan to PlanCompleted or PlanFailed."""
        with log_context(plan_id=record.plan_id, account_id=record.account_id):
            try:
                await self._run(record)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("plan %s broke", record.plan_id)
                await self.engine.fail(
                    record,
                    [Reason(code="internal_error", message=f"the executor failed: {error!r}")],
                    self.results(record),
                )

    # ------------------------------------------------------------------ steps

    async def _run(self, record: PlanRecord) -> None:
        engine, plan = self.engine, record.proposal
        policy = engine.policy(plan.account_id)
        started = time.monotonic()
        if record.status == PlanStatus.APPROVED:
            if record.abort:
                await engine.fail(record, [Reason(code="aborted", message=record.abort)], [])
                return
            record.move(PlanTrigger.START)
            await engine.publish(
                PlanExecutionStarted(
                    source=engine.source,
                    correlation_id=plan.correlation_id,
                    plan_id=plan.plan_id,
                    account_id=plan.account_id,
                    leg_count=len(plan.legs),
                )
            )
            await engine.save_row(record)
            if policy.cancel_open_orders_first and not record.tracks:
                await engine.publish(
                    CancelAllOrders(
                        source=engine.source,
                        correlation_id=plan.correlation_id,
                        account_ids=(plan.account_id,),
                        reason=f"plan {plan.plan_id} cancels open orders first",
                        valid_until=engine.clock() + timedelta(seconds=self.settings.order_valid_s),
                    )
                )
        sells = record.legs(Side.SELL)
        if sells:
            quotes = await self._quotes_for_limits(record, policy, sells)
            for leg in sells:
                if record.abort:
                    break
                if not record.attempts(leg.leg):
                    await self._send(record, leg, leg.quantity, 0, policy, quotes.get(leg.symbol))
            await self._settle(record, sells, policy, policy.sell_fill_timeout_s)
        buys = record.legs(Side.BUY)
        if buys and not record.abort:
            unsent = [leg for leg in buys if not record.attempts(leg.leg)]
            quotes = {}
            if unsent:
                try:
                    sizes, quotes = await self._size_buys(record, policy, unsent)
                except PortfolioError as error:
                    await self._finish(
                        record,
                        [Reason(code="no_cash_view", message=f"cannot read the cash: {error}")],
                    )
                    return
                record.sized.update(sizes)
            for leg in unsent:
                if record.abort:
                    break
                quantity = record.sized.get(leg.leg, leg.quantity)
                if quantity > 0:
                    await self._send(record, leg, quantity, 0, policy, quotes.get(leg.symbol))
            await self._settle(record, buys, policy, policy.fill_timeout_s)
        await self._finish(record, [])
        engine.metrics.duration.observe(time.monotonic() - started)

    async def _quotes_for_limits(
        self, record: PlanRecord, policy: ExecutionPolicy, legs: list[PlanLeg]
    ) -> dict[str, FreshQuote]:
        if policy.order_type != OrderStyle.LIMIT:
            return {}
        with contextlib.suppress(PortfolioError):
            view = await self.engine.portfolio.view(
                record.account_id, tuple(sorted({leg.symbol for leg in legs}))
            )
            return quotes_of(view)
        return {}

    async def _size_buys(
        self, record: PlanRecord, policy: ExecutionPolicy, unsent: list[PlanLeg]
    ) -> tuple[dict[int, Decimal], dict[str, FreshQuote]]:
        """Read the cash after the sells and size the unsent buys within it."""
        plan = record.proposal
        symbols = tuple(sorted({leg.symbol for leg in plan.legs}))
        sold = sum((t.value for t in record.tracks.values() if t.side == Side.SELL), Decimal(0))
        expected = (record.cash_at_gate or Decimal(0)) + sold
        deadline = time.monotonic() + self.settings.cash_wait_s
        while True:
            await self.engine.wait_gateway()
            view = await self.engine.portfolio.view(plan.account_id, symbols)
            # IB's account values trail the fills by a moment: wait (briefly) for the sells'
            # proceeds to show; a view that still lags only makes the buys smaller.
            if sold <= 0 or view.total_cash >= expected - Decimal(5) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        quotes = quotes_of(view)
        nlv = view.net_liquidation
        reserve = nlv * policy_decimal(plan, "cash_buffer_pct", Decimal(0)) / 100
        if policy_flag(plan, "allow_leverage"):
            reserve -= nlv * (policy_decimal(plan, "max_leverage", Decimal(1)) - 1)
        margin = 1 + Decimal(str(self.settings.buy_price_margin_bps)) / BPS
        outstanding = Decimal(0)
        for track in record.tracks.values():
            if track.side == Side.BUY and not track.final:
                q = quotes.get(track.symbol)
                price = (q.ask or q.mid) if q else None
                outstanding += (track.quantity - track.filled) * (price or Decimal(0)) * margin
        budget = view.total_cash - reserve - outstanding
        fractional = policy_flag(plan, "fractional")
        increment = (
            policy_decimal(plan, "quantity_increment", Decimal("0.0001"))
            if fractional
            else Decimal(1)
        )
        intents = []
        for leg in unsent:
            q = quotes.get(leg.symbol)
            spec = order_spec(policy, leg.side, q.bid if q else None, q.ask if q else None)
            price = spec.limit_price or (q.ask if q and q.ask else None) or leg.reference_price
            step = increment if leg.quantity % 1 != 0 or fractional else Decimal(1)
            intents.append(BuyIntent(leg.leg, leg.quantity, price * margin, step))
        sizes = size_buys(
            intents,
            budget,
            per_share=policy_decimal(plan, "commission_per_share", Decimal("0.005")),
            minimum=policy_decimal(plan, "commission_minimum", Decimal(1)),
        )
        log.info("buys sized from cash %s (budget %s): %s", view.total_cash, budget, sizes)
        return sizes, quotes

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
        engine, plan = self.engine, record.proposal
        coid = client_order_id(plan.plan_id, leg.leg, attempt)
        if coid in engine.book.orders:
            return False
        if attempt > 0 and engine.clock() >= plan.valid_until:
            log.warning("no new attempt for %s: plan expired", coid)
            return False
        await engine.wait_gateway()
        spec = order_spec(
            policy,
            leg.side,
            quote.bid if quote else None,
            quote.ask if quote else None,
            fallback=fallback,
            reprice_bps=Decimal(str(self.settings.reprice_bps)) if reprice else Decimal(0),
        )
        track = OrderTrack(
            coid, leg.leg, attempt, leg.symbol, leg.side, quantity, spec.order_type.value
        )
        engine.book.add_track(track)
        now = engine.clock()
        engine.book.count_order(plan.account_id, now.date(), quantity * leg.reference_price)
        await engine.publish(
            SubmitOrder(
                source=engine.source,
                correlation_id=plan.correlation_id,
                client_order_id=coid,
                plan_id=plan.plan_id,
                account_id=plan.account_id,
                symbol=leg.symbol,
                con_id=leg.con_id,
                side=leg.side,
                quantity=quantity,
                order_type=spec.order_type,
                limit_price=spec.limit_price,
                adaptive_priority=spec.adaptive_priority,
                outside_rth=spec.outside_rth,
                valid_until=now + timedelta(seconds=self.settings.order_valid_s),
            )
        )
        engine.metrics.orders.labels(plan.account_id).inc()
        return True

    async def _settle(
        self, record: PlanRecord, legs: list[PlanLeg], policy: ExecutionPolicy, timeout_s: float
    ) -> None:
        """Wait for the legs' orders to end; apply fallback, the fill-timeout policy and aborts."""
        engine = self.engine
        deadline = time.monotonic() + timeout_s
        repriced = False
        while True:
            await self._retry_refused(record, legs, policy)
            pending = [t for leg in legs if (t := self._last(record, leg)) and not t.final]
            if not pending:
                return
            if record.abort:
                await self._cancel(record, pending, "plan aborted")
                return
            if not engine.book.gateway_ready:
                paused = time.monotonic()
                await engine.wait_gateway()
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
            record.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    record.changed.wait(), max(0.01, min(1.0, deadline - time.monotonic()))
                )

    def _last(self, record: PlanRecord, leg: PlanLeg) -> OrderTrack | None:
        attempts = record.attempts(leg.leg)
        return attempts[-1] if attempts else None

    async def _retry_refused(
        self, record: PlanRecord, legs: list[PlanLeg], policy: ExecutionPolicy
    ) -> None:
        """New attempt for an algo IB refused (plain market), an order that expired unread, or
        an order IB confirmed it never received (not found after the bridge reconciled)."""
        if record.abort:
            return
        for leg in legs:
            track = self._last(record, leg)
            if track is not None and needs_new_attempt(track):
                log.warning(
                    "%s was never received by IB (%s); sending attempt %d",
                    track.client_order_id,
                    track.reason,
                    track.attempt + 1,
                )
                await self._send(record, leg, track.quantity, track.attempt + 1, policy, None)
                continue
            if track is None or track.status != "rejected":
                continue
            left = track.quantity
            algo_refused = OrderType(track.order_type) in ALGO_TYPES and policy.fallback_to_market
            expired_unread = track.field == "valid_until"
            if algo_refused or expired_unread:
                await self._send(
                    record, leg, left, track.attempt + 1, policy, None, fallback=algo_refused
                )

    async def _cancel(self, record: PlanRecord, pending: list[OrderTrack], why: str) -> None:
        for track in pending:
            if not track.cancel_requested:
                await self.engine.cancel_order(record, track.client_order_id, why)
        deadline = time.monotonic() + self.settings.cancel_wait_s
        while any(not t.final for t in pending) and time.monotonic() < deadline:
            record.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.changed.wait(), 0.5)

    async def _reprice(
        self, record: PlanRecord, pending: list[OrderTrack], policy: ExecutionPolicy
    ) -> None:
        """Cancel each late order, then send its remaining quantity once more, repriced."""
        await self._cancel(record, pending, "fill timeout: repricing")
        legs = {leg.leg: leg for leg in record.proposal.legs}
        quotes: dict[str, FreshQuote] = {}
        with contextlib.suppress(PortfolioError):
            view = await self.engine.portfolio.view(
                record.account_id, tuple(sorted({t.symbol for t in pending}))
            )
            quotes = quotes_of(view)
        for track in pending:
            left = track.quantity - track.filled
            if track.final and left > 0:
                await self._send(
                    record,
                    legs[track.leg],
                    left,
                    track.attempt + 1,
                    policy,
                    quotes.get(track.symbol),
                    reprice=True,
                )

    # ------------------------------------------------------------------ the end

    def results(self, record: PlanRecord) -> list[LegResult]:
        """One LegResult per leg, over all its attempts."""
        results = []
        for leg in record.proposal.legs:
            tracks = record.attempts(leg.leg)
            filled = sum((t.filled for t in tracks), Decimal(0))
            value = sum((t.value for t in tracks), Decimal(0))
            ordered = record.sized.get(leg.leg, tracks[0].quantity if tracks else Decimal(0))
            results.append(
                LegResult(
                    leg=leg.leg,
                    client_order_id=tracks[-1].client_order_id
                    if tracks
                    else client_order_id(record.plan_id, leg.leg, 0),
                    symbol=leg.symbol,
                    side=leg.side,
                    ordered_quantity=ordered,
                    filled_quantity=filled,
                    average_price=(value / filled) if filled > 0 else None,
                    commission=sum((t.commission for t in tracks), Decimal(0)),
                    status=leg_status(ordered, tracks),
                )
            )
        return results

    async def _await_commissions(self, record: PlanRecord) -> None:
        """Commission reports follow their fills; wait a little for them (then count 0)."""
        deadline = time.monotonic() + self.settings.commission_wait_s

        def missing() -> bool:
            return any(set(t.fills) - set(t.commissions) for t in record.tracks.values())

        while missing() and time.monotonic() < deadline:
            record.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.changed.wait(), 0.25)

    async def _finish(self, record: PlanRecord, reasons: list[Reason]) -> None:
        engine, plan = self.engine, record.proposal
        await self._await_commissions(record)
        legs = self.results(record)
        if record.abort:
            reasons = [Reason(code="aborted", message=record.abort), *reasons]
        for leg in legs:
            if leg.status in ("rejected", "cancelled", "unknown", "partially_filled"):
                track = self._last(record, next(x for x in plan.legs if x.leg == leg.leg))
                why = f": {track.reason}" if track and track.reason else ""
                reasons.append(
                    Reason(
                        code=f"leg_{leg.status}",
                        symbol=leg.symbol,
                        message=f"{leg.side.value} {leg.symbol} {leg.status} "
                        f"({leg.filled_quantity}/{leg.ordered_quantity}){why}",
                    )
                )
        if any(t.filled > 0 for t in record.tracks.values()):
            record.reports.append(
                str(reports.write_post_trade(engine.settings.reports_dir, plan, legs))
            )
            last_fill = max(
                (t.last_fill_at for t in record.tracks.values() if t.last_fill_at is not None),
                default=engine.clock(),
            )
            started = engine.book.triggered_at(plan.correlation_id) or plan.ts_event
            engine.metrics.trigger_to_fill.observe(max(0.0, (last_fill - started).total_seconds()))
        if reasons:
            await engine.fail(record, reasons, legs)
            return
        record.move(PlanTrigger.COMPLETE)
        record.finished_at = engine.clock()
        engine.metrics.active.dec()
        engine.metrics.outcomes.labels(plan.account_id, "completed").inc()
        engine.record_summary(record, "completed", legs)
        await engine.publish(
            PlanCompleted(
                source=engine.source,
                correlation_id=plan.correlation_id,
                plan_id=plan.plan_id,
                account_id=plan.account_id,
                legs=tuple(legs),
                report_path=next((p for p in record.reports if "_post_" in p), None),
            )
        )
        await engine.save_row(record)
