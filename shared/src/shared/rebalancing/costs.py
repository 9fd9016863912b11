"""Quantity steps, commission estimates and the one sizer of buys under a cash budget.

The planner sizes buys from the cash a plan expects after its sells; the executor sizes the
same buys again from the cash the account really has once the sells filled. Both call
:func:`allocate_buys`, so a buy is never planned by one rule and sent by another.

When the buys want more than the budget, each is scaled down by the same factor and floored
to its quantity step, the money left is handed out again (largest shortfall first), and a
buy that falls below the minimums (shares and value) is dropped and its money given to the
others. The result never costs more than the budget and cannot be improved by one more step
of any buy, which is what makes planning again after execution an empty plan.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import NamedTuple, Protocol

ZERO = Decimal(0)


class CostTerms(Protocol):
    """What sizing needs from a policy (``PlanningPolicy`` and ``SizingTerms`` both have it)."""

    @property
    def commission_per_share(self) -> Decimal: ...

    @property
    def commission_minimum(self) -> Decimal: ...

    @property
    def min_order_value(self) -> Decimal: ...

    @property
    def min_share_diff(self) -> Decimal: ...


def round_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """Round to the nearest multiple of ``step`` (half to even: 0.5 share rounds to 0)."""
    return (quantity / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def floor_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of ``step``."""
    return (quantity / step).to_integral_value(rounding=ROUND_FLOOR) * step


def commission(quantity: Decimal, terms: CostTerms) -> Decimal:
    """Estimate the commission of one order: per share, with the minimum per order (IBKR fixed)."""
    if quantity == 0:
        return ZERO
    return max(terms.commission_minimum, terms.commission_per_share * abs(quantity))


class BuyDemand(NamedTuple):
    """A buy wanted: ``quantity`` at ``unit_cost`` (the price used against the budget)."""

    key: str
    quantity: Decimal
    unit_cost: Decimal
    step: Decimal


def passes_minimums(quantity: Decimal, price: Decimal, terms: CostTerms) -> bool:
    """Return whether an order is big enough to send (shares and value)."""
    return (
        quantity > 0
        and quantity >= terms.min_share_diff
        and quantity * price >= terms.min_order_value
    )


def buy_cost(quantity: Decimal, unit_cost: Decimal, terms: CostTerms) -> Decimal:
    """Cash one buy needs: its value plus its commission estimate."""
    return quantity * unit_cost + commission(quantity, terms)


def _max_affordable(available: Decimal, demand: BuyDemand, terms: CostTerms) -> Decimal:
    """Largest quantity whose cost fits ``available``: q*p + max(min, c*q) <= available."""
    if available <= 0:
        return ZERO
    by_minimum = (available - terms.commission_minimum) / demand.unit_cost
    by_rate = available / (demand.unit_cost + terms.commission_per_share)
    best = floor_to_step(min(by_minimum, by_rate, demand.quantity), demand.step)
    return max(best, ZERO)


def _fill(demands: list[BuyDemand], budget: Decimal, terms: CostTerms) -> dict[str, Decimal]:
    """Scale ``demands`` into ``budget`` and top up with what is left (no minimums here)."""
    fixed = sum((commission(d.quantity, terms) for d in demands), ZERO)
    variable = sum((d.quantity * d.unit_cost for d in demands), ZERO)
    if fixed + variable <= budget:
        return {d.key: d.quantity for d in demands}
    # Commissions only shrink with the quantity, so paying the full ones leaves a safe factor.
    factor = max(ZERO, (budget - fixed) / variable) if variable > 0 else ZERO
    chosen = {d.key: floor_to_step(d.quantity * factor, d.step) for d in demands}
    left = budget - sum((buy_cost(chosen[d.key], d.unit_cost, terms) for d in demands), ZERO)
    by_shortfall = sorted(
        demands, key=lambda d: (-(d.quantity - chosen[d.key]) * d.unit_cost, d.key)
    )
    for demand in by_shortfall:
        current = chosen[demand.key]
        if current >= demand.quantity:
            continue
        spent = buy_cost(current, demand.unit_cost, terms)
        best = _max_affordable(left + spent, demand, terms)
        if best > current:
            left -= buy_cost(best, demand.unit_cost, terms) - spent
            chosen[demand.key] = best
    return chosen


def allocate_buys(
    demands: list[BuyDemand], budget: Decimal, terms: CostTerms
) -> dict[str, Decimal]:
    """Return each buy's quantity within ``budget`` (0 when it had to be dropped)."""
    active = [d for d in demands if d.quantity > 0]
    dropped: list[BuyDemand] = []
    chosen: dict[str, Decimal] = {}
    while active:
        chosen = _fill(active, budget, terms)
        small = [d for d in active if not passes_minimums(chosen[d.key], d.unit_cost, terms)]
        if not small:
            break
        dropped.extend(small)
        active = [d for d in active if d not in small]
        chosen = {}
    result = {d.key: chosen.get(d.key, ZERO) for d in demands}
    # Money left after the survivors may still pay for a dropped buy on its own.
    left = budget - sum((buy_cost(result[d.key], d.unit_cost, terms) for d in demands), ZERO)
    for demand in sorted(dropped, key=lambda d: (-d.quantity * d.unit_cost, d.key)):
        best = _max_affordable(left, demand, terms)
        if passes_minimums(best, demand.unit_cost, terms):
            result[demand.key] = best
            left -= buy_cost(best, demand.unit_cost, terms)
    return result
