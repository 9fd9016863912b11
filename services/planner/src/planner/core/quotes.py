"""Turn the bridge's quotes into the prices a plan is valued and sized with, or reasons.

A price is usable only when it is finite and above zero (IB reports missing prices as NaN,
0 or -1). The valuation price is the mid (bid and ask both usable, ask >= bid), else the
last trade, else the close. The sizing price follows ``policy.sizing_price``: ``mid`` (the
valuation price), ``bid_ask`` (ask for buys, bid for sells) or ``last``; a missing side falls
back to the valuation price with a warning.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from shared.contracts.base import Reason
from shared.contracts.portfolio import Quote
from shared.contracts.positions import Position
from shared.contracts.prices import MarketDataType
from shared.policy import PlanningPolicy
from shared.rebalancing.exposure import usable, valuation_price

LIVE_TYPES = frozenset({MarketDataType.LIVE, MarketDataType.FROZEN})


class Prices(NamedTuple):
    """The prices of one symbol: to value the holding, to size a buy, to size a sell.

    A NamedTuple rather than a frozen dataclass: one is built per symbol and plan, and a
    frozen dataclass's ``__init__`` costs several times a tuple's.
    """

    value: Decimal
    buy: Decimal
    sell: Decimal


def valuation_of(quote: Quote) -> tuple[Decimal | None, str | None]:
    """Return the price to value a holding with, and a warning when it is not the mid."""
    mid = valuation_price(quote.bid, quote.ask, None, None)
    if mid is not None:
        return mid, None
    last = usable(quote.last)
    if last is not None:
        return last, f"{quote.symbol} has no usable bid and ask; valued at its last price {last}."
    close = usable(quote.close)
    if close is not None:
        return close, (
            f"{quote.symbol} has no usable bid, ask or last price; valued at its close {close}."
        )
    return None, None


def check_quote(
    symbol: str,
    quote: Quote | None,
    unqualified: frozenset[str],
    policy: PlanningPolicy,
    now: datetime,
) -> tuple[Prices | None, list[Reason], list[str]]:
    """Validate the quote of a symbol the plan may trade; return its prices or the reasons."""
    if symbol in unqualified or (quote is not None and quote.status == "unqualified"):
        return None, [_reason("unknown_symbol", symbol, _unknown(symbol))], []
    if quote is None or quote.status == "missing":
        return None, [_reason("missing_quote", symbol, _missing(symbol))], []
    reasons = _quote_problems(symbol, quote, policy, now)
    value, warning = valuation_of(quote)
    if value is None:
        reasons.append(
            _reason(
                "missing_quote",
                symbol,
                f"The quote for {symbol} has no usable price (bid, ask, last and close are "
                "missing, zero or not numbers); retry when the market data is available.",
            )
        )
    if reasons or value is None:
        return None, reasons, []
    if warning is None and policy.sizing_price == "mid":
        return Prices(value, value, value), [], []  # the common case, without the branches
    return _sizing_prices(symbol, quote, value, warning, policy)


def _quote_problems(
    symbol: str, quote: Quote, policy: PlanningPolicy, now: datetime
) -> list[Reason]:
    """Why a quote cannot be traded on: its age unknown or too old, delayed where live is due."""
    reasons: list[Reason] = []
    if quote.as_of is None:
        reasons.append(
            _reason(
                "stale_quote",
                symbol,
                f"The quote for {symbol} has no time, so its age is unknown; retry when the "
                "bridge reports fresh market data.",
            )
        )
    else:
        age = (now - quote.as_of).total_seconds()
        if age > policy.max_quote_age_s:
            reasons.append(
                _reason(
                    "stale_quote",
                    symbol,
                    f"The quote for {symbol} is {age:.0f} s old (limit {policy.max_quote_age_s} s); "
                    "retry when fresh market data flows, or raise max_quote_age_s.",
                )
            )
    if policy.require_live_data and quote.market_data_type not in LIVE_TYPES:
        kind = quote.market_data_type.value if quote.market_data_type else "of unknown type"
        reasons.append(
            _reason(
                "delayed_data",
                symbol,
                f"The quote for {symbol} is {kind} market data and this account requires live "
                "data; subscribe to live data for it or set require_live_data to false.",
            )
        )
    return reasons


def _sizing_prices(
    symbol: str, quote: Quote, value: Decimal, warning: str | None, policy: PlanningPolicy
) -> tuple[Prices, list[Reason], list[str]]:
    """The buy and sell prices under ``policy.sizing_price`` (the valuation where one lacks)."""
    warnings = [warning] if warning else []
    buy, sell = value, value
    if policy.sizing_price == "bid_ask":
        ask, bid = usable(quote.ask), usable(quote.bid)
        if ask is None or bid is None:
            warnings.append(f"{symbol} has no usable bid/ask; sized with {value} instead.")
        buy, sell = ask or value, bid or value
    elif policy.sizing_price == "last":
        last = usable(quote.last)
        if last is None:
            warnings.append(f"{symbol} has no usable last price; sized with {value} instead.")
        buy = sell = last or value
    return Prices(value=value, buy=buy, sell=sell), [], warnings


def fallback_value_price(position: Position, quote: Quote | None) -> Decimal | None:
    """Return a price to value a holding the plan does not trade (quote, else the bridge's mark)."""
    if quote is not None and quote.status == "ok":
        price, _ = valuation_of(quote)
        if price is not None:
            return price / quote.price_magnifier  # pence quotes value holdings in pounds
    mark = usable(position.market_price)
    if mark is not None:
        return mark
    if position.market_value is not None and position.quantity != 0:
        return usable(abs(position.market_value / position.quantity))
    return None


def _reason(code: str, symbol: str, message: str) -> Reason:
    return Reason(code=code, message=message, symbol=symbol, field="quotes")


def _unknown(symbol: str) -> str:
    return (
        f"IB does not know {symbol} (it could not be qualified as a contract); check the "
        "symbol's spelling, or remove it from the target or replace it for this account."
    )


def _missing(symbol: str) -> str:
    return (
        f"There is no quote for {symbol}; check the market data subscription for it, or retry "
        "when the market is open."
    )
