"""Quantities, commissions and the cash-bounded sizing of buys.

Buys are sized so that the plan never spends money it does not have: the budget is the
cash after sells, less the buffer and every estimated commission. When the buys want more,
each is scaled down by the same factor and floored to its quantity step, the money left is
handed out again (largest shortfall first), and a buy that falls below the minimums is
dropped and its money given to the others. The result cannot be improved by one more step
of any buy, which is what makes planning again after execution an empty plan.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import NamedTuple

from shared.policy import PlanningPolicy

ZERO = Decimal(0)


def round_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """Round to the nearest multiple of ``step`` (half to even: 0.5 share rounds to 0)."""
    return (quantity / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def floor_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of ``step``."""
    return (quantity / step).to_integral_value(rounding=ROUND_FLOOR) * step


def commission(quantity: Decimal, policy: PlanningPolicy) -> Decimal:
    """Estimate the commission of one order: per share, with the minimum per order."""
    if quantity == 0:
        return ZERO
    return max(policy.commission_minimum, policy.commission_per_share * abs(quantity))


class BuyDemand(NamedTuple):
    """A buy the plan wants: ``quantity`` at ``unit_cost`` (price used against the budget)."""

    symbol: str
    quantity: Decimal
    unit_cost: Decimal
    step: Decimal


def passes_minimums(quantity: Decimal, price: Decimal, policy: PlanningPolicy) -> bool:
    """Return whether a leg is big enough to send (shares and value)."""
    return (
        quantity > 0
        and quantity >= policy.min_share_diff
        and quantity * price >= policy.min_order_value
    )


def _cost(quantity: Decimal, demand: BuyDemand, policy: PlanningPolicy) -> Decimal:
    # commission() inlined: this runs several times per buy.
    if quantity == 0:
        return quantity * demand.unit_cost + ZERO
    fee = max(policy.commission_minimum, policy.commission_per_share * abs(quantity))
    return quantity * demand.unit_cost + fee


def _max_affordable(available: Decimal, demand: BuyDemand, policy: PlanningPolicy) -> Decimal:
    """Largest quantity whose cost fits ``available``: q*p + max(min, c*q) <= available."""
    if available <= 0:
        return ZERO
    by_minimum = (available - policy.commission_minimum) / demand.unit_cost
    by_rate = available / (demand.unit_cost + policy.commission_per_share)
    best = floor_to_step(min(by_minimum, by_rate, demand.quantity), demand.step)
    return max(best, ZERO)


def _fill(demands: list[BuyDemand], budget: Decimal, policy: PlanningPolicy) -> dict[str, Decimal]:
    """Scale ``demands`` into ``budget`` and top up with what is left (no minimums here)."""
    minimum, per_share = policy.commission_minimum, policy.commission_per_share
    # commission() inlined: this runs per buy.
    fixed = sum(
        (max(minimum, per_share * abs(d.quantity)) if d.quantity != 0 else ZERO for d in demands),
        ZERO,
    )
    variable = sum((d.quantity * d.unit_cost for d in demands), ZERO)
    if fixed + variable <= budget:
        return {d.symbol: d.quantity for d in demands}
    # Commissions only shrink with the quantity, so paying the full ones leaves a safe factor.
    factor = max(ZERO, (budget - fixed) / variable) if variable > 0 else ZERO
    chosen = {
        d.symbol: (d.quantity * factor / d.step).to_integral_value(rounding=ROUND_FLOOR) * d.step
        for d in demands
    }
    left = budget - sum((_cost(chosen[d.symbol], d, policy) for d in demands), ZERO)
    by_shortfall = sorted(
        demands, key=lambda d: (-(d.quantity - chosen[d.symbol]) * d.unit_cost, d.symbol)
    )
    for demand in by_shortfall:
        current = chosen[demand.symbol]
        if current >= demand.quantity:
            continue
        spent = _cost(current, demand, policy)
        best = _max_affordable(left + spent, demand, policy)
        if best > current:
            left -= _cost(best, demand, policy) - spent
            chosen[demand.symbol] = best
    return chosen


def allocate_buys(
    demands: list[BuyDemand], budget: Decimal, policy: PlanningPolicy
) -> dict[str, Decimal]:
    """Return each buy's quantity within ``budget`` (0 when it had to be dropped)."""
    active = [d for d in demands if d.quantity > 0]
    dropped: list[BuyDemand] = []
    chosen: dict[str, Decimal] = {}
    while active:
        chosen = _fill(active, budget, policy)
        small = [d for d in active if not passes_minimums(chosen[d.symbol], d.unit_cost, policy)]
        if not small:
            break
        dropped.extend(small)
        active = [d for d in active if d not in small]
        chosen = {}
    result = {d.symbol: chosen.get(d.symbol, ZERO) for d in demands}
    # Money left after the survivors may still pay for a dropped buy on its own.
    left = budget - sum((_cost(result[d.symbol], d, policy) for d in demands), ZERO)
    for demand in sorted(dropped, key=lambda d: (-d.quantity * d.unit_cost, d.symbol)):
        best = _max_affordable(left, demand, policy)
        if passes_minimums(best, demand.unit_cost, policy):
            result[demand.symbol] = best
            left -= _cost(best, demand, policy)
    return result
