"""``rpc.portfolio.v1``: answer GetPortfolio with a PortfolioView within a bounded time.

A request that arrives while the bridge reconnects or reconciles waits for it (up to
``BRIDGE_COMMAND_WAIT_S``, within the request's validity) rather than being turned away.
Every held and requested symbol gets a quote: ``ok`` with its prices, market data type and
``as_of`` (its age), ``missing`` when no usable price arrived within ``quote_timeout_s``, or
``unqualified`` (also listed in ``unqualified``) when IB does not know the symbol. Nothing is
dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from ib_async import IB, Ticker

from gateway_bridge.instruments import Instruments
from gateway_bridge.orders import Gate, NotReconciled
from gateway_bridge.parsing.state import account_fields, has_price, quote_of
from gateway_bridge.state import StateFeed
from shared.contracts.base import Message, utc_now
from shared.contracts.order_commands import wire_problem
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable, PortfolioView, Quote
from shared.kit.rpc import send_reply

log = logging.getLogger(__name__)


class PortfolioResponder:
    """Builds PortfolioView replies from the live connection."""

    def __init__(
        self,
        ib: IB,
        redis: aioredis.Redis,
        state: StateFeed,
        instruments: Instruments,
        gate: Gate,
        *,
        accounts: Callable[[], frozenset[str]],
        quote_timeout_s: float,
        reconcile_wait_s: float = 5.0,
        source: str = "gateway-bridge",
    ) -> None:
        self._ib = ib
        self._redis = redis
        self._state = state
        self._instruments = instruments
        self._gate = gate
        self._accounts = accounts
        self._quote_timeout_s = quote_timeout_s
        self._reconcile_wait_s = reconcile_wait_s
        self._source = source

    async def on_get_portfolio(self, request: GetPortfolio) -> None:
        """Handler of ``rpc.portfolio.v1``: reply to the requester (a redelivery replies again)."""
        try:
            reply = await self.view(request)
        except Exception as error:
            log.exception("GetPortfolio for %s failed", request.account_id)
            reply = self._unavailable(
                request, "error", f"the bridge failed to build the view: {error!r}"
            )
        await send_reply(self._redis, request, reply)

    async def view(self, request: GetPortfolio) -> Message:
        """Return the PortfolioView of the account, or PortfolioUnavailable saying why."""
        if request.is_expired(utc_now()):
            return self._unavailable(request, "expired", "the request expired before it was read")
        if not self._gate.is_open:
            # A reconnect or a reconciliation in progress (its recovered fills may be what
            # prompted the request): wait for it, within the request's own validity.
            left = (request.valid_until - utc_now()).total_seconds() - self._quote_timeout_s
            with contextlib.suppress(NotReconciled):
                await self._gate.wait(max(0.001, min(self._reconcile_wait_s, left)))
        if not self._ib.isConnected():
            return self._unavailable(
                request, "gateway_disconnected", "the bridge is not connected to IB; retry later"
            )
        if not self._gate.is_open:
            return self._unavailable(
                request, "not_reconciled", "the bridge is reconciling with IB; retry in a moment"
            )
        for symbol in request.symbols:
            problem = wire_problem("symbol", symbol)
            if problem:
                return self._unavailable(
                    request, "error", f"{problem}; nothing was asked of IB, fix the symbol"
                )
        account = request.account_id
        if account not in self._accounts():
            return self._unavailable(
                request,
                "unknown_account",
                f"account {account!r} is not served by this bridge "
                f"({', '.join(sorted(self._accounts()))})",
            )
        values = self._ib.accountValues(account)
        base, fields, cash = account_fields(values)
        if "net_liquidation" not in fields or "total_cash" not in fields:
            return self._unavailable(
                request, "error", f"IB has not sent the account values of {account} yet; retry"
            )
        positions = self._state.positions(account)
        positions_as_of = utc_now()
        symbols = list(dict.fromkeys([p.symbol for p in positions] + list(request.symbols)))
        quotes, unqualified = await self._quotes(symbols)
        return PortfolioView(
            source=self._source,
            correlation_id=request.correlation_id,
            account_id=account,
            currency=base,
            net_liquidation=fields["net_liquidation"],
            total_cash=fields["total_cash"],
            cash_by_currency=cash or {base: fields["total_cash"]},
            positions=positions,
            quotes=quotes,
            unqualified=unqualified,
            positions_as_of=positions_as_of,
            account_as_of=positions_as_of,
        )

    async def _quotes(self, symbols: list[str]) -> tuple[tuple[Quote, ...], tuple[str, ...]]:
        deadline = time.monotonic() + self._quote_timeout_s
        lookups = await asyncio.gather(
            *(
                asyncio.wait_for(self._state.subscribe(s, urgent=True), self._quote_timeout_s)
                for s in symbols
            ),
            return_exceptions=True,
        )
        tickers: dict[str, Ticker | None] = {}
        unqualified: list[str] = []
        for symbol, found in zip(symbols, lookups, strict=True):
            if isinstance(found, BaseException):
                tickers[symbol] = None  # lookup too slow: missing this time, not unknown
            elif found is None:
                unqualified.append(symbol)
            else:
                tickers[symbol] = found
        while time.monotonic() < deadline:
            if all(t is not None and has_price(t) for t in tickers.values()):
                break
            await asyncio.sleep(0.02)
        quotes = []
        for symbol in symbols:
            if symbol in unqualified:
                why = self._instruments.why_unknown.get(symbol)
                quotes.append(Quote(symbol=symbol, status="unqualified", detail=why))
                continue
            cached = self._instruments.cached(symbol)
            increment = None
            if cached is not None:
                found_rules = await self._instruments.lookup(symbol)
                if found_rules is not None:
                    rules = found_rules[1]
                    increment = rules.size_increment or rules.min_size or None
            quotes.append(quote_of(symbol, tickers.get(symbol), increment))
        return tuple(quotes), tuple(unqualified)

    def _unavailable(self, request: GetPortfolio, code: str, reason: str) -> PortfolioUnavailable:
        return PortfolioUnavailable(
            source=self._source,
            correlation_id=request.correlation_id,
            account_id=request.account_id,
            code=code,  # type: ignore[arg-type]
            reason=reason,
        )
