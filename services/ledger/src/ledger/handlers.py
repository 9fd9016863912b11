"""Subscribers of the ledger: order, position, account and price events in; queries answered.

decode (done by the kit) -> core -> store. Every write is idempotent (see ``store.base``), so
a redelivered, reclaimed or replayed event is harmless; a store failure raises and the kit
delivers the event again. Queries always get a reply: the answer, or ``LedgerQueryRefused``
with a code and a sentence (a database failure included), never silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from ledger.core.day import day_start
from ledger.core.pnl import LatestPrice, account_pnl, latest_price, newer_price
from ledger.core.positions import update_of
from ledger.core.query import Cursor, Refusal, TradesQuery, check_trades_request, encode_cursor
from ledger.core.trades import commission_part, fill_part
from ledger.metrics import LedgerMetrics
from ledger.store.base import LedgerStore
from shared.contracts.account import AccountSnapshot
from shared.contracts.base import Message
from shared.contracts.ledger import (
    GetPnl,
    GetTrades,
    LedgerQueryRefused,
    PnlView,
    TradesPage,
)
from shared.contracts.orders import CommissionReported, OrderFilled
from shared.contracts.positions import PositionChanged, PositionsSnapshot
from shared.contracts.prices import PriceUpdated

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Reply = Callable[[Message, Message], Awaitable[None]]
SOURCE = "ledger"


class LiveState:
    """What the ledger holds in memory only: each symbol's last quote, each account's values."""

    def __init__(self) -> None:
        self.prices: dict[str, LatestPrice] = {}
        self.accounts: dict[str, AccountSnapshot] = {}

    def take_price(self, event: PriceUpdated) -> None:
        """Keep the newer quote of the symbol."""
        self.prices[event.symbol] = newer_price(self.prices.get(event.symbol), latest_price(event))

    def take_account(self, event: AccountSnapshot) -> None:
        """Keep the newer values of the account."""
        held = self.accounts.get(event.account_id)
        if held is None or event.ts_event >= held.ts_event:
            self.accounts[event.account_id] = event


class Ledger:
    """The ledger's handlers and queries."""

    def __init__(
        self,
        store: LedgerStore,
        metrics: LedgerMetrics,
        reply: Reply,
        zone: ZoneInfo,
        clock: Clock,
    ) -> None:
        self.store = store
        self.state = LiveState()
        self._metrics = metrics
        self._reply = reply
        self._zone = zone
        self._clock = clock

    # ------------------------------------------------------------------ events in

    async def on_order_event(self, event: Message) -> None:
        """Record the fill or the commission half of a trade (other order events: nothing)."""
        if isinstance(event, OrderFilled):
            part = fill_part(event, self._clock())
            if await self.store.record_fill(part):
                origin = "external" if part.external else "system"
                self._metrics.trades.labels(event.account_id, origin).inc()
                log.info(
                    "recorded %s %s %s @ %s in %s (%s, exec %s)",
                    event.side.value,
                    event.last_quantity,
                    event.symbol,
                    event.last_price,
                    event.account_id,
                    origin,
                    event.exec_id,
                )
            else:
                self._metrics.duplicates.labels("OrderFilled").inc()
        elif isinstance(event, CommissionReported):
            if await self.store.record_commission(commission_part(event, self._clock())):
                self._metrics.commissions.labels(event.account_id).inc()
            else:
                self._metrics.duplicates.labels("CommissionReported").inc()

    async def on_position_event(self, event: Message) -> None:
        """Follow the account's positions and write their history."""
        if not isinstance(event, PositionsSnapshot | PositionChanged):
            return
        held = await self.store.held_positions(event.account_id)
        last = await self.store.last_history(event.account_id)
        written = await self.store.apply_positions(update_of(event, held, last))
        if written:
            self._metrics.history_rows.inc(written)

    async def on_account_event(self, event: Message) -> None:
        """Keep the account's latest values (IB's daily and unrealized PnL, net liquidation)."""
        if isinstance(event, AccountSnapshot):
            self.state.take_account(event)

    async def on_price(self, event: Message) -> None:
        """Keep the symbol's latest quote."""
        if isinstance(event, PriceUpdated):
            self.state.take_price(event)

    # ------------------------------------------------------------------ queries

    async def on_request(self, request: Message) -> None:
        """Answer a GetTrades or GetPnl on the requester's reply list."""
        kind = type(request).__name__
        started = time.perf_counter()
        reply: Message
        if not isinstance(request, GetTrades | GetPnl):
            return
        if request.is_expired(self._clock()):
            reply = self._refused(
                request,
                Refusal(
                    "expired",
                    "The request expired before the ledger read it; send it again (if this "
                    "repeats, the ledger is behind: see `rebalancer status`).",
                ),
            )
        else:
            try:
                if isinstance(request, GetTrades):
                    reply = await self.trades_page(request)
                else:
                    reply = await self.pnl(request)
            except Exception as error:
                log.exception("could not answer %s", kind)
                reply = self._refused(
                    request,
                    Refusal(
                        "error",
                        f"The ledger could not read its database ({type(error).__name__}); "
                        "retry, and check the ledger's health (`/health`) if it repeats.",
                    ),
                )
        outcome = reply.code if isinstance(reply, LedgerQueryRefused) else "ok"
        self._metrics.queries.labels(kind, outcome).inc()
        self._metrics.query_seconds.labels(kind).observe(time.perf_counter() - started)
        await self._reply(request, reply)

    def _refused(self, request: Message, refusal: Refusal) -> LedgerQueryRefused:
        return LedgerQueryRefused(
            source=SOURCE,
            correlation_id=request.correlation_id,
            code=refusal.code,
            reason=refusal.reason,
            field=refusal.field,
        )

    async def trades_page(self, request: GetTrades) -> TradesPage | LedgerQueryRefused:
        """One page of trades, and the cursor of the next."""
        query = check_trades_request(request)
        if isinstance(query, Refusal):
            return self._refused(request, query)
        rows = await self.store.trades(query, limit=query.limit + 1)
        page, more = rows[: query.limit], len(rows) > query.limit
        next_cursor = None
        if more:
            last = page[-1].fill
            next_cursor = encode_cursor(Cursor(last.executed_at, last.exec_id), query.order)
        return TradesPage(
            source=SOURCE,
            correlation_id=request.correlation_id,
            trades=tuple(t.to_contract() for t in page),
            next_cursor=next_cursor,
        )

    async def pnl(self, request: GetPnl) -> PnlView | LedgerQueryRefused:
        """PnL of one account, or of every account the ledger knows."""
        view = await self.pnl_view(request.account_id, request.correlation_id)
        if request.account_id and not view.accounts:
            return self._refused(
                request,
                Refusal(
                    "unknown_account",
                    f"The ledger has no trade, position or account values of "
                    f"{request.account_id}; check the account id, and that the gateway-bridge "
                    "serves it.",
                    "account_id",
                ),
            )
        return view

    async def pnl_view(self, account_id: str | None, correlation_id: str | None = None) -> PnlView:
        """Compute PnL from the store and the live state."""
        now = self._clock()
        start = day_start(now, self._zone)
        held = await self.store.held_positions(account_id)
        totals = await self.store.realized_totals(account_id)
        today = await self.store.trades(
            TradesQuery(account_id, None, start, None, "oldest_first", 0)
        )
        if account_id:
            known = {account_id} & (
                {h.account_id for h in held}
                | {t.account_id for t in totals}
                | set(self.state.accounts)
            )
        else:
            known = (
                {h.account_id for h in held}
                | {t.account_id for t in totals}
                | set(self.state.accounts)
            )
        accounts = tuple(
            account_pnl(
                account,
                [h for h in held if h.account_id == account],
                self.state.prices,
                [t for t in totals if t.account_id == account],
                [t for t in today if t.fill.account_id == account],
                self.state.accounts.get(account),
            )
            for account in sorted(known)
        )
        return PnlView(
            source=SOURCE, correlation_id=correlation_id, accounts=accounts, day_start=start
        )

    async def refresh_metrics(self) -> None:
        """Recompute the PnL gauges and the stored-trade counts."""
        view = await self.pnl_view(None)
        self._metrics.pnl.accounts = view.accounts
        self._metrics.pnl.stored = await self.store.trade_counts()
