"""Buys in several currencies: each currency's cash, the FX legs that fund it, what cannot be.

Amounts are in the base currency unless named ``*_native`` (in the symbol's currency).
Budgets are the plan's usual ones (cash after the sells, less the buffer and commissions, plus
allowed leverage), with the account's currency policy on top:

* ``separate``: each currency's buys are paid from that currency's own cash (plus what the
  sells in it bring); the buffer is shared out over the currencies in proportion to their
  cash, and allowed leverage only adds to the base currency. A buy that its currency cannot
  pay is reduced or dropped and the shortfall reported (``unfunded``): nothing is bought on a
  currency loan by accident.
* ``convert``: the buys share the whole budget; then, per currency other than the base, an FX
  leg buys what its buys need beyond its cash (``fx_buffer_pct`` more), paid in the base
  currency. When the base currency itself runs short, currencies with cash to spare are sold
  for it. An FX leg worth less than ``min_fx_order_value`` is not planned: that currency's
  buys are then sized from its own cash. The FX legs' commissions and buffers come out of the
  budget before the buys are sized again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from planner.core.book import Book
from planner.core.quotes import Prices
from shared.policy import PlanningPolicy
from shared.rebalancing.costs import BuyDemand, allocate_buys, commission
from shared.rebalancing.fx import (
    FxOrder,
    bought_amount,
    fx_need,
    fx_order,
    paid_amount,
    pair_price,
)

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class Line(Protocol):
    """What sizing needs of a plan line (``plan._Line``)."""

    symbol: str
    wanted: Decimal
    planned: Decimal
    step: Decimal
    skip: str | None

    @property
    def prices(self) -> Prices | None: ...


@dataclass(frozen=True)
class FxLeg:
    """One FX leg: the order, the currency it buys and its value in the base currency."""

    order: FxOrder
    buys: str
    value: Decimal


@dataclass
class Funding:
    """How the buys are paid: FX legs, shortfalls by currency, cash per currency after."""

    fx: list[FxLeg] = field(default_factory=list)
    unfunded: dict[str, Decimal] = field(default_factory=dict)
    """Currency -> value of wanted buys that no cash pays for, in that currency."""
    cash_after: dict[str, Decimal] = field(default_factory=dict)
    fx_fees: Decimal = ZERO


@dataclass(frozen=True)
class Budget:
    """The plan's budgets for its buys, in the base currency."""

    total: Decimal
    """Cash after the sells less buffer and commissions, plus allowed leverage (>= 0)."""
    buffer: Decimal
    extra: Decimal
    """What allowed leverage adds ((limit - 1) x net liquidation)."""


def _p(line: Line) -> Prices:
    assert line.prices is not None, "a line with a trade always has prices"
    return line.prices


class Flows:
    """Cash per currency (in each currency) once the sells and the buys as sized now are done."""

    def __init__(self, book: Book, sells: Sequence[Line], policy: PlanningPolicy) -> None:
        self.book = book
        self.policy = policy
        self.after_sells: dict[str, Decimal] = dict(book.cash_by_currency)
        for line in sells:
            currency = book.currency(line.symbol)
            proceeds = line.planned * self.native(line.symbol, "sell")
            fee = commission(line.planned, policy) / self.rate(currency)
            self.after_sells[currency] = self.after_sells.get(currency, ZERO) + proceeds - fee

    def rate(self, currency: str) -> Decimal:
        """One unit of ``currency`` in the base."""
        return self.book.rates[currency]

    def native(self, symbol: str, side: str) -> Decimal:
        """A symbol's price per share in its currency (a pence quote in pounds)."""
        prices = self.book.native_prices(symbol)
        price = prices.sell if side == "sell" else prices.buy
        return price / self.book.magnifier.get(symbol, 1)

    def buy_costs(self, buys: Sequence[Line]) -> dict[str, Decimal]:
        """What the buys as sized cost per currency, commissions included, in each currency."""
        costs: dict[str, Decimal] = {}
        for line in buys:
            if line.planned <= 0:
                continue
            currency = self.book.currency(line.symbol)
            cost = line.planned * self.native(line.symbol, "buy")
            cost += commission(line.planned, self.policy) / self.rate(currency)
            costs[currency] = costs.get(currency, ZERO) + cost
        return costs


def _demand(line: Line) -> BuyDemand:
    prices = _p(line)
    # unit cost: never below the valuation, so the buys cannot raise exposure past the limit
    return BuyDemand(line.symbol, line.wanted, max(prices.buy, prices.value), line.step)


def _allocate(lines: Sequence[Line], budget: Decimal, policy: PlanningPolicy) -> None:
    chosen = allocate_buys([_demand(line) for line in lines], max(ZERO, budget), policy)
    for line in lines:
        line.planned = chosen[line.symbol]


def _groups(buys: Sequence[Line], book: Book) -> dict[str, list[Line]]:
    groups: dict[str, list[Line]] = {}
    for line in buys:
        groups.setdefault(book.currency(line.symbol), []).append(line)
    return groups


def _own_budgets(
    currencies: list[str], flows: Flows, budget: Budget, *, with_buffer: bool
) -> dict[str, Decimal]:
    """Each currency's own cash after the sells, in the base, the buffer shared out."""
    book = flows.book
    own = {
        c: max(ZERO, flows.after_sells.get(c, ZERO)) * flows.rate(c) for c in currencies
    }  # fmt: skip
    if book.base in own:
        own[book.base] += budget.extra
    if with_buffer:
        held = {c: max(ZERO, v) * flows.rate(c) for c, v in flows.after_sells.items()}
        total = sum(held.values(), ZERO)
        for currency in own:
            share = budget.buffer * held.get(currency, ZERO) / total if total > 0 else ZERO
            own[currency] = max(ZERO, own[currency] - share)
    return own


def separate(
    buys: Sequence[Line], sells: Sequence[Line], book: Book, budget: Budget, policy: PlanningPolicy
) -> Funding:
    """Size each currency's buys from its own cash; report what cannot be paid."""
    flows = Flows(book, sells, policy)
    groups = _groups(buys, book)
    own = _own_budgets(list(groups), flows, budget, with_buffer=True)
    scale = min(ONE, budget.total / sum(own.values(), ZERO)) if sum(own.values(), ZERO) else ONE
    for currency, lines in groups.items():
        _allocate(lines, own[currency] * scale, policy)
    funding = Funding()
    _shortfalls(buys, flows, funding)
    _cash_after(flows, buys, funding)
    return funding


def _shortfalls(buys: Sequence[Line], flows: Flows, funding: Funding) -> None:
    for line in buys:
        if line.planned < line.wanted:
            currency = flows.book.currency(line.symbol)
            missing = (line.wanted - line.planned) * flows.native(line.symbol, "buy")
            funding.unfunded[currency] = funding.unfunded.get(currency, ZERO) + missing


def _cash_after(flows: Flows, buys: Sequence[Line], funding: Funding) -> None:
    cash = dict(flows.after_sells)
    for currency, cost in flows.buy_costs(buys).items():
        cash[currency] = cash.get(currency, ZERO) - cost
    base = flows.book.base
    for leg in funding.fx:
        order = leg.order
        bought, paid = bought_amount(order), paid_amount(order)
        got, gave = (
            (order.pair.base, order.pair.quote)
            if order.side == "BUY"
            else (order.pair.quote, order.pair.base)
        )
        cash[got] = cash.get(got, ZERO) + bought
        cash[gave] = cash.get(gave, ZERO) - paid
    cash[base] = cash.get(base, ZERO) - funding.fx_fees
    funding.cash_after = cash


def _fx_leg(
    buy: str, amount: Decimal, pay: str, book: Book, policy: PlanningPolicy
) -> FxLeg | None:
    """The FX leg buying ``amount`` of ``buy`` with ``pay``, or None below the minimum."""
    base = book.base
    pair_of = fx_order(buy, amount, pay, ONE).pair
    price = pair_price(pair_of, base, book.rates)
    if price is None:
        return None
    order = fx_order(buy, amount, pay, price)
    value = amount * book.rates[buy]
    if value < policy.min_fx_order_value or order.quantity <= 0:
        return None
    return FxLeg(order, buy, value)


def _fund_foreign(
    costs: dict[str, Decimal], flows: Flows, policy: PlanningPolicy, own_only: set[str]
) -> tuple[list[FxLeg], set[str]]:
    """FX legs buying each non-base currency's shortfall with the base; currencies whose
    leg would be under the minimum are returned to be sized from their own cash."""
    book = flows.book
    legs: list[FxLeg] = []
    small: set[str] = set()
    for currency in sorted(costs):
        if currency == book.base or currency in own_only:
            continue
        need = fx_need(costs[currency], flows.after_sells.get(currency, ZERO), policy.fx_buffer_pct)
        if need <= 0:
            continue
        leg = _fx_leg(currency, need, book.base, book, policy)
        if leg is None:
            small.add(currency)
        else:
            legs.append(leg)
    return legs, small


def _fund_base(
    costs: dict[str, Decimal],
    legs: list[FxLeg],
    flows: Flows,
    policy: PlanningPolicy,
    warnings: list[str],
) -> list[FxLeg]:
    """When the base currency is short, sell other currencies' spare cash for it."""
    book = flows.book
    base = book.base
    fees = policy.fx_commission_minimum * len(legs)
    paid = sum((_paid_in(leg, base) for leg in legs), ZERO)
    net = flows.after_sells.get(base, ZERO) - costs.get(base, ZERO) - paid - fees
    if net >= 0 or policy.leverage_limit > 1:
        return []  # with leverage allowed, a base-currency loan is the account's choice
    short = -net * (ONE + policy.fx_buffer_pct / HUNDRED)
    found: list[FxLeg] = []
    spare = {
        c: flows.after_sells.get(c, ZERO) - costs.get(c, ZERO) - _bought_of(legs, c)
        for c in flows.after_sells
        if c != base
    }
    for currency, left in sorted(spare.items(), key=lambda kv: -kv[1] * flows.rate(kv[0])):
        if short <= 0 or left <= 0:
            continue
        take = min(short, left * flows.rate(currency))
        leg = _fx_leg(base, take, currency, book, policy)
        if leg is not None:
            found.append(leg)
            short -= take
    if short > 0:
        warnings.append(
            f"{base} cash is short by about {short:.2f} after the buys and no other currency's "
            "cash covers it; the buys were sized within the account's total cash."
        )
    return found


def _paid_in(leg: FxLeg, currency: str) -> Decimal:
    order = leg.order
    if order.side == "BUY" and order.pair.quote == currency:
        return order.quantity * order.price
    if order.side == "SELL" and order.pair.base == currency:
        return order.quantity
    return ZERO


def _bought_of(legs: list[FxLeg], currency: str) -> Decimal:
    return sum((bought_amount(leg.order) for leg in legs if leg.buys == currency), ZERO)


def _size_converted(
    groups: dict[str, list[Line]],
    own_only: set[str],
    flows: Flows,
    budget: Budget,
    reserve: Decimal,
    policy: PlanningPolicy,
) -> None:
    """Size the buys: currencies in ``own_only`` from their cash, the rest from the rest."""
    own = _own_budgets(sorted(own_only), flows, budget, with_buffer=False)
    spent = ZERO
    for currency in sorted(own_only):
        lines = groups.get(currency, [])
        _allocate(lines, min(own[currency], budget.total - spent), policy)
        spent += sum((line.planned * _p(line).buy for line in lines), ZERO)
    shared = [line for c, lines in groups.items() if c not in own_only for line in lines]
    _allocate(shared, budget.total - reserve - spent, policy)


def convert(
    buys: Sequence[Line],
    sells: Sequence[Line],
    book: Book,
    budget: Budget,
    policy: PlanningPolicy,
    warnings: list[str],
) -> Funding:
    """Size the buys within the whole budget, then plan the FX legs that pay for them."""
    flows = Flows(book, sells, policy)
    groups = _groups(buys, book)
    own_only: set[str] = set()
    reserve = ZERO
    legs: list[FxLeg] = []
    for _ in range(3):  # the minimum can move a currency to its own cash once or twice
        _size_converted(groups, own_only, flows, budget, reserve, policy)
        costs = flows.buy_costs(buys)
        legs, small = _fund_foreign(costs, flows, policy, own_only)
        buffer_part = policy.fx_buffer_pct / (HUNDRED + policy.fx_buffer_pct)
        wanted_reserve = sum((leg.value * buffer_part for leg in legs), ZERO)
        wanted_reserve += policy.fx_commission_minimum * (len(legs) + 1)
        if not small and wanted_reserve <= reserve:
            break
        own_only |= small
        reserve = max(reserve, wanted_reserve)
    costs = flows.buy_costs(buys)
    legs += _fund_base(costs, legs, flows, policy, warnings)
    funding = Funding(fx=legs, fx_fees=policy.fx_commission_minimum * len(legs))
    for currency in sorted(own_only):
        warnings.append(
            f"The {currency} buys need less FX than the minimum FX order "
            f"({policy.min_fx_order_value} {book.base}); they were sized from the {currency} "
            "cash alone."
        )
    _shortfalls([line for c in own_only for line in groups.get(c, [])], flows, funding)
    _cash_after(flows, buys, funding)
    return funding
