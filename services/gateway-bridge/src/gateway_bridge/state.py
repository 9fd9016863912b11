"""State out: positions, account values and prices, published as IB reports them.

Positions: a ``PositionsSnapshot`` per account after every reconciliation, a
``PositionChanged`` for each position update. Accounts: an ``AccountSnapshot`` per account
after reconciliation and then at most once per ``account_throttle_ms`` while values change.
Prices: a streaming subscription per held or requested symbol; ``PriceUpdated`` at most once
per symbol per ``price_throttle_ms``; NaN, zero and negative prices count as missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

from ib_async import IB, AccountValue, Ticker
from ib_async import Position as IbPosition

from gateway_bridge.accounts import AccountSubscriptions
from gateway_bridge.instruments import Instruments
from gateway_bridge.metrics import AccountFigures, BridgeMetrics
from gateway_bridge.parsing.state import (
    account_snapshot,
    is_cash_position,
    live_price,
    position_of,
    position_value,
    price_updated,
    symbol_of,
)
from gateway_bridge.serial import SerialPublisher
from shared.contracts.account import AccountSnapshot
from shared.contracts.base import Message, utc_now
from shared.contracts.positions import Position, PositionChanged, PositionsSnapshot

log = logging.getLogger(__name__)

Publish = Callable[[Message], Awaitable[None]]
PublishMany = Callable[[list[Message]], Awaitable[None]]


class NoMarketDataLine(RuntimeError):
    """Every market data line streams a held symbol: no subscription for another one."""


class StateFeed:
    """Publishes positions, account values and prices of the accounts this bridge serves."""

    def __init__(
        self,
        ib: IB,
        publish: Publish,
        publish_many: PublishMany,
        instruments: Instruments,
        metrics: BridgeMetrics,
        subscriptions: AccountSubscriptions,
        *,
        accounts: Callable[[], frozenset[str]],
        price_throttle_ms: int,
        account_throttle_ms: int,
        subscriptions_per_s: float = 10.0,
        max_market_data_lines: int = 100,
        keep_used_s: float = 2.0,
        source: str = "gateway-bridge",
    ) -> None:
        self._ib = ib
        self._publish = publish
        self._publish_many = publish_many
        self._instruments = instruments
        self._metrics = metrics
        self._subscriptions = subscriptions
        self._accounts = accounts
        self._price_every = price_throttle_ms / 1000
        self._account_every = account_throttle_ms / 1000
        self._source = source
        self._wanted: set[str] = set()
        self._tickers: dict[str, Ticker] = {}
        self._last_price: dict[str, float] = {}
        self._dirty_accounts: set[str] = set()
        self._prices: list[Message] = []
        self._price_wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._subscribing: dict[str, asyncio.Task[Ticker | None]] = {}
        self._hurry: dict[str, asyncio.Event] = {}
        # Closed until the market data type of a new connection has been sent: a subscription
        # made during ib_async's connect sync (position events) would ask for the wrong type.
        self._market_data_open = False
        self._used: dict[str, float] = {}
        self._max_lines = max_market_data_lines
        self._keep_used_s = keep_used_s
        self._positions = SerialPublisher(publish, "positions", publish_many)
        self._subscribe_every = 1.0 / subscriptions_per_s
        self._next_subscribe = 0.0
        ib.positionEvent += self._on_position
        ib.accountValueEvent += self._on_account_value
        ib.pendingTickersEvent += self._on_tickers

    def start(self) -> None:
        """Run the account and price publishers."""
        self._positions.start()
        self._loops = [
            asyncio.create_task(self._account_loop(), name="accounts"),
            asyncio.create_task(self._price_loop(), name="prices"),
        ]

    async def stop(self) -> None:
        """Stop publishing (bounded: a publish stuck on a stopped broker is abandoned)."""
        await self._positions.stop()
        tasks = [*self._loops, *self._tasks, *self._subscribing.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    # ------------------------------------------------------------------ after reconciliation

    async def publish_snapshots(self) -> None:
        """Publish every served account's positions and account values; subscribe held symbols."""
        now = utc_now()
        for account in sorted(self._accounts()):
            positions = self.positions(account)
            await self._publish(
                PositionsSnapshot(
                    source=self._source, ts_event=now, account_id=account, positions=positions
                )
            )
            snapshot = self.account_snapshot(account)
            if snapshot is not None:
                await self._publish(snapshot)
            for position in positions:
                self._instruments.hint(position.symbol, position.currency)
                self.want(position.symbol)

    def account_snapshot(self, account: str) -> AccountSnapshot | None:
        """Return the account's AccountSnapshot, or None until IB sent its values."""
        return account_snapshot(
            account,
            self._ib.accountValues(account),
            self._source,
            daily_pnl=self._subscriptions.daily_pnl(account),
        )

    def figures(self) -> list[AccountFigures]:
        """What the portfolio gauges show: each served account IB sent values for, in its
        base currency (positions in another currency at IB's ExchangeRate; pence in pounds)."""
        found = []
        for account in sorted(self._accounts()):
            snapshot = self.account_snapshot(account)
            if snapshot is None:
                continue
            rates = snapshot.exchange_rates | {snapshot.currency: Decimal(1)}
            values = {}
            for position in self.positions(account):
                rules = self._instruments.cached_rules(position.symbol)
                times = rules.price_magnifier if rules is not None else 1
                value = position_value(position, self._tickers.get(position.symbol), times)
                rate = rates.get(position.currency)
                if value is not None and rate is not None:
                    values[position.symbol] = value * rate
            found.append(
                AccountFigures(
                    account=account,
                    net_liquidation=snapshot.net_liquidation,
                    cash=snapshot.total_cash,
                    daily_pnl=snapshot.daily_pnl,
                    unrealized_pnl=snapshot.unrealized_pnl,
                    position_values=values,
                    currency=snapshot.currency,
                    cash_by_currency=dict(snapshot.cash_by_currency),
                    exchange_rates=dict(snapshot.exchange_rates),
                )
            )
        return found

    def positions(self, account: str) -> tuple[Any, ...]:
        """Return our Positions of an account (portfolio items when IB sent them)."""
        items = {p.contract.conId: p for p in self._ib.portfolio(account)}
        result = []
        for position in self._ib.positions(account):
            if is_cash_position(position):
                continue  # FX positions: their value is in the cash balances
            richer = items.get(position.contract.conId)
            parsed = position_of(richer if richer is not None else position)
            if parsed.quantity != 0:
                result.append(self._with_ib_pnl(account, parsed))
        return tuple(result)

    def _with_ib_pnl(self, account: str, position: Position) -> Position:
        """The position with IB's own daily and unrealized PnL of it (``pnlSingle``), once
        subscribed (held positions are subscribed here)."""
        if position.quantity == 0:
            return position
        self._subscriptions.want_position_pnl(account, position.con_id)
        daily, unrealized = self._subscriptions.position_pnl(
            account, position.con_id, position.quantity
        )
        update: dict[str, Decimal] = {}
        if daily is not None:
            update["daily_pnl"] = daily
        if unrealized is not None:
            update["unrealized_pnl"] = unrealized
        return position.model_copy(update=update) if update else position

    def open_market_data(self) -> None:
        """The connection is set up (market data type sent): subscriptions may go."""
        self._market_data_open = True

    def forget_subscriptions(self) -> None:
        """The connection dropped: ib_async dropped every ticker with it."""
        self._market_data_open = False
        self._tickers.clear()
        self._next_subscribe = 0.0
        for task in self._subscribing.values():
            task.cancel()
        self._subscribing.clear()

    def resubscribe_soon(self) -> None:
        """Subscribe every wanted symbol not streaming, in the background (paced)."""
        missing = sorted(s for s in self._wanted if s not in self._tickers)
        for symbol in missing:
            if symbol not in self._subscribing:
                self._spawn(self._subscribe_in_background(symbol))

    async def resubscribe(self) -> None:
        """Subscribe every wanted symbol again (after a reconnect, or 1101: data lost)."""
        for symbol, ticker in list(self._tickers.items()):
            with contextlib.suppress(Exception):
                self._ib.cancelMktData(ticker.contract)
            del self._tickers[symbol]
        await asyncio.gather(
            *(self.subscribe(s) for s in sorted(self._wanted)), return_exceptions=True
        )

    # ------------------------------------------------------------------ prices

    def want(self, symbol: str) -> None:
        """Stream prices of ``symbol`` from now on (held or requested)."""
        if symbol not in self._wanted:
            self._wanted.add(symbol)
        self._used[symbol] = time.monotonic()
        if symbol not in self._tickers and symbol not in self._subscribing:
            self._spawn(self._subscribe_in_background(symbol))

    async def _subscribe_in_background(self, symbol: str) -> None:
        try:
            await self.subscribe(symbol)
        except NoMarketDataLine as full:
            log.warning("%s", full)

    async def price(self, symbol: str, timeout_s: float) -> Decimal | None:
        """Return the live price of ``symbol`` (subscribing and waiting up to ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        try:
            ticker = await asyncio.wait_for(self.subscribe(symbol, urgent=True), timeout_s)
        except (TimeoutError, NoMarketDataLine):
            return None
        while ticker is not None and time.monotonic() < deadline:
            if live_price(ticker) is not None:
                break
            await asyncio.sleep(0.02)
        return live_price(ticker)

    def ticker(self, symbol: str) -> Ticker | None:
        """Return the live ticker of a subscribed symbol."""
        return self._tickers.get(symbol)

    async def subscribe(self, symbol: str, *, urgent: bool = False) -> Ticker | None:
        """Start streaming ``symbol`` (single flight); None if IB does not know it.

        ``urgent`` (someone waits for the quote, e.g. GetPortfolio) skips the background pace
        of ``subscriptions_per_s``, also for a subscription already waiting its turn; the
        pacer still keeps every message within IB's limit.
        """
        self._wanted.add(symbol)
        self._used[symbol] = time.monotonic()
        if symbol in self._tickers:
            return self._tickers[symbol]
        if urgent:
            self._hurry.setdefault(symbol, asyncio.Event()).set()
        pending = self._subscribing.get(symbol)
        if pending is None:
            pending = asyncio.ensure_future(self._subscribe(symbol))
            self._subscribing[symbol] = pending
        try:
            return await asyncio.shield(pending)
        finally:
            if pending.done():
                self._subscribing.pop(symbol, None)

    async def _subscribe(self, symbol: str) -> Ticker | None:
        # Pace background subscriptions: requests go ahead of orders in the pacer, so 200
        # symbols resubscribed at once (400 messages) would hold orders back by ~9 s.
        hurry = self._hurry.setdefault(symbol, asyncio.Event())
        if not hurry.is_set():
            now = time.monotonic()
            slot = max(now, self._next_subscribe)
            self._next_subscribe = slot + self._subscribe_every
            if slot > now:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hurry.wait(), slot - now)
        self._hurry.pop(symbol, None)
        if not self._ib.isConnected() or not self._market_data_open:
            return None  # still wanted: the reconciliation subscribes it
        try:
            found = await self._instruments.resolve(symbol)
        except Exception:
            log.exception("could not look %s up", symbol)
            return None
        if found is None:
            self._wanted.discard(symbol)
            return None
        if symbol in self._tickers:
            return self._tickers[symbol]
        if not self._free_a_line():
            self._wanted.discard(symbol)
            self._metrics.market_data_refused.inc()
            raise NoMarketDataLine(
                f"no market data line free for {symbol}: all {self._max_lines} "
                "(BRIDGE_MAX_MARKET_DATA_LINES) stream held symbols; its quote is missing"
            )
        ticker = self._ib.reqMktData(found[0], "", False, False)
        self._tickers[symbol] = ticker
        return ticker

    def _free_a_line(self) -> bool:
        """Make room for one more subscription within IB's market data lines.

        At the limit, the least recently used symbol that no served account holds and nobody
        asked for within ``keep_used_s`` is unsubscribed; held symbols keep their lines
        (positions are valued with them).
        """
        if len(self._tickers) < self._max_lines:
            return True
        served = self._accounts()
        held = {
            p.contract.symbol for p in self._ib.positions() if p.account in served and p.position
        }
        # A symbol asked for moments ago may still be read by its requester: keep it.
        recent = time.monotonic() - self._keep_used_s
        candidates = [s for s in self._tickers if s not in held and self._used.get(s, 0.0) < recent]
        if not candidates:
            return False
        oldest = min(candidates, key=lambda s: self._used.get(s, 0.0))
        ticker = self._tickers.pop(oldest)
        self._wanted.discard(oldest)
        with contextlib.suppress(Exception):
            self._ib.cancelMktData(ticker.contract)
        log.info("market data lines full: unsubscribed %s (least recently used)", oldest)
        return True

    def lines(self) -> int:
        """Market data lines in use."""
        return len(self._tickers)

    def _on_tickers(self, tickers: Iterable[Ticker]) -> None:
        now = time.monotonic()
        wall = utc_now()
        for ticker in tickers:
            if ticker.contract is None:
                continue
            symbol = symbol_of(ticker.contract)
            if now - self._last_price.get(symbol, 0.0) < self._price_every:
                continue
            message = price_updated(ticker, self._source, wall)
            if message is None:
                continue
            self._last_price[symbol] = now
            self._prices.append(message)
        if self._prices:
            self._price_wake.set()

    async def _price_loop(self) -> None:
        while True:
            await self._price_wake.wait()
            self._price_wake.clear()
            batch, self._prices = self._prices, []
            if not batch:
                continue
            try:
                await self._publish_many(batch)
                self._metrics.prices.inc(len(batch))
            except Exception:
                log.exception("could not publish %d price updates (dropped)", len(batch))

    # ------------------------------------------------------------------ positions, accounts

    def _on_position(self, position: IbPosition) -> None:
        if position.account not in self._accounts() or is_cash_position(position):
            return
        self._instruments.hint(position.contract.symbol, position.contract.currency)
        self.want(position.contract.symbol)
        self._positions.put(
            PositionChanged(
                source=self._source,
                account_id=position.account,
                position=self._with_ib_pnl(position.account, position_of(position)),
            )
        )

    def _on_account_value(self, value: AccountValue) -> None:
        if value.account in self._accounts():
            self._dirty_accounts.add(value.account)

    async def _account_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self._account_every, 0.05))
            dirty, self._dirty_accounts = self._dirty_accounts, set()
            for account in sorted(dirty):
                snapshot = self.account_snapshot(account)
                if snapshot is None:
                    continue
                try:
                    await self._publish(snapshot)
                except Exception:
                    log.exception("could not publish the account snapshot of %s", account)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
