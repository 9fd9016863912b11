"""``plan_order``: one operator order (``ManualOrder``) priced into a one-leg plan.

The order is planned as asked (side, quantity or cash amount, order type): the planner only
prices it, checks what a rebalance would check (fresh positions and account values, a usable
quote, the account's trade modes, whole shares unless fractional, no short sale) and computes
the drift row and batch summary the CLI and the API show for any plan. The risk gate, the
kill switch and the approval mode are the executor's, as for every plan.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from planner.core.book import freshness, quantity_step
from planner.core.quotes import check_quote
from planner.core.targets import normalise_symbol
from planner.core.types import Plan, Rejection
from shared.contracts.base import Reason, Side
from shared.contracts.order_commands import ManualOrder
from shared.contracts.plans import BatchSummary, DriftRow, PlanLeg
from shared.contracts.portfolio import PortfolioView
from shared.policy import PlanningPolicy, TradeMode
from shared.rebalancing.costs import commission, floor_to_step
from shared.rebalancing.exposure import Exposure
from shared.rebalancing.numbers import fmt, money, ratio

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def plan_order(
    portfolio: PortfolioView, order: ManualOrder, policy: PlanningPolicy, now: datetime
) -> Plan | Rejection:
    """Price ``order`` on ``portfolio`` into a one-leg plan, or say why it cannot be planned."""
    symbol = normalise_symbol(order.symbol)
    quotes = {normalise_symbol(q.symbol): q for q in portfolio.quotes}
    unqualified = frozenset(normalise_symbol(s) for s in portfolio.unqualified)
    prices, reasons, warnings = check_quote(symbol, quotes.get(symbol), unqualified, policy, now)
    reasons = [*freshness(portfolio, policy, now), *reasons]
    if prices is None or reasons:
        return Rejection(tuple(reasons))
    if portfolio.net_liquidation <= 0:
        return _no("no_net_liquidation", f"net liquidation is {fmt(portfolio.net_liquidation)}")
    price = order.limit_price or (prices.buy if order.side is Side.BUY else prices.sell)
    step = quantity_step(symbol, quotes.get(symbol), policy, warnings)
    quantity = order.quantity or floor_to_step((order.cash_amount or ZERO) / price, step)
    held = sum(
        (p.quantity for p in portfolio.positions if normalise_symbol(p.symbol) == symbol), ZERO
    )
    problem = _problem(order, symbol, quantity, step, held, policy)
    if problem is not None:
        return Rejection((problem,))
    leg = PlanLeg(
        leg=0,
        symbol=symbol,
        side=order.side,
        quantity=quantity,
        reference_price=price,
        estimated_value=money(quantity * price),
        quantity_step=step,
        order=order,
    )
    if order.cash_amount is not None:
        warnings.append(
            f"{fmt(order.cash_amount)} at {price} is {quantity} {symbol} (rounded down to the "
            f"step {step})."
        )
    nlv = portfolio.net_liquidation
    change = quantity if order.side is Side.BUY else -quantity
    return Plan(
        legs=(leg,),
        drift=(_row(symbol, held, change, prices.value, leg, nlv),),
        summary=_summary(portfolio, leg, prices.value, policy),
        warnings=tuple(warnings),
        portfolio_drift_pct=ZERO,
        managed_value=nlv,
    )


def _problem(
    order: ManualOrder,
    symbol: str,
    quantity: Decimal,
    step: Decimal,
    held: Decimal,
    policy: PlanningPolicy,
) -> Reason | None:
    """Why the order cannot be planned as asked, or None."""
    if quantity <= 0:
        return _reason(
            "order_too_small",
            symbol,
            f"{fmt(order.cash_amount or ZERO)} buys less than one step ({step}) of {symbol}; "
            "ask for more, or for a quantity",
        )
    if floor_to_step(quantity, step) != quantity:
        return _reason(
            "fractional_quantity",
            symbol,
            f"{quantity} {symbol} is not a multiple of {step}; this account trades in steps of "
            f"{step} (planning.fractional and quantity_increment in the accounts file)",
        )
    for mode in (policy.mode, policy.symbol_modes.get(symbol)):
        if (mode is TradeMode.BUY_ONLY and order.side is Side.SELL) or (
            mode is TradeMode.SELL_ONLY and order.side is Side.BUY
        ):
            return _reason(
                "side_not_allowed",
                symbol,
                f"this account is {mode.value} for {symbol}; a {order.side.value} is refused "
                "(planning.mode or planning.symbol_modes in the accounts file)",
            )
    if order.side is Side.SELL and quantity > held:
        return _reason(
            "short_sale",
            symbol,
            f"selling {quantity} {symbol} with {held} held would open a short position, which "
            "the rebalancer never does; sell at most the quantity held",
        )
    return None


def _row(
    symbol: str, held: Decimal, change: Decimal, price: Decimal, leg: PlanLeg, nlv: Decimal
) -> DriftRow:
    """The drift row of the order's symbol: where it stands now and after the order."""
    current = held * price / nlv * HUNDRED
    after = (held + change) * price / nlv * HUNDRED
    return DriftRow(
        symbol=symbol,
        target_pct=ratio(after),
        current_pct=ratio(current),
        drift_pct=ratio(current - after),
        drift_value=money((held - (held + change)) * price),
        action=leg.side.value,
        quantity=leg.quantity,
        estimated_value=leg.estimated_value,
        current_quantity=held,
        price=price,
        skip_reason=None,
    )


def _summary(
    portfolio: PortfolioView, leg: PlanLeg, value_price: Decimal, policy: PlanningPolicy
) -> BatchSummary:
    holdings = {
        normalise_symbol(p.symbol): (
            p.quantity,
            p.market_price or (p.market_value / p.quantity if p.market_value else p.average_cost),
        )
        for p in portfolio.positions
        if p.quantity != 0
    }
    exposure = Exposure(holdings)
    amount = leg.quantity * leg.reference_price
    buy = amount if leg.side is Side.BUY else ZERO
    sell = amount if leg.side is Side.SELL else ZERO
    fees = commission(leg.quantity, policy)
    change = {leg.symbol: leg.quantity if leg.side is Side.BUY else -leg.quantity}
    nlv = portfolio.net_liquidation
    post = exposure.after(change, {leg.symbol: value_price})
    return BatchSummary(
        net_liquidation=money(nlv),
        cash_before=money(portfolio.total_cash),
        cash_after=money(portfolio.total_cash + sell - buy - fees),
        gross_buy=money(buy),
        gross_sell=money(sell),
        pre_gross_exposure=money(exposure.gross),
        post_gross_exposure=money(post),
        pre_leverage=ratio(exposure.gross / nlv),
        post_leverage=ratio(post / nlv),
        turnover_pct=ratio((buy + sell) / nlv * HUNDRED),
        estimated_commissions=money(fees),
        currency=portfolio.currency,
    )


def _reason(code: str, symbol: str, message: str) -> Reason:
    return Reason(code=code, message=message, symbol=symbol)


def _no(code: str, message: str) -> Rejection:
    return Rejection((Reason(code=code, message=f"The order cannot be planned: {message}."),))
