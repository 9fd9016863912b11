"""IB positions, account values and tickers -> positions, account and price messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from ib_async import AccountValue, Contract, PortfolioItem, Ticker
from ib_async import Position as IbPosition

from gateway_bridge.parsing.numbers import decimal_or_none, price_or_none, quantity
from gateway_bridge.validation import InstrumentRules
from shared.contracts.account import AccountSnapshot
from shared.contracts.portfolio import Quote
from shared.contracts.positions import Position
from shared.contracts.prices import MarketDataType, PriceUpdated

MARKET_DATA_TYPE: dict[int, MarketDataType] = {
    1: MarketDataType.LIVE,
    2: MarketDataType.FROZEN,
    3: MarketDataType.DELAYED,
    4: MarketDataType.DELAYED_FROZEN,
}

ACCOUNT_TAGS: dict[str, str] = {
    "NetLiquidation": "net_liquidation",
    "TotalCashValue": "total_cash",
    "BuyingPower": "buying_power",
    "ExcessLiquidity": "excess_liquidity",
    "GrossPositionValue": "gross_position_value",
    "RealizedPnL": "realized_pnl",
    "UnrealizedPnL": "unrealized_pnl",
}
"""IB account tags (in the account's base currency) -> AccountSnapshot fields."""

RATE_TAG = "ExchangeRate"
"""Per currency: one unit's value in the base currency (IB sends 1.00 for the base)."""

CASH_TAG = "CashBalance"
"""Per-currency cash; IB also sends a 'BASE' line, the total in the base currency."""


def position_of(item: IbPosition | PortfolioItem) -> Position:
    """Return our Position for an IB position (or a richer portfolio item)."""
    if isinstance(item, PortfolioItem):
        return Position(
            symbol=item.contract.symbol,
            con_id=item.contract.conId or None,
            currency=item.contract.currency or "USD",
            quantity=quantity(item.position),
            average_cost=decimal_or_none(item.averageCost) or Decimal(0),
            market_price=price_or_none(item.marketPrice),
            market_value=decimal_or_none(item.marketValue),
            unrealized_pnl=decimal_or_none(item.unrealizedPNL),
            realized_pnl=decimal_or_none(item.realizedPNL),
        )
    return Position(
        symbol=item.contract.symbol,
        con_id=item.contract.conId or None,
        currency=item.contract.currency or "USD",
        quantity=quantity(item.position),
        average_cost=decimal_or_none(item.avgCost) or Decimal(0),
    )


def account_fields(
    values: Iterable[AccountValue],
) -> tuple[str, dict[str, Decimal], dict[str, Decimal]]:
    """Return (base currency, snapshot fields, cash by currency) from IB account values."""
    fields: dict[str, Decimal] = {}
    cash: dict[str, Decimal] = {}
    base = "USD"
    for value in values:
        if value.modelCode:
            continue
        if value.tag == CASH_TAG and value.currency and value.currency != "BASE":
            amount = decimal_or_none(value.value)
            if amount is not None:
                cash[value.currency] = amount
            continue
        name = ACCOUNT_TAGS.get(value.tag)
        if name is None or value.currency == "BASE":
            continue
        amount = decimal_or_none(value.value)
        if amount is not None:
            fields[name] = amount
            if value.tag == "NetLiquidation" and value.currency:
                base = value.currency
    return base, fields, cash


def exchange_rates(values: Iterable[AccountValue]) -> dict[str, Decimal]:
    """IB's ExchangeRate per currency (the BASE line and unusable values left out)."""
    rates: dict[str, Decimal] = {}
    for value in values:
        if value.modelCode or value.tag != RATE_TAG or value.currency in ("", "BASE"):
            continue
        rate = decimal_or_none(value.value)
        if rate is not None and rate > 0:
            rates[value.currency] = rate
    return rates


def is_cash_position(item: IbPosition | PortfolioItem) -> bool:
    """An FX position (secType CASH): its value is in the cash balances already."""
    return item.contract.secType == "CASH"


def account_snapshot(
    account: str,
    values: Iterable[AccountValue],
    source: str,
    daily_pnl: Decimal | None = None,
) -> AccountSnapshot | None:
    """Return an AccountSnapshot, or None until IB sent net liquidation and total cash."""
    values = list(values)
    base, fields, cash = account_fields(values)
    if "net_liquidation" not in fields or "total_cash" not in fields:
        return None
    return AccountSnapshot(
        source=source,
        account_id=account,
        currency=base,
        cash_by_currency=cash or {base: fields["total_cash"]},
        exchange_rates=exchange_rates(values),
        daily_pnl=daily_pnl,
        **fields,
    )


def has_price(ticker: Ticker) -> bool:
    """Return whether a ticker holds any usable price (bid, ask, last or close)."""
    return any(
        price_or_none(v) is not None for v in (ticker.bid, ticker.ask, ticker.last, ticker.close)
    )


def price_updated(ticker: Ticker, source: str, now: datetime) -> PriceUpdated | None:
    """Return PriceUpdated for a ticker, or None when it holds no usable price."""
    if ticker.contract is None or not has_price(ticker):
        return None
    return PriceUpdated(
        source=source,
        ts_event=ticker.time or now,
        ts_init=now,
        symbol=symbol_of(ticker.contract),
        con_id=ticker.contract.conId or None,
        bid=price_or_none(ticker.bid),
        ask=price_or_none(ticker.ask),
        last=price_or_none(ticker.last),
        close=price_or_none(ticker.close),
        market_data_type=MARKET_DATA_TYPE.get(ticker.marketDataType, MarketDataType.LIVE),
    )


def symbol_of(contract: Contract) -> str:
    """Our name of a contract: its symbol, or ``EUR.USD`` for an FX pair."""
    if contract.secType == "CASH" and contract.symbol and contract.currency:
        return f"{contract.symbol}.{contract.currency}"
    return contract.symbol


def quote_of(
    symbol: str,
    ticker: Ticker | None,
    min_increment: Decimal | None = None,
    rules: InstrumentRules | None = None,
) -> Quote:
    """Return a Quote; a ticker without a usable price is a 'missing' quote, never a zero."""
    listing: dict[str, Any] = {}
    if rules is not None:
        listing = {
            "currency": rules.currency,
            "price_magnifier": rules.price_magnifier,
            "sec_type": rules.sec_type,
        }
    if ticker is None or not has_price(ticker):
        return Quote(
            symbol=symbol,
            con_id=(ticker.contract.conId or None) if ticker and ticker.contract else None,
            status="missing",
            min_quantity_increment=min_increment,
            **listing,
        )
    return Quote(
        symbol=symbol,
        con_id=ticker.contract.conId or None if ticker.contract else None,
        status="ok",
        bid=price_or_none(ticker.bid),
        ask=price_or_none(ticker.ask),
        last=price_or_none(ticker.last),
        close=price_or_none(ticker.close),
        market_data_type=MARKET_DATA_TYPE.get(ticker.marketDataType, MarketDataType.LIVE),
        as_of=ticker.time,
        min_quantity_increment=min_increment,
        **listing,
    )


def live_price(ticker: Ticker | None) -> Decimal | None:
    """Return a ticker's best price: the midpoint, else the last trade, else the close."""
    if ticker is None:
        return None
    bid, ask = price_or_none(ticker.bid), price_or_none(ticker.ask)
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    return price_or_none(ticker.last) or price_or_none(ticker.close)


def position_value(position: Position, ticker: Ticker | None, magnifier: int = 1) -> Decimal | None:
    """Return a position's market value in its currency: at the live price (a pence quote in
    pounds), else as IB valued it, else None."""
    live = live_price(ticker)
    if live is not None:
        return position.quantity * live / magnifier
    if position.market_price is not None:
        return position.quantity * position.market_price
    return position.market_value
