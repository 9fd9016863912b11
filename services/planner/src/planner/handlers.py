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
from planner.adapters import PortfolioNotAnswered, PortfolioSource
from planner.core import Rejection, plan_rebalance, resolve_targets
from planner.metrics import PlannerMetrics
from planner.policies import AccountPolicies
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import Message, Reason
from shared.contracts.portfolio import PortfolioUnavailable
from shared.kit.logging import log_context
from shared.rebalancing.ids import plan_id_for

log = logging.getLogger(__name__)

Publish = Callable[[Message], Awaitable[None]]
Clock = Callable[[], datetime]

UNAVAILABLE = {
    "unknown_account": "The gateway-bridge does not know account {account}: {reason} Check the "
    "account id, and that the IB login the bridge uses manages it.",
    "gateway_disconnected": "The gateway-bridge is not connected to IB, so {account} cannot be "
    "planned now: {reason} Retry once it is connected.",
    "not_reconciled": "The gateway-bridge has not finished reconciling {account} with IB: "
    "{reason} Retry in a moment.",
    "expired": "The portfolio request for {account} expired before the bridge handled it: "
    "{reason} Retry; if it repeats, the bridge is overloaded.",
    "error": "The gateway-bridge could not read {account}: {reason} Check its logs.",
}


class Planner:
    """The planner's message handler and its collaborators."""

    def __init__(
        self,
        portfolio: PortfolioSource,
        policies: AccountPolicies,
        publish: Publish,
        metrics: PlannerMetrics,
        clock: Clock,
    ) -> None:
        self._portfolio = portfolio
        self._policies = policies
        self._publish = publish
        self._metrics = metrics
        self._clock = clock

    async def on_target_allocation_set(self, event: TargetAllocationSet) -> None:
        """Plan every account the allocation names, concurrently."""
        started = time.perf_counter()
        accounts = self._policies.accounts_of(event)
        if not accounts:
            who = f"group {event.group!r}" if event.group else "no account and no group"
            await self._reject(
                event,
                event.group or "",
                (
                    Reason(
                        code="no_accounts",
                        message=f"The allocation names {who}, so there is no account to plan "
                        "for; name accounts, or a group listed in the accounts file.",
                        field="account_ids",
                    ),
                ),
                started,
            )
            return
        await asyncio.gather(*(self._plan_account(event, a, started) for a in accounts))

    async def _plan_account(
        self, event: TargetAllocationSet, account_id: str, started: float
    ) -> None:
        with log_context(
            account_id=account_id, plan_id=plan_id_for(event.allocation_id, account_id)
        ):
            policy = self._policies.policy(account_id)
            targets = resolve_targets(event.targets, policy)
            if isinstance(targets, Rejection):
                await self._reject(event, account_id, targets.reasons, started)
                return
            try:
                reply = await self._portfolio.get_portfolio(
                    account_id, targets.symbols, event.correlation_id, self._clock()
                )
            except PortfolioNotAnswered as error:
                await self._reject(
                    event, account_id, (Reason(code=error.code, message=error.message),), started
                )
                return
            if isinstance(reply, PortfolioUnavailable) or reply.account_id != account_id:
                await self._reject(event, account_id, (_unavailable(account_id, reply),), started)
                return
            now = self._clock()
            try:
                result = plan_rebalance(reply, targets, policy, now)
            except Exception:
                # A bug, not a business "no": say so plainly rather than retry it forever.
                log.exception("planning %s failed", account_id)
                result = Rejection(
                    (
                        Reason(
                            code="internal_error",
                            message="The planner failed on this allocation (a bug, logged with "
                            "its trace); nothing was planned. Report it with the allocation id.",
                        ),
                    )
                )
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


def _unavailable(account_id: str, reply: Message) -> Reason:
    if not isinstance(reply, PortfolioUnavailable):
        return Reason(
            code="portfolio_unavailable",
            message=f"The gateway-bridge answered for account {getattr(reply, 'account_id', '?')} "
            f"instead of {account_id}; nothing was planned. Check the bridge.",
        )
    template = UNAVAILABLE.get(reply.code, UNAVAILABLE["error"])
    reason = reply.reason.strip()
    if reason and not reason.endswith("."):
        reason += "."
    code = "unknown_account" if reply.code == "unknown_account" else "portfolio_unavailable"
    return Reason(
        code=code, message=template.format(account=account_id, reason=reason), field="account_id"
    )
