"""Account subscriptions: account values for every served account, and daily PnL.

ib_async's ``connectAsync`` startup sync asks IB for account values in two ways: one
``reqAccountUpdates`` when exactly one account is managed, and one ``reqAccountUpdatesMulti``
per account only while there are at most ``IB.MaxSyncedSubAccounts`` (50) of them. With more
accounts (an advisor's or a fleet's login) IB never sends any account value, and every
GetPortfolio would answer "IB has not sent the account values yet". So the bridge turns the
per-account part of the sync off (``connection.STARTUP_FETCH``: one code path for 2 accounts or
200) and after each connect subscribes ``reqAccountUpdatesMulti`` itself for each served account
without values (a single-account login still gets them from the sync's ``reqAccountUpdates``);
IB keeps those subscriptions live (updates after fills) until the connection drops.
Reconciliation waits for them: planning and the risk gate need net liquidation and cash.

Daily PnL comes only from ``reqPnL`` (IB sends no account value for it). Those subscriptions
are started in the background and paced, so a hundred of them never queue ahead of an order in
ib_async's single request throttle. ib_async keeps a PnL subscription's bookkeeping across a
reconnect although IB dropped it, and refuses to subscribe the same account twice, so the
bridge forgets its own subscriptions when the connection is lost and subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ib_async import IB

from gateway_bridge.parsing.numbers import decimal_or_none
from gateway_bridge.parsing.state import account_fields

log = logging.getLogger(__name__)


class AccountSubscriptions:
    """Keep account values and PnL flowing for every account this bridge serves."""

    def __init__(self, ib: IB, *, timeout_s: float, subscriptions_per_s: float) -> None:
        self._ib = ib
        self._timeout_s = timeout_s
        self._every = 1.0 / subscriptions_per_s
        self._pnl: set[str] = set()
        self._pnl_task: asyncio.Task[None] | None = None

    def has_values(self, account: str) -> bool:
        """Whether IB sent the net liquidation and cash of ``account`` on this connection."""
        _base, fields, _cash = account_fields(self._ib.accountValues(account))
        return "net_liquidation" in fields and "total_cash" in fields

    async def subscribe(self, accounts: Iterable[str]) -> None:
        """Subscribe the account values IB has not sent (wait for them); PnL in the background."""
        accounts = sorted(accounts)
        missing = [a for a in accounts if not self.has_values(a)]
        if missing:
            log.info(
                "subscribing account values of %d accounts the connect sync did not cover",
                len(missing),
            )
            results = await asyncio.gather(
                *(
                    asyncio.wait_for(self._ib.reqAccountUpdatesMultiAsync(a), self._timeout_s)
                    for a in missing
                ),
                return_exceptions=True,
            )
            failed = [
                a for a, r in zip(missing, results, strict=True) if isinstance(r, BaseException)
            ]
            if failed:
                # GetPortfolio for these says "not sent yet; retry": visible, never a wrong value.
                log.error("IB did not send the account values of %s", ", ".join(failed))
        if self._pnl_task is None or self._pnl_task.done():
            self._pnl_task = asyncio.create_task(self._subscribe_pnl(accounts), name="pnl")

    async def _subscribe_pnl(self, accounts: list[str]) -> None:
        next_at = 0.0
        for account in accounts:
            if account in self._pnl or not self._ib.isConnected():
                continue
            now = time.monotonic()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            next_at = max(now, next_at) + self._every
            try:
                self._ib.reqPnL(account)
            except Exception:
                log.exception("could not subscribe the PnL of %s", account)
                continue
            self._pnl.add(account)

    def daily_pnl(self, account: str) -> Decimal | None:
        """Today's PnL of ``account`` from its live PnL subscription (None until IB sent it)."""
        for pnl in self._ib.pnl(account):
            if not pnl.modelCode:
                return decimal_or_none(pnl.dailyPnL)
        return None

    def forget(self) -> None:
        """The connection dropped: IB ended every subscription; drop ib_async's leftovers."""
        if self._pnl_task is not None:
            self._pnl_task.cancel()
            self._pnl_task = None
        wrapper: Any = self._ib.wrapper
        for account in self._pnl:
            req_id = wrapper.pnlKey2ReqId.pop((account, ""), None)
            if req_id is not None:
                wrapper.reqId2PnL.pop(req_id, None)
        self._pnl.clear()

    async def stop(self) -> None:
        """Stop subscribing (the connection's end ends the subscriptions themselves)."""
        if self._pnl_task is not None:
            self._pnl_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pnl_task
