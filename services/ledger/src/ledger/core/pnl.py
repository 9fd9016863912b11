"""PnL per position and per account, from positions, prices and the ledger's trades.

Per position (money rounded to the cent, half to even, then summed, so the account totals
are exactly the sum of their positions and realized + unrealized = total everywhere):

* **market price**: the newest of the live quote (midpoint, else last, else close) and the
  price IB put on the position;
* **unrealized**: IB's figure when it is at least as new as the price (it then describes the
  current quantity: reqPnLSingle, or a portfolio update), else
  quantity x (market price - average cost); None without any price;
* **realized**: the sum of IB's realized PnL (net of commission, from each commission report)
  over the ledger's trades of the symbol; ``realized_today`` over today's trades;
* **daily**: IB's figure when fresh, else the change in value since the previous close:
  ``quantity x price - quantity at the start of the day x previous close + cash of today's
  trades - today's commissions``, the start quantity being today's position less today's
  trades. None when a needed price is missing;
* **total**: realized + unrealized.

Per account, in its base currency (positions in other currencies are listed apart, never
converted): realized, unrealized and total are sums over its positions (closed symbols
included, for their realized PnL); daily is the sum of the positions' daily PnL when every
one is known, else IB's account daily PnL (reqPnL).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from ledger.core.positions import HeldPosition
from ledger.core.trades import RealizedTotal, TradeRecord
from shared.contracts.account import AccountSnapshot
from shared.contracts.base import Side
from shared.contracts.ledger import (
    AccountDailySource,
    AccountPnl,
    DailySource,
    PositionPnl,
    UnrealizedSource,
)
from shared.contracts.positions import Position
from shared.contracts.prices import PriceUpdated

CENT = Decimal("0.01")
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    """Round to the cent, half to even."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class LatestPrice:
    """The newest quote of a symbol: its best price and IB's previous close."""

    symbol: str
    price: Decimal | None
    close: Decimal | None
    as_of: datetime


def best_price(
    bid: Decimal | None, ask: Decimal | None, last: Decimal | None, close: Decimal | None
) -> Decimal | None:
    """The midpoint when both sides are quoted, else the last trade, else the close."""
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    return last if last is not None else close


def latest_price(event: PriceUpdated) -> LatestPrice:
    """Return what the ledger keeps of a PriceUpdated."""
    return LatestPrice(
        symbol=event.symbol,
        price=best_price(event.bid, event.ask, event.last, event.close),
        close=event.close,
        as_of=event.ts_event,
    )


def newer_price(held: LatestPrice | None, event: LatestPrice) -> LatestPrice:
    """Keep the newer of two quotes; a quote without a price never hides one with it."""
    if held is None or event.as_of >= held.as_of:
        if event.price is None and held is not None and held.price is not None:
            return LatestPrice(event.symbol, held.price, event.close or held.close, event.as_of)
        return event
    return held


@dataclass(frozen=True)
class _Today:
    quantity: Decimal = ZERO
    cash: Decimal = ZERO
    commissions: Decimal = ZERO
    realized: Decimal = ZERO


def _today_by_symbol(trades: Iterable[TradeRecord]) -> dict[str, _Today]:
    found: dict[str, _Today] = {}
    for t in trades:
        day = found.get(t.fill.symbol, _Today())
        cash = -t.value if t.fill.side == Side.BUY else t.value
        found[t.fill.symbol] = _Today(
            quantity=day.quantity + t.signed_quantity,
            cash=day.cash + cash,
            commissions=day.commissions + (t.commission or ZERO),
            realized=day.realized + (t.realized_pnl or ZERO),
        )
    return found


def _daily(
    position: Position | None,
    quantity: Decimal,
    price: Decimal | None,
    quote: LatestPrice | None,
    today: _Today,
    ib_fresh: bool,
) -> tuple[Decimal | None, DailySource | None]:
    """Today's PnL: IB's figure when fresh, else the value now minus the value at the last
    close of what was held at the day's start, plus today's trading cash and commissions."""
    if position is not None and position.daily_pnl is not None and ib_fresh:
        return money(position.daily_pnl), "ib"
    start_quantity = quantity - today.quantity
    close = quote.close if quote else None
    end_value = quantity * price if price is not None else (ZERO if quantity == 0 else None)
    start_value = (
        ZERO if start_quantity == 0 else (start_quantity * close if close is not None else None)
    )
    if end_value is None or start_value is None:
        return None, None
    return money(end_value - start_value + today.cash - today.commissions), "computed"


def _unrealized(
    position: Position | None, quantity: Decimal, price: Decimal | None, ib_fresh: bool
) -> tuple[Decimal | None, UnrealizedSource | None]:
    """Unrealized PnL: IB's figure when fresh, else from the price and the average cost."""
    if quantity == 0:
        return ZERO, None
    if position is not None and position.unrealized_pnl is not None and ib_fresh:
        return money(position.unrealized_pnl), "ib"
    if position is not None and price is not None:
        return money(quantity * (price - position.average_cost)), "price"
    return None, None


def position_pnl(
    held: HeldPosition | None,
    symbol: str,
    currency: str,
    quote: LatestPrice | None,
    total: RealizedTotal | None,
    today: _Today,
) -> PositionPnl:
    """PnL of one symbol of an account (held now, or closed with realized PnL)."""
    position = held.position if held else None
    quantity = position.quantity if position else ZERO
    ib_fresh = held is not None and (quote is None or held.as_of >= quote.as_of)
    price, price_as_of = None, None
    if quote is not None and quote.price is not None:
        price, price_as_of = quote.price, quote.as_of
    if position is not None and position.market_price is not None and (ib_fresh or price is None):
        price, price_as_of = position.market_price, held.as_of if held else None

    unrealized, unrealized_source = _unrealized(position, quantity, price, ib_fresh)
    market_value = None
    if price is not None:
        market_value = money(quantity * price)
    elif position is not None and position.market_value is not None:
        market_value = money(position.market_value)
    daily, daily_source = _daily(position, quantity, price, quote, today, ib_fresh)

    realized = money(total.realized_pnl) if total else ZERO
    return PositionPnl(
        symbol=symbol,
        currency=currency,
        quantity=quantity,
        average_cost=position.average_cost if position else ZERO,
        market_price=price,
        price_as_of=price_as_of,
        market_value=market_value,
        unrealized_pnl=unrealized,
        unrealized_source=unrealized_source,
        realized_pnl=realized,
        realized_today=money(today.realized),
        daily_pnl=daily,
        daily_source=daily_source,
        total_pnl=None if unrealized is None else realized + unrealized,
        commissions=money(total.commissions) if total else ZERO,
        trades=total.trades if total else 0,
    )


def account_pnl(
    account_id: str,
    held: Iterable[HeldPosition],
    prices: Mapping[str, LatestPrice],
    totals: Iterable[RealizedTotal],
    today: Iterable[TradeRecord],
    snapshot: AccountSnapshot | None,
) -> AccountPnl:
    """PnL of one account: every symbol it holds or traded, and totals in its base currency."""
    base = snapshot.currency if snapshot else "USD"
    by_symbol = {h.position.symbol: h for h in held}
    realized = {t.symbol: t for t in totals}
    todays = _today_by_symbol(today)
    symbols = sorted(set(by_symbol) | set(realized) | set(todays))
    positions = []
    for symbol in symbols:
        h = by_symbol.get(symbol)
        currency = h.position.currency if h else base
        positions.append(
            position_pnl(
                h,
                symbol,
                currency,
                prices.get(symbol),
                realized.get(symbol),
                todays.get(symbol, _Today()),
            )
        )
    in_base = [p for p in positions if p.currency == base]
    unpriced = tuple(p.symbol for p in in_base if p.unrealized_pnl is None)
    realized_sum = sum((p.realized_pnl for p in in_base), ZERO)
    unrealized_sum = sum((p.unrealized_pnl or ZERO for p in in_base), ZERO)
    dailies = [p.daily_pnl for p in in_base]
    daily: Decimal | None
    daily_source: AccountDailySource | None
    ib_daily = money(snapshot.daily_pnl) if snapshot and snapshot.daily_pnl is not None else None
    if all(d is not None for d in dailies) and in_base:
        daily = sum((d or ZERO for d in dailies), ZERO)
        daily_source = "positions"
    elif ib_daily is not None:
        daily, daily_source = ib_daily, "ib"
    else:
        daily, daily_source = None, None
    return AccountPnl(
        account_id=account_id,
        currency=base,
        realized_pnl=realized_sum,
        unrealized_pnl=unrealized_sum,
        total_pnl=realized_sum + unrealized_sum,
        daily_pnl=daily,
        daily_source=daily_source,
        complete=not unpriced,
        unpriced=unpriced,
        other_currencies=tuple(sorted({p.currency for p in positions} - {base})),
        net_liquidation=snapshot.net_liquidation if snapshot else None,
        ib_unrealized_pnl=snapshot.unrealized_pnl if snapshot else None,
        ib_realized_pnl=snapshot.realized_pnl if snapshot else None,
        ib_daily_pnl=ib_daily,
        positions=tuple(positions),
        positions_as_of=max((h.as_of for h in by_symbol.values()), default=None),
    )
