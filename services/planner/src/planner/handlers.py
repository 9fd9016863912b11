"""``on_target_allocation_set``: one plan (or rejection) per account of an allocation.

decode (done by the kit) -> resolve targets -> ask the bridge -> core -> publish. Nothing
is kept between messages, so replicas can share the consumer group; the plan id is derived
from the allocation and the account, so a redelivered allocation gives the same plan id.
A business "no" (bad targets, stale data, unknown account, bridge silent) is a
PlanRejected; only a failure to publish raises (and the kit retries the message).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from planner import translate
from planner.adapters import PortfolioSource
from planner.core import Plan, Rejection, plan_order, plan_rebalance, resolve_targets
from planner.metrics import PlannerMetrics
from planner.policies import AccountPolicies
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import Message, Reason
from shared.kit.logging import log_context
from shared.kit.portfolio import PortfolioUnavailableError
from shared.rebalancing.ids import plan_id_for

log = logging.getLogger(__name__)

Publish = Callable[[Message], Awaitable[None]]
Clock = Callable[[], datetime]


class Planner:
    """The planner's message handler and its collaborators."""

    def __init__(
        self,
        portfolio: PortfolioSource,
        policies: AccountPolicies,
        publish: Publish,
        metrics: PlannerMetrics,
        clock: Clock,
        portfolio_wait_s: float = 10.0,
    ) -> None:
        self._portfolio = portfolio
        self._portfolio_wait_s = portfolio_wait_s
        self._policies = policies
        self._publish = publish
        self._metrics = metrics
        self._clock = clock

    async def on_target_allocation_set(self, event: TargetAllocationSet) -> None:
        """Plan every account the allocation names (the notifier names one), concurrently."""
        started = time.perf_counter()
        accounts = tuple(dict.fromkeys(event.account_ids))
        if not accounts:
            await self._reject(event, event.group or "", (translate.no_accounts(event),), started)
            return
        await asyncio.gather(*(self._plan_account(event, a, started) for a in accounts))

    async def _plan_account(
        self, event: TargetAllocationSet, account_id: str, started: float
    ) -> None:
        with log_context(
            account_id=account_id, plan_id=plan_id_for(event.allocation_id, account_id)
        ):
            policy = self._policies.policy(account_id)
            order = event.order
            targets = resolve_targets(event.targets, policy) if order is None else None
            if isinstance(targets, Rejection):
                await self._reject(event, account_id, targets.reasons, started)
                return
            symbols = targets.symbols if targets is not None else (order.symbol,) if order else ()
            try:
                reply = await self._portfolio.get(account_id, symbols, event.correlation_id)
            except PortfolioUnavailableError as error:
                reason = translate.unavailable(account_id, error.reason, self._portfolio_wait_s)
                await self._reject(event, account_id, (reason,), started)
                return
            now = self._clock()
            result: Plan | Rejection
            try:
                if order is not None:
                    result = plan_order(reply, order, policy, now)
                else:
                    assert targets is not None
                    result = plan_rebalance(reply, targets, policy, now)
            except Exception:
                # A bug, not a business "no": say so plainly rather than retry it forever.
                log.exception("planning %s failed", account_id)
                result = Rejection((translate.internal_error(),))
            if isinstance(result, Rejection):
                await self._reject(event, account_id, result.reasons, started)
                return
            message = translate.proposed(event, account_id, result, reply, policy, now)
            await self._publish(message)
            self._metrics.plans.labels(account_id, "proposed").inc()
            self._metrics.legs.observe(len(message.legs))
            self._metrics.drift.labels(account_id).set(float(result.portfolio_drift_pct) / 100)
            self._metrics.set_target_weights(
                account_id, {row.symbol: float(row.target_pct) / 100 for row in message.drift}
            )
            self._metrics.latency.observe(time.perf_counter() - started)
            log.info(
                "proposed plan %s for %s: %d legs, buy %s, sell %s",
                message.plan_id,
                account_id,
                len(message.legs),
                message.summary.gross_buy,
                message.summary.gross_sell,
            )

    async def _reject(
        self,
        event: TargetAllocationSet,
        account_id: str,
        reasons: tuple[Reason, ...],
        started: float,
    ) -> None:
        await self._publish(translate.rejected(event, account_id, reasons, self._clock()))
        self._metrics.plans.labels(account_id, "rejected").inc()
        for reason in reasons:
            self._metrics.rejections.labels(reason.code).inc()
        self._metrics.latency.observe(time.perf_counter() - started)
        log.info(
            "rejected allocation %s for %s: %s",
            event.allocation_id,
            account_id,
            "; ".join(r.code for r in reasons),
        )
