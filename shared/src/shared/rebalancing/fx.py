"""Currencies: amounts in the base currency, IB's FX pairs, and the size of an FX leg.

IB reports, per currency, ``ExchangeRate``: what one unit is worth in the account's base
currency (1 for the base itself). Every amount is valued with it, so the planner, the risk
gate and the reports compare like with like. An FX pair is named as IB names it,
``<base>.<quote>`` (EUR.USD, USD.CAD, GBP.USD): quantities are in its first currency, prices
in its second. Which currency comes first follows the market's convention
(:data:`PAIR_ORDER`); the pair's price follows from the two rates.

An FX leg buys what a currency's buys need beyond the cash it has, plus a buffer
(``fx_buffer_pct``), so a price move between the FX fill and the buys cannot leave the
currency negative. The planner sizes it from the cash it expects after the sells; the
executor again from the cash that is there once they filled, with :func:`fx_need` and
:func:`fx_order` both times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import NamedTuple

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
FX_SIZE_STEP = Decimal("0.01")
"""IDEALPRO's size increment (cents of the pair's first currency)."""
FX_PRICE_PLACES = Decimal("0.00001")

PAIR_ORDER = (
    "EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF", "NOK", "SEK", "DKK", "CZK", "HUF", "PLN",
    "ILS", "ZAR", "MXN", "SGD", "HKD", "CNH", "KRW", "JPY",
)  # fmt: skip
"""Which currency IB puts first in a pair (EUR.USD, GBP.USD, USD.CAD, USD.JPY, EUR.GBP)."""

FX_SYMBOL = re.compile(r"^([A-Z]{3})\.([A-Z]{3})$")


class FxPair(NamedTuple):
    """An FX pair: ``symbol`` is ``<base>.<quote>``."""

    base: str
    quote: str

    @property
    def symbol(self) -> str:
        """IB's local symbol of the pair (EUR.USD)."""
        return f"{self.base}.{self.quote}"


def fx_pair_of(symbol: str) -> FxPair | None:
    """The pair a symbol names (``EUR.USD``), or None when it is not an FX pair's name."""
    found = FX_SYMBOL.match(symbol)
    return FxPair(found.group(1), found.group(2)) if found else None


def _rank(currency: str) -> tuple[int, str]:
    return (PAIR_ORDER.index(currency) if currency in PAIR_ORDER else len(PAIR_ORDER), currency)


def fx_pair(one: str, other: str) -> FxPair:
    """The pair IB trades between two currencies, in the market's order."""
    first, second = sorted((one, other), key=_rank)
    return FxPair(first, second)


def rate_of(currency: str, base: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    """One unit of ``currency`` in ``base`` (1 for the base itself), or None when unknown."""
    if currency == base:
        return ONE
    rate = rates.get(currency)
    if rate is None or not rate.is_finite() or rate <= 0:
        return None
    return rate


def pair_price(pair: FxPair, base: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    """The pair's price (units of its quote per unit of its base) from the account's rates."""
    first, second = rate_of(pair.base, base, rates), rate_of(pair.quote, base, rates)
    if first is None or second is None:
        return None
    return (first / second).quantize(FX_PRICE_PLACES)


def fx_need(costs: Decimal, cash: Decimal, buffer_pct: Decimal) -> Decimal:
    """What to buy of a currency whose buys cost ``costs`` and which holds ``cash`` (0: none)."""
    short = costs - cash
    if short <= 0:
        return ZERO
    return short * (ONE + buffer_pct / HUNDRED)


class FxOrder(NamedTuple):
    """One FX order: ``side`` and ``quantity`` are in the pair's first currency."""

    pair: FxPair
    side: str
    quantity: Decimal
    price: Decimal


def fx_order(buy: str, amount: Decimal, pay: str, price: Decimal) -> FxOrder:
    """The order that buys ``amount`` of ``buy`` with ``pay`` at ``price`` (the pair's price).

    Quantities round up to IDEALPRO's cent, so at least ``amount`` is bought.
    """
    pair = fx_pair(buy, pay)
    if pair.base == buy:
        quantity = (amount / FX_SIZE_STEP).to_integral_value(rounding=ROUND_CEILING) * FX_SIZE_STEP
        return FxOrder(pair, "BUY", quantity, price)
    quantity = amount / price
    quantity = (quantity / FX_SIZE_STEP).to_integral_value(rounding=ROUND_CEILING) * FX_SIZE_STEP
    return FxOrder(pair, "SELL", quantity, price)


def bought_amount(order: FxOrder) -> Decimal:
    """How much of the currency bought the order gives at its price."""
    return order.quantity if order.side == "BUY" else order.quantity * order.price


def paid_amount(order: FxOrder) -> Decimal:
    """How much of the currency paid the order costs at its price."""
    return order.quantity * order.price if order.side == "BUY" else order.quantity
