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
from shared.rebalancing.costs import BuyDemand, allocate_buys

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
