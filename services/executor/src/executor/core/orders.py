"""Orders for plan legs: the order type per account policy, and the SubmitOrder to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from shared.contracts.base import Side
from shared.contracts.order_commands import (
    AdaptivePriority,
    ManualOrder,
    OrderType,
    SubmitOrder,
    TimeInForce,
)
from shared.contracts.plans import PlanLeg, PlanProposed
from shared.policy import ExecutionPolicy, OrderStyle
from shared.rebalancing.ids import ClientOrderId

SOURCE = "executor"

TICK = Decimal("0.01")
FX_TICK = Decimal("0.00005")
"""IDEALPRO's order grid: half a pip (quotes come in 0.1 pip, limits must be on 0.5)."""


@dataclass(frozen=True)
class OrderSpec:
    """What to send for one leg attempt (the shell turns it into a SubmitOrder)."""

    order_type: OrderType
    limit_price: Decimal | None
    adaptive_priority: AdaptivePriority | None
    outside_rth: bool
    time_in_force: TimeInForce = TimeInForce.DAY


def limit_at_mid(
    side: Side, bid: Decimal, ask: Decimal, offset_bps: Decimal, tick: Decimal = TICK
) -> Decimal:
    """Limit price at the mid, moved ``offset_bps`` toward the market, on the cent grid.

    Buys round up and sells round down so the offset is never eaten by the rounding.
    """
    mid = (bid + ask) / 2
    offset = mid * offset_bps / Decimal(10_000)
    if side == Side.BUY:
        return ((mid + offset) / tick).quantize(Decimal(1), rounding=ROUND_CEILING) * tick
    return ((mid - offset) / tick).quantize(Decimal(1), rounding=ROUND_FLOOR) * tick


def order_spec(
    policy: ExecutionPolicy,
    side: Side,
    bid: Decimal | None,
    ask: Decimal | None,
    *,
    fallback: bool = False,
    reprice_bps: Decimal = Decimal(0),
    fx: bool = False,
) -> OrderSpec:
    """Return the order for a leg under ``policy``; ``fallback`` forces a plain market order.

    A limit order without a two-sided quote cannot be priced: it becomes a market order only
    if the account allows falling back, otherwise the caller gets a LIMIT without a price and
    must refuse it. ``reprice_bps`` widens the limit offset for a repriced attempt.
    """
    outside_rth = policy.outside_rth
    if fx:
        return _fx_spec(policy, side, bid, ask, reprice_bps, fallback=fallback)
    if fallback or policy.order_type == OrderStyle.MARKET:
        return OrderSpec(OrderType.MARKET, None, None, outside_rth)
    if policy.order_type == OrderStyle.LIMIT:
        if bid is None or ask is None or bid <= 0 or ask <= 0:
            if policy.fallback_to_market:
                return OrderSpec(OrderType.MARKET, None, None, outside_rth)
            return OrderSpec(OrderType.LIMIT, None, None, outside_rth)
        price = limit_at_mid(side, bid, ask, policy.limit_offset_bps + reprice_bps)
        return OrderSpec(OrderType.LIMIT, price, None, outside_rth)
    if policy.order_type == OrderStyle.MIDPRICE:
        return OrderSpec(OrderType.MIDPRICE, None, None, outside_rth)
    return OrderSpec(
        OrderType.ADAPTIVE, None, AdaptivePriority(policy.adaptive_priority), outside_rth
    )


def _fx_spec(
    policy: ExecutionPolicy,
    side: Side,
    bid: Decimal | None,
    ask: Decimal | None,
    reprice_bps: Decimal,
    *,
    fallback: bool,
) -> OrderSpec:
    """An FX leg: a limit on IDEALPRO's half-pip grid when the account trades limits, else a
    market order (IB's algos do not apply to FX; FX trades around the clock)."""
    if policy.order_type != OrderStyle.LIMIT or fallback:
        return OrderSpec(OrderType.MARKET, None, None, False)
    if bid is None or ask is None or bid <= 0 or ask <= 0:
        if policy.fallback_to_market:
            return OrderSpec(OrderType.MARKET, None, None, False)
        return OrderSpec(OrderType.LIMIT, None, None, False)
    price = limit_at_mid(side, bid, ask, policy.limit_offset_bps + reprice_bps, FX_TICK)
    return OrderSpec(OrderType.LIMIT, price, None, False)


def manual_spec(
    order: ManualOrder, policy: ExecutionPolicy, *, fallback: bool = False
) -> OrderSpec:
    """The order an operator asked for, sent as asked; ``fallback`` (an algo IB refused, on an
    account that allows falling back) makes it a market order with the same terms."""
    if fallback:
        return OrderSpec(OrderType.MARKET, None, None, order.outside_rth, order.time_in_force)
    priority = order.adaptive_priority
    if order.order_type == OrderType.ADAPTIVE and priority is None:
        priority = AdaptivePriority(policy.adaptive_priority)
    return OrderSpec(
        order.order_type, order.limit_price, priority, order.outside_rth, order.time_in_force
    )


ALGO_TYPES = frozenset({OrderType.MIDPRICE, OrderType.ADAPTIVE})
"""Order types that IB may refuse for entitlement or venue reasons (fallback applies)."""


def _listing(leg: PlanLeg) -> dict[str, str]:
    """Where the leg trades: an FX pair on IDEALPRO, a stock on SMART in its currency."""
    if leg.sec_type == "CASH":
        return {"currency": leg.currency or "USD", "exchange": "IDEALPRO", "sec_type": "CASH"}
    return {"currency": leg.currency} if leg.currency else {}


def submit_order(
    proposal: PlanProposed,
    leg: PlanLeg,
    quantity: Decimal,
    attempt: int,
    spec: OrderSpec,
    now: datetime,
    valid_for: timedelta,
) -> SubmitOrder:
    """The SubmitOrder of one attempt at one leg (its id: ``<plan>.<leg>.<attempt>``)."""
    return SubmitOrder(
        source=SOURCE,
        correlation_id=proposal.correlation_id,
        ts_event=now,
        client_order_id=str(ClientOrderId(proposal.plan_id, leg.leg, attempt)),
        plan_id=proposal.plan_id,
        account_id=proposal.account_id,
        symbol=leg.symbol,
        con_id=leg.con_id,
        **_listing(leg),
        side=leg.side,
        quantity=quantity,
        order_type=spec.order_type,
        limit_price=spec.limit_price,
        adaptive_priority=spec.adaptive_priority,
        time_in_force=spec.time_in_force,
        outside_rth=spec.outside_rth,
        valid_until=now + valid_for,
    )
