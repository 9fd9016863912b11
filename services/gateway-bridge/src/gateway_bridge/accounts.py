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

Per position, ``reqPnLSingle`` (IB's daily and unrealized PnL of one position) is subscribed for
every held position of a served account, paced the same way, and put on the positions the
bridge publishes and answers (``Position.daily_pnl``, ``Position.unrealized_pnl``).

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
        self._singles: set[tuple[str, int]] = set()
        self._single_queue: list[tuple[str, int]] = []
        self._single_wake = asyncio.Event()
        self._single_task: asyncio.Task[None] | None = None

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

    def want_position_pnl(self, account: str, con_id: int | None) -> None:
        """Subscribe IB's PnL of one held position (``reqPnLSingle``), once, in the background."""
        key = (account, con_id or 0)
        if not con_id or key in self._singles or key in self._single_queue:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside the event loop: the next position event subscribes it
        self._single_queue.append(key)
        self._single_wake.set()
        if self._single_task is None or self._single_task.done():
            self._single_task = asyncio.create_task(self._subscribe_singles(), name="pnl-single")

    async def _subscribe_singles(self) -> None:
        next_at = 0.0
        while True:
            if not self._single_queue:
                self._single_wake.clear()
                await self._single_wake.wait()
                continue
            now = time.monotonic()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            next_at = max(now, next_at) + self._every
            key = self._single_queue.pop(0)
            if key in self._singles or not self._ib.isConnected():
                continue
            try:
                self._ib.reqPnLSingle(key[0], "", key[1])
            except Exception:
                log.exception("could not subscribe the PnL of %s %s", *key)
                continue
            self._singles.add(key)

    def position_pnl(
        self, account: str, con_id: int | None, quantity: Decimal
    ) -> tuple[Decimal | None, Decimal | None]:
        """IB's (daily, unrealized) PnL of one position from ``pnlSingle``; unrealized only
        when IB's figure is for ``quantity`` (a fill moved it: wait for the next update)."""
        if not con_id:
            return None, None
        for single in self._ib.pnlSingle(account, "", con_id):
            if single.modelCode:
                continue
            unrealized = decimal_or_none(single.unrealizedPnL)
            held = decimal_or_none(single.position)
            if held is None or held != quantity:
                unrealized = None
            return decimal_or_none(single.dailyPnL), unrealized
        return None, None

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
        for account, con_id in self._singles:
            req_id = wrapper.pnlSingleKey2ReqId.pop((account, "", con_id), None)
            if req_id is not None:
                wrapper.reqId2PnlSingle.pop(req_id, None)
        self._singles.clear()
        self._single_queue.clear()

    async def stop(self) -> None:
        """Stop subscribing (the connection's end ends the subscriptions themselves)."""
        for task in (self._pnl_task, self._single_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
