"""Number formatting and rounding for the sentences and figures of plans (no floats, no locale)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

# Built once: parsing a Decimal literal on every call was a visible share of a plan's time.
CENT = Decimal("0.01")
TEN_THOUSANDTH = Decimal("0.0001")
_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(9)}


def fmt(value: Decimal, places: int = 2) -> str:
    """Return ``value`` rounded to ``places`` decimals, with thousands separators."""
    quantum = _QUANTA.get(places) or Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_EVEN):,}"


def money(value: Decimal) -> Decimal:
    """Round an amount of money to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def ratio(value: Decimal) -> Decimal:
    """Round a percentage or ratio to four decimals."""
    return value.quantize(TEN_THOUSANDTH, rounding=ROUND_HALF_EVEN)
