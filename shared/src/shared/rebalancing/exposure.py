"""Valuation prices, gross exposure and leverage: the figures the plan, the risk gate and the
reports all print, computed one way.

Gross exposure is the sum of the absolute values of the positions. After a trade it is
recomputed position by position (``|quantity + change| * price``), not as ``gross + buys -
sells``, which is wrong as soon as a short is held or a sell crosses zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
TWO = Decimal(2)


def usable(price: Decimal | None) -> Decimal | None:
    """Return ``price`` if it can be traded on or valued with (finite, above zero), else None."""
    if price is None or not price.is_finite() or price <= 0:
        return None
    return price


def valuation_price(
    bid: Decimal | None, ask: Decimal | None, last: Decimal | None, close: Decimal | None
) -> Decimal | None:
    """The price to value a holding with: the mid of a sound quote, else last, else close."""
    if (
        bid is not None
        and ask is not None
        and bid.is_finite()
        and ask.is_finite()
        and bid > 0
        and ask >= bid
    ):
        return (bid + ask) / TWO
    return usable(last) or usable(close)


@dataclass(frozen=True)
class Exposure:
    """Holdings valued once: ``symbol -> (quantity, price)``, plus value held outside them."""

    holdings: Mapping[str, tuple[Decimal, Decimal]]
    other: Decimal = ZERO
    """Absolute value of holdings that no trade changes (valued elsewhere)."""
    gross: Decimal = field(init=False)

    def __post_init__(self) -> None:
        total = self.other + sum((abs(q * p) for q, p in self.holdings.values()), ZERO)
        object.__setattr__(self, "gross", total)

    def after(self, change: Mapping[str, Decimal], prices: Mapping[str, Decimal]) -> Decimal:
        """Gross exposure once quantities move by ``change`` (``prices`` for symbols not held)."""
        total = self.gross
        for symbol, delta in change.items():
            held = self.holdings.get(symbol)
            if held is not None:
                quantity, price = held
                total += abs((quantity + delta) * price) - abs(quantity * price)
            else:
                price_of_new = prices.get(symbol)
                if price_of_new is not None:
                    total += abs(delta * price_of_new)
        return total


def leverage(gross: Decimal, net_liquidation: Decimal) -> Decimal | None:
    """Gross exposure over net liquidation (None when the account has nothing)."""
    return gross / net_liquidation if net_liquidation > 0 else None
