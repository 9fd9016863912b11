"""IB numbers to Decimals: NaN, IB's "unset" sentinel and non-positive prices become None."""

from __future__ import annotations

import math
from decimal import Decimal

from ib_async.util import UNSET_DOUBLE, UNSET_INTEGER


def decimal_or_none(value: float | Decimal | str | None) -> Decimal | None:
    """Return ``value`` as a Decimal, or None for missing (None, NaN, unset, infinite, '')."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        try:
            parsed = Decimal(value)
        except ArithmeticError:
            return None
        return parsed if parsed.is_finite() else None
    if math.isnan(value) or math.isinf(value) or value in (UNSET_DOUBLE, UNSET_INTEGER):
        return None
    # repr() of a float is its shortest round-trip form: 101.2 stays 101.2, not 101.19999...
    return Decimal(repr(float(value)))


def price_or_none(value: float | Decimal | str | None) -> Decimal | None:
    """Return a usable price: NaN, unset, zero and negative are treated as missing."""
    price = decimal_or_none(value)
    return price if price is not None and price > 0 else None


def quantity(value: float | Decimal | str | None) -> Decimal:
    """Return a quantity (missing counts as zero), normalised (``100.0`` -> ``100``)."""
    parsed = decimal_or_none(value)
    if parsed is None:
        return Decimal(0)
    normal = parsed.normalize()
    # normalize() turns 100 into 1E+2; quantize back to a plain exponent.
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal
