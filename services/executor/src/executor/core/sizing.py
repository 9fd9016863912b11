"""Size the buys from the cash actually available after the sells (never over-spend)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class BuyIntent:
    """A planned buy: quantity wanted and the price it will likely cost per unit."""

    leg: int
    quantity: Decimal
    price: Decimal
    increment: Decimal = Decimal(1)


def estimated_commission(quantity: Decimal, per_share: Decimal, minimum: Decimal) -> Decimal:
    """IBKR-style fixed commission estimate (per share, with a minimum)."""
    if quantity <= 0:
        return Decimal(0)
    return max(quantity * per_share, minimum)


def cost(
    quantity: Decimal,
    price: Decimal,
    per_share: Decimal = Decimal(0),
    minimum: Decimal = Decimal(0),
) -> Decimal:
    """Cash one buy needs: value plus its commission estimate."""
    return quantity * price + estimated_commission(quantity, per_share, minimum)


def size_buys(
    buys: list[BuyIntent],
    budget: Decimal,
    *,
    per_share: Decimal = Decimal("0.005"),
    minimum: Decimal = Decimal("1"),
) -> dict[int, Decimal]:
    """Return leg -> quantity so that the buys' total cost fits ``budget``.

    All buys are scaled by the same factor when the cash falls short (keeping the plan's
    proportions), floored to each leg's increment; then, while still over budget (the
    commission minimums), the largest leg gives up one increment at a time. A leg sized to
    zero is kept in the result as zero, so the caller reports it as skipped.
    """
    wanted = sum((cost(b.quantity, b.price, per_share, minimum) for b in buys), Decimal(0))
    if budget <= 0:
        return {b.leg: Decimal(0) for b in buys}
    if wanted <= budget:
        return {b.leg: b.quantity for b in buys}
    factor = budget / wanted
    sized = {b.leg: _floor(b.quantity * factor, b.increment) for b in buys}
    by_leg = {b.leg: b for b in buys}

    def total() -> Decimal:
        return sum(
            (cost(q, by_leg[leg].price, per_share, minimum) for leg, q in sized.items()),
            Decimal(0),
        )

    while total() > budget:
        leg = max(
            (leg for leg, q in sized.items() if q > 0), key=lambda n: sized[n] * by_leg[n].price
        )
        sized[leg] = max(Decimal(0), sized[leg] - by_leg[leg].increment)
    # Flooring left up to one increment per leg unspent: give it back where it still fits,
    # largest shortfall first.
    for b in sorted(buys, key=lambda b: (b.quantity - sized[b.leg]) * b.price, reverse=True):
        if sized[b.leg] + b.increment <= b.quantity:
            sized[b.leg] += b.increment
            if total() > budget:
                sized[b.leg] -= b.increment
    return sized


def _floor(quantity: Decimal, increment: Decimal) -> Decimal:
    steps = (quantity / increment).to_integral_value(rounding=ROUND_FLOOR)
    return steps * increment
