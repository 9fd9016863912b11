"""Size the buys from the cash the account really has once the sells filled.

The terms are the planner's, carried typed on the plan (``PlanProposed.sizing``), and the
sizer is the planner's (:func:`shared.rebalancing.costs.allocate_buys`): a buy is sized here
exactly as it was planned, only against the cash that is there now. Prices are what a buy
will likely cost (the limit, else the ask, else the plan's price) plus a margin, so a market
that moves a little between sizing and filling does not over-spend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from executor.core.orders import order_spec
from executor.core.risk import FreshQuote
from executor.core.tracking import OrderTrack
from shared.contracts.base import Side
from shared.contracts.plans import PlanLeg, SizingTerms
from shared.policy import ExecutionPolicy
from shared.rebalancing.costs import BuyDemand, allocate_buys, commission, floor_to_step
from shared.rebalancing.fx import FX_SIZE_STEP, fx_need, fx_order, fx_pair_of

HUNDRED = Decimal(100)
BPS = Decimal(10_000)


@dataclass(frozen=True)
class BuySizing:
    """The buys sized, and the figures they were sized from (for the log and the tests)."""

    quantities: dict[int, Decimal]
    budget: Decimal
    cash: Decimal


def budget(
    cash: Decimal, net_liquidation: Decimal, terms: SizingTerms, outstanding: Decimal
) -> Decimal:
    """Cash the buys may spend: cash less the buffer, plus allowed leverage, less working buys."""
    reserve = net_liquidation * terms.cash_buffer_pct / HUNDRED
    reserve -= net_liquidation * (terms.leverage_limit - 1)
    return cash - reserve - outstanding


def outstanding_buys(
    tracks: Iterable[OrderTrack], quotes: dict[str, FreshQuote], margin: Decimal
) -> Decimal:
    """What working buys (of other attempts) may still cost."""
    total = Decimal(0)
    for track in tracks:
        if track.side == Side.BUY and not track.final:
            quote = quotes.get(track.symbol)
            price = (quote.ask or quote.mid) if quote else None
            total += track.left * (price or Decimal(0)) * margin
    return total


def size_buys(
    legs: list[PlanLeg],
    terms: SizingTerms,
    policy: ExecutionPolicy,
    *,
    cash: Decimal,
    net_liquidation: Decimal,
    quotes: dict[str, FreshQuote],
    working: Iterable[OrderTrack] = (),
    margin_bps: Decimal = Decimal(10),
) -> BuySizing:
    """Size ``legs`` (unsent buys) within the cash available now; 0 means skipped."""
    margin = 1 + margin_bps / BPS
    available = budget(cash, net_liquidation, terms, outstanding_buys(working, quotes, margin))
    demands = []
    for leg in legs:
        quote = quotes.get(leg.symbol)
        spec = order_spec(
            policy, leg.side, quote.bid if quote else None, quote.ask if quote else None
        )
        price = (
            spec.limit_price or (quote.ask if quote and quote.ask else None) or leg.reference_price
        )
        step = leg.quantity_step or terms.quantity_step
        demands.append(BuyDemand(str(leg.leg), leg.quantity, price * margin, step))
    chosen = allocate_buys(demands, available, terms)
    return BuySizing({int(key): quantity for key, quantity in chosen.items()}, available, cash)


# ----------------------------------------------------------------- several currencies


@dataclass(frozen=True)
class Money:
    """The account's cash per currency and IB's rates, as a fresh view reports them."""

    base: str
    cash: dict[str, Decimal]
    rates: dict[str, Decimal]
    net_liquidation: Decimal

    def rate(self, currency: str) -> Decimal:
        """One unit of ``currency`` in the base (1 when IB gave none: the gate refused that)."""
        return Decimal(1) if currency == self.base else self.rates.get(currency, Decimal(1))

    def held(self, currency: str) -> Decimal:
        """Cash held in ``currency``."""
        return self.cash.get(currency, Decimal(0))


def is_multi_currency(legs: Iterable[PlanLeg], base: str) -> bool:
    """Whether a plan trades in a currency other than its base (or has FX legs)."""
    return any(
        leg.sec_type == "CASH" or (leg.currency is not None and leg.currency != base)
        for leg in legs
    )


def _unit_cost(leg: PlanLeg, quote: FreshQuote | None, policy: ExecutionPolicy) -> Decimal:
    """What one share of a buy will likely cost, in its currency (a pence quote in pounds)."""
    spec = order_spec(policy, leg.side, quote.bid if quote else None, quote.ask if quote else None)
    price = spec.limit_price or (quote.ask if quote and quote.ask else None) or leg.reference_price
    return price / leg.price_magnifier


def buy_costs(
    legs: list[PlanLeg],
    terms: SizingTerms,
    policy: ExecutionPolicy,
    quotes: dict[str, FreshQuote],
    money: Money,
    margin_bps: Decimal = Decimal(10),
) -> dict[str, Decimal]:
    """What the buys as planned cost per currency (commission estimates included)."""
    margin = 1 + margin_bps / BPS
    costs: dict[str, Decimal] = {}
    for leg in legs:
        currency = leg.currency or money.base
        cost = leg.quantity * _unit_cost(leg, quotes.get(leg.symbol), policy) * margin
        cost += commission(leg.quantity, terms) / money.rate(currency)
        costs[currency] = costs.get(currency, Decimal(0)) + cost
    return costs


def size_fx(
    fx_legs: list[PlanLeg],
    buys: list[PlanLeg],
    terms: SizingTerms,
    policy: ExecutionPolicy,
    *,
    money: Money,
    quotes: dict[str, FreshQuote],
    margin_bps: Decimal = Decimal(10),
) -> dict[int, Decimal]:
    """Size each FX leg from the cash there is after the sells (0: not needed, or below the
    minimum FX order). A leg funding a currency buys what that currency's buys need beyond its
    cash, ``fx_buffer_pct`` more; a leg funding the base currency keeps its planned size but
    never sells more of a currency than is held."""
    costs = buy_costs(buys, terms, policy, quotes, money, margin_bps)
    sized: dict[int, Decimal] = {}
    for leg in fx_legs:
        pair = fx_pair_of(leg.symbol)
        target = leg.funds_currency
        if pair is None or target is None:
            sized[leg.leg] = Decimal(0)
            continue
        pay = pair.quote if target == pair.base else pair.base
        quote = quotes.get(leg.symbol)
        price = (
            (quote.ask if leg.side == Side.BUY else quote.bid) if quote else None
        ) or leg.reference_price
        if target == money.base:
            held = max(Decimal(0), money.held(pay))
            most = held if pay == pair.base else held / price  # never sell more than is held
            sized[leg.leg] = floor_to_step(min(leg.quantity, most), FX_SIZE_STEP)
            continue
        need = fx_need(costs.get(target, Decimal(0)), money.held(target), terms.fx_buffer_pct)
        if need * money.rate(target) < terms.min_fx_order_value or need <= 0:
            sized[leg.leg] = Decimal(0)
            continue
        sized[leg.leg] = fx_order(target, need, pay, price).quantity
    return sized


def size_buys_by_currency(
    legs: list[PlanLeg],
    terms: SizingTerms,
    policy: ExecutionPolicy,
    *,
    money: Money,
    quotes: dict[str, FreshQuote],
    working: Iterable[OrderTrack] = (),
    margin_bps: Decimal = Decimal(10),
) -> BuySizing:
    """Size the buys of each currency from that currency's cash now (after the FX legs).

    The base currency keeps the buffer and may use allowed leverage (``budget``); any other
    currency pays its buys from what it holds, never from a loan. Prices and budgets are in
    each currency; commissions are estimated in the base and converted.
    """
    margin = 1 + margin_bps / BPS
    working = list(working)
    by_currency: dict[str, list[PlanLeg]] = {}
    for leg in legs:
        by_currency.setdefault(leg.currency or money.base, []).append(leg)
    chosen: dict[int, Decimal] = {}
    total = Decimal(0)
    for currency, group in by_currency.items():
        symbols = {leg.symbol for leg in group}
        mine = [t for t in working if t.symbol in symbols]
        outstanding = outstanding_buys(mine, quotes, margin)
        if currency == money.base:
            available = budget(money.held(currency), money.net_liquidation, terms, outstanding)
        else:
            available = money.held(currency) - outstanding
        total += max(Decimal(0), available) * money.rate(currency)
        rate = money.rate(currency)
        scaled = _PerCurrency(terms, rate)
        demands = [
            BuyDemand(
                str(leg.leg),
                leg.quantity,
                _unit_cost(leg, quotes.get(leg.symbol), policy) * margin,
                leg.quantity_step or terms.quantity_step,
            )
            for leg in group
        ]
        for key, quantity in allocate_buys(demands, max(Decimal(0), available), scaled).items():
            chosen[int(key)] = quantity
    return BuySizing(
        chosen, total, sum((v * money.rate(c) for c, v in money.cash.items()), Decimal(0))
    )


class _PerCurrency:
    """Sizing terms with the commission and minimum order value in another currency."""

    def __init__(self, terms: SizingTerms, rate: Decimal) -> None:
        self.commission_per_share = terms.commission_per_share / rate
        self.commission_minimum = terms.commission_minimum / rate
        self.min_order_value = terms.min_order_value / rate
        self.min_share_diff = terms.min_share_diff
