"""Prices: static or a seeded random walk, with a spread quantised to the tick size.

Pure and synchronous: the server decides when to call ``step``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from .scenario import InstrumentSpec, PricesSpec


@dataclass(frozen=True)
class Quote:
    """The touch and the last trade of one instrument, in its quoted units (pence for a
    pence-quoted line). For an FX pair ``last`` is only the reference the spread is built
    around: IB reports no trades on IDEALPRO."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    close: Decimal
    bid_size: Decimal = Decimal("500")
    ask_size: Decimal = Decimal("500")
    last_size: Decimal = Decimal("100")

    @property
    def mid(self) -> Decimal:
        """Midpoint of bid and ask."""
        return (self.bid + self.ask) / 2


def _floor_tick(px: Decimal, tick: Decimal) -> Decimal:
    return ((px / tick).to_integral_value(rounding=ROUND_FLOOR) * tick).quantize(tick)


def _round_tick(px: Decimal, tick: Decimal) -> Decimal:
    return ((px / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick).quantize(tick)


FX_SIZE = Decimal("1000000")


class Market:
    """Current quotes for every instrument; moves them when told to."""

    def __init__(self, spec: PricesSpec, instruments: list[InstrumentSpec]) -> None:
        self._spec = spec
        self._ticks = {i.symbol: i.quote_tick for i in instruments}
        self._spread_bps = {
            i.symbol: spec.spread_bps if i.spread_bps is None else i.spread_bps for i in instruments
        }
        # IDEALPRO shows sizes in the base currency, millions at the touch.
        self._sizes = {
            i.symbol: FX_SIZE if i.sec_type == "CASH" else Decimal("500") for i in instruments
        }
        self._rng = random.Random(spec.seed)
        self._quotes: dict[str, Quote] = {}
        self._volume: dict[str, Decimal] = {i.symbol: Decimal(0) for i in instruments}
        for inst in instruments:
            start = spec.start[inst.symbol]
            self._quotes[inst.symbol] = self._quote_around(inst.symbol, start, close=start)

    def _quote_around(
        self,
        symbol: str,
        last: Decimal,
        close: Decimal,
        spread: Decimal | None = None,
    ) -> Quote:
        tick = self._ticks[symbol]
        last = max(_round_tick(last, tick), tick)
        if spread is None:
            spread = last * Decimal(str(self._spread_bps[symbol])) / Decimal(10_000)
        spread = max(_round_tick(spread, tick), tick)
        bid = max(_floor_tick(last - spread / 2, tick), tick)
        size = self._sizes[symbol]
        return Quote(
            symbol, bid=bid, ask=bid + spread, last=last, close=close, bid_size=size,
            ask_size=size,
        )  # fmt: skip

    def mid(self, symbol: str) -> Decimal:
        """The midpoint of a symbol's bid and ask (what FX rates are taken at)."""
        return self._quotes[symbol].mid

    def symbols(self) -> list[str]:
        """Every quoted symbol."""
        return list(self._quotes)

    def quote(self, symbol: str) -> Quote:
        """The current quote of a symbol (KeyError if unknown)."""
        return self._quotes[symbol]

    def set_price(
        self,
        symbol: str,
        *,
        last: Decimal | None = None,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        move_pct: Decimal | None = None,
    ) -> Quote:
        """Set the last price (spread re-derived), an explicit bid/ask, or move by a percent."""
        q = self._quotes[symbol]
        if move_pct is not None:
            last = q.last * (1 + move_pct / 100)
        if bid is not None or ask is not None:
            new_bid = bid if bid is not None else q.bid
            new_ask = ask if ask is not None else q.ask
            if new_ask < new_bid:
                raise ValueError(f"{symbol}: ask {new_ask} is below bid {new_bid}")
            new_last = last if last is not None else (new_bid + new_ask) / 2
            tick = self._ticks[symbol]
            q = replace(q, bid=new_bid, ask=new_ask, last=_round_tick(new_last, tick))
        elif last is not None:
            if last <= 0:
                raise ValueError(f"{symbol}: price must be positive, got {last}")
            q = self._quote_around(symbol, last, close=q.close)
        self._quotes[symbol] = q
        return q

    def step(self) -> list[Quote]:
        """Advance the random walk by one step; return the quotes that changed."""
        if self._spec.model == "static":
            return []
        changed: list[Quote] = []
        sigma = self._spec.volatility_bps / 10_000
        for symbol, q in self._quotes.items():
            factor = Decimal(str(math.exp(self._rng.gauss(0.0, sigma))))
            new = self._quote_around(symbol, q.last * factor, close=q.close)
            if new != q:
                self._quotes[symbol] = new
                changed.append(new)
        return changed

    def print_trades(self, symbols: set[str]) -> dict[str, Decimal]:
        """A trade of the last size at the last price on each symbol; the day's volumes."""
        for symbol in symbols:
            self._volume[symbol] += self._quotes[symbol].last_size
        return {s: self._volume[s] for s in symbols}
