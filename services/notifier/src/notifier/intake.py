"""Turn a validated trigger from any edge into a RequestRebalance on commands.triggers.v1."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from notifier.core.errors import Refusal
from notifier.core.targets import checked_or_refuse
from notifier.core.trigger_payload import TriggerInput
from notifier.metrics import NotifierMetrics
from shared import operator
from shared.accounts import Account, Accounts
from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode, new_id, utc_now
from shared.contracts.gateway import GatewayStatus
from shared.contracts.order_commands import ManualOrder
from shared.contracts.triggers import RequestRebalance, TriggerSource
from shared.ib_gateway import WeeklyWindow
from shared.kit.alerts import send_alert
from shared.kit.service import Service
from shared.kit.streams import newest_of

log = logging.getLogger(__name__)

# The bridge sends a GatewayStatus at least every 15 s: an older one no longer says IB is up.
GATEWAY_STATUS_FRESH = timedelta(seconds=60)

AUTH_CODES = frozenset(
    {"unsigned", "bad_timestamp", "stale_signature", "bad_signature", "replayed", "wrong_channel"}
)


def _accepts(account: Account, source: TriggerSource) -> bool:
    triggers = account.config.triggers
    if source == "redis":
        return triggers.redis
    if source == "http":
        return triggers.http
    return True


class TriggerIntake:
    """Check a trigger against the accounts file and publish it; count what is refused."""

    def __init__(
        self,
        service: Service,
        accounts: Accounts,
        metrics: NotifierMetrics,
        ttl_s: int,
        window: WeeklyWindow | None = None,
    ) -> None:
        self._service = service
        self._accounts = accounts
        self._metrics = metrics
        self._ttl = timedelta(seconds=ttl_s)
        self._window = window

    async def _refuse_outside_the_window(self) -> None:
        """Refuse while the gateway's weekly window is closed, unless IB is connected anyway.

        The window says when the gateway is meant to be down; a gateway that is up outside it
        (the emulator of the ``sim`` profile, a TWS the user keeps running) can trade, so the
        bridge's newest ``GatewayStatus`` decides: connected and fresh, no refusal.
        """
        now = utc_now()
        closed = self._window.closed_reason(now) if self._window else None
        if not closed or await self._ib_connected(now):
            return
        raise Refusal(
            "gateway_window_closed",
            f"{closed}; nothing can trade until then, send the trigger again after it opens",
            status=503,
        )

    async def _ib_connected(self, now: datetime) -> bool:
        try:
            status = await newest_of(self._service.redis, catalogue.GATEWAY, GatewayStatus)
        except Exception as error:  # Redis down: publishing fails next, with its own reason
            log.warning("cannot read the gateway's status: %r", error)
            return False
        return (
            status is not None and status.connected and now - status.ts_event < GATEWAY_STATUS_FRESH
        )

    def accounts_of(self, trigger: TriggerInput, source: TriggerSource) -> list[Account]:
        """Return the accounts a trigger names, or raise Refusal (unknown, not allowed)."""
        if trigger.group is not None:
            members = self._accounts.group(trigger.group)
            if not members:
                known = ", ".join(sorted(self._accounts.groups())) or "none"
                raise Refusal(
                    "unknown_group",
                    f"group {trigger.group!r} is not in the accounts file; known groups: {known}",
                    status=404,
                )
            allowed = [a for a in members if _accepts(a, source)]
            if not allowed:
                raise Refusal(
                    "channel_not_allowed",
                    f"no account of group {trigger.group!r} accepts {source} triggers",
                    status=403,
                )
            return allowed
        found: list[Account] = []
        for account_id in trigger.account_ids:
            account = self._accounts.get(account_id)
            if account is None:
                raise Refusal(
                    "unknown_account",
                    f"account {account_id!r} is not in the accounts file "
                    f"({len(self._accounts)} account(s) configured)",
                    status=404,
                )
            if not _accepts(account, source):
                raise Refusal(
                    "channel_not_allowed",
                    f"account {account_id} does not accept {source} triggers "
                    f"(triggers.{source}: false in the accounts file)",
                    status=403,
                )
            found.append(account)
        return found

    async def submit(
        self,
        trigger: TriggerInput,
        source: TriggerSource,
        *,
        requested_by: str | None = None,
    ) -> RequestRebalance:
        """Validate ``trigger`` and publish its RequestRebalance; raise Refusal if refused.

        The edge counts a refusal with :meth:`refused`.
        """
        accounts = self.accounts_of(trigger, source)
        await self._refuse_outside_the_window()
        targets = trigger.targets
        if targets is not None:
            for account in accounts:
                targets = checked_or_refuse(targets, account.planning, f"targets for {account.id}")
        request = operator.request_rebalance(
            source="notifier",
            message_id=new_id(),
            accounts=[a.id for a in accounts],
            group=trigger.group,
            targets=targets,
            execute=trigger.execution == ExecutionMode.REBALANCE,
            by=requested_by,
            trigger_source=source,
            trigger_id=trigger.trigger_id,
            ttl=self._ttl,
        )
        await self._service.publish(request)
        self._metrics.triggers.labels(source, "accepted").inc()
        log.info(
            "%s trigger accepted for %s (%s%s): request %s",
            source,
            ", ".join(request.account_ids),
            request.execution.value,
            ", inline targets" if targets else "",
            request.message_id,
            extra={"correlation_id": request.correlation_id},
        )
        return request

    async def submit_order(
        self,
        order: ManualOrder,
        account_id: str,
        request_id: str,
        *,
        execute: bool,
        requested_by: str | None = None,
    ) -> RequestRebalance:
        """Check the account and publish the order's request (a one-leg plan); raise Refusal."""
        trigger = TriggerInput((account_id,), None, ExecutionMode.REBALANCE, None)
        (account,) = self.accounts_of(trigger, "http")
        request = operator.place_order(
            order,
            account=account.id,
            source="notifier",
            request_id=request_id,
            execute=execute,
            by=requested_by,
            trigger_source="http",
            ttl=self._ttl,
        )
        await self._service.publish(request)
        self._metrics.triggers.labels("http", "accepted").inc()
        log.info(
            "order accepted for %s: %s %s %s (%s): request %s",
            account.id,
            order.side.value,
            order.quantity or order.cash_amount,
            order.symbol,
            order.order_type.value,
            request.message_id,
            extra={"correlation_id": request.correlation_id},
        )
        return request

    async def refused(self, source: TriggerSource, refusal: Refusal) -> None:
        """Count and log a refused trigger; alert the humans when it failed authentication."""
        self._metrics.triggers.labels(source, "refused").inc()
        self._metrics.refusals.labels(source, refusal.code).inc()
        log.warning("%s trigger refused (%s): %s", source, refusal.code, refusal.message)
        if refusal.code not in AUTH_CODES:
            return
        try:
            await self._service.publish(
                send_alert(
                    "notifier",
                    f"Refused a {source} trigger: {refusal.code}",
                    f"A {source} trigger failed authentication: {refusal.message}",
                    dedupe_key=f"trigger_refused:{source}:{refusal.code}",
                )
            )
        except Exception:
            log.exception("could not publish the alert about a refused trigger")
