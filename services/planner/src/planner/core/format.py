"""Number formatting for the sentences the core writes (no locale, no floats)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def fmt(value: Decimal, places: int = 2) -> str:
    """Return ``value`` rounded to ``places`` decimals, with thousands separators."""
    quantum = Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_EVEN):,}"


def money(value: Decimal) -> Decimal:
    """Round an amount of money to cents, for the messages the core returns."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def ratio(value: Decimal) -> Decimal:
    """Round a percentage or ratio to four decimals, for the messages the core returns."""
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
