"""The notifier's consumer of ``commands.triggers.v1``: targets per account, or a clear no.

For each account a RequestRebalance names (or each account of its group), the targets are
the trigger's inline ones if given, else the account's configured source. Each account gets
its own TargetAllocationSet (its own plan, policy and failure), with a deterministic
``allocation_id`` so a redelivered request is recognised. A source that fails gives a
SendAlert and a PlanRejected (stage ``planning``) and never a TargetAllocationSet.
"""

from __future__ import annotations

import hashlib
import logging

import redis.asyncio as aioredis

from notifier.core.allocation_api import SourcedTargets
from notifier.core.errors import Refusal
from notifier.core.targets import checked_or_refuse
from notifier.metrics import NotifierMetrics
from notifier.sources import AllocationSources
from shared.accounts import Account, Accounts
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import Reason, utc_now
from shared.contracts.plans import PlanRejected
from shared.contracts.triggers import RequestRebalance
from shared.kit.alerts import send_alert
from shared.kit.logging import log_context
from shared.kit.service import Service

log = logging.getLogger(__name__)

CLAIM_PREFIX = "notifier:allocation:"
CLAIM_TTL_S = 300  # a resolution in progress; longer than timeout x retries of a source
DONE_TTL_S = 7 * 24 * 3600


def allocation_id_of(request_id: str, account_id: str) -> str:
    """Return the deterministic allocation id of one account of one request."""
    return hashlib.sha256(f"{request_id}|{account_id}".encode()).hexdigest()[:32]


class TriggerResolver:
    """Handle RequestRebalance: resolve, validate and publish targets per account."""

    def __init__(
        self,
        service: Service,
        client: aioredis.Redis,
        accounts: Accounts,
        sources: AllocationSources,
        metrics: NotifierMetrics,
    ) -> None:
        self._service = service
        self._client = client
        self._accounts = accounts
        self._sources = sources
        self._metrics = metrics

    async def on_request_rebalance(self, request: RequestRebalance) -> None:
        """Resolve every account of ``request``; idempotent on redelivery."""
        now = utc_now()
        correlation = request.correlation_id or request.message_id
        if request.is_expired(now):
            self._metrics.requests.labels("expired").inc()
            reason = Reason(
                code="trigger_expired",
                message=f"the rebalance request expired at {request.valid_until.isoformat()} "
                "before it could be handled; send a new trigger",
            )
            for account_id in request.account_ids or (request.group or "?",):
                await self._reject(request, account_id, None, reason)
            return
        account_ids, unknown = self._accounts_of(request)
        for account_id in unknown:
            await self._reject(
                request,
                account_id,
                None,
                Reason(
                    code="unknown_account",
                    message=f"account {account_id!r} is not in the accounts file; add it or "
                    "fix the trigger",
                ),
            )
        if not account_ids and not unknown:
            await self._reject(
                request,
                request.group or "?",
                None,
                Reason(
                    code="unknown_group",
                    message=f"group {request.group!r} has no account in the accounts file",
                ),
            )
        url_cache: dict[str, tuple[str, SourcedTargets] | Refusal] = {}
        for account in account_ids:
            with log_context(account_id=account.id, correlation_id=correlation):
                await self._resolve_one(request, account, url_cache)

    def _accounts_of(self, request: RequestRebalance) -> tuple[list[Account], list[str]]:
        if request.account_ids:
            found = [a for i in request.account_ids if (a := self._accounts.get(i))]
            unknown = [i for i in request.account_ids if i not in self._accounts]
            return found, unknown
        if request.group:
            return self._accounts.group(request.group), []
        return [], []

    async def _resolve_one(
        self,
        request: RequestRebalance,
        account: Account,
        url_cache: dict[str, tuple[str, SourcedTargets] | Refusal],
    ) -> None:
        allocation_id = allocation_id_of(request.message_id, account.id)
        claim = CLAIM_PREFIX + allocation_id
        # Check-before-act: a redelivered request (or a reclaim racing a slow source) finds
        # the claim and does nothing; a crash mid-way lets the claim expire for a retry.
        if not await self._client.set(claim, b"pending", nx=True, ex=CLAIM_TTL_S):
            self._metrics.requests.labels("duplicate").inc()
            log.info("allocation %s already handled; skipping the redelivery", allocation_id)
            return
        try:
            outcome = await self._targets_for(request, account, url_cache)
        except Exception:
            await self._client.delete(claim)
            raise
        if isinstance(outcome, Refusal):
            self._metrics.allocations.labels(self._kind(request, account), "rejected").inc()
            self._metrics.requests.labels("rejected").inc()
            await self._reject(
                request,
                account.id,
                allocation_id,
                Reason(code=outcome.code, message=outcome.message),
            )
            await self._client.set(claim, b"rejected", ex=DONE_TTL_S)
            return
        kind, sourced = outcome
        event = TargetAllocationSet(
            source="notifier",
            correlation_id=request.correlation_id or request.message_id,
            allocation_id=allocation_id,
            request_id=request.message_id,
            account_ids=(account.id,),
            group=request.group,
            targets=sourced.targets,
            execution=request.execution,
            source_kind=kind,  # type: ignore[arg-type]
            strategy_name=sourced.strategy_name,
            as_of=sourced.as_of,
            hold_for_approval=request.hold_for_approval,
            order=request.order,
        )
        await self._service.publish(event)
        await self._client.set(claim, b"published", ex=DONE_TTL_S)
        self._metrics.allocations.labels(kind, "published").inc()
        self._metrics.requests.labels("resolved").inc()
        log.info(
            "targets for %s from %s (%d symbols, %s): allocation %s",
            account.id,
            kind,
            len(sourced.targets) or int(request.order is not None),
            request.execution.value,
            allocation_id,
        )

    @staticmethod
    def _kind(request: RequestRebalance, account: Account) -> str:
        if request.order is not None:
            return "order"
        if request.targets is not None:
            return "inline"
        source = account.config.allocation
        if source is None:
            return "none"
        return "url" if source.url else "csv" if source.csv else "config"

    async def _targets_for(
        self,
        request: RequestRebalance,
        account: Account,
        url_cache: dict[str, tuple[str, SourcedTargets] | Refusal],
    ) -> tuple[str, SourcedTargets] | Refusal:
        if request.order is not None:
            return "order", SourcedTargets(targets=())  # priced by the planner as asked
        try:
            if request.targets is not None:
                kind, sourced = "inline", SourcedTargets(targets=request.targets)
            else:
                # Accounts of a group sharing one URL are fetched once per request.
                key = account.config.allocation.url if account.config.allocation else None
                cached = url_cache.get(key) if key else None
                if isinstance(cached, Refusal):
                    raise cached
                if cached is not None:
                    kind, sourced = cached
                else:
                    try:
                        kind, sourced = await self._sources.resolve(account, utc_now())
                    except Refusal as refusal:
                        if key:
                            url_cache[key] = refusal
                        raise
                    if key:
                        url_cache[key] = (kind, sourced)
            targets = checked_or_refuse(
                sourced.targets, account.planning, f"targets for {account.id} ({kind})"
            )
        except Refusal as refusal:
            return refusal
        return kind, SourcedTargets(targets, sourced.strategy_name, sourced.as_of)

    async def _reject(
        self,
        request: RequestRebalance,
        account_id: str,
        allocation_id: str | None,
        reason: Reason,
    ) -> None:
        correlation = request.correlation_id or request.message_id
        log.warning("no targets for %s: %s (%s)", account_id, reason.message, reason.code)
        await self._service.publish(
            send_alert(
                "notifier",
                f"Rebalance of {account_id} refused: {reason.code}",
                reason.message,
                dedupe_key=f"allocation:{account_id}:{reason.code}",
                correlation_id=correlation,
                account_id=account_id,
            )
        )
        await self._service.publish(
            PlanRejected(
                source="notifier",
                correlation_id=correlation,
                account_id=account_id,
                allocation_id=allocation_id,
                stage="planning",
                reasons=(reason,),
            )
        )
