"""The risk gate: a pure function from a plan and what is known now to the reasons it fails.

Every check runs (no early return), so an operator sees all that is wrong at once. An empty
result means the plan may execute. Money is Decimal; limits come from the account's
:class:`~shared.policy.ExecutionPolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from shared.contracts.base import Reason, Side
from shared.contracts.portfolio import PortfolioView
from shared.policy import ExecutionPolicy
from shared.rebalancing.exposure import Exposure, valuation_price

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RiskLeg:
    """One leg as the gate sees it."""

    symbol: str
    side: Side
    quantity: Decimal
    reference_price: Decimal
    limit_price: Decimal | None = None
    rate: Decimal = Decimal(1)
    """One unit of the leg's currency in the account's base currency."""
    magnifier: int = 1
    """IB's priceMagnifier: prices in 1/n of the currency (pence)."""
    fx: bool = False
    """An FX leg: it moves cash between currencies, no position."""


@dataclass(frozen=True)
class FreshQuote:
    """A quote from the bridge (None where a side is missing)."""

    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    as_of: datetime | None
    close: Decimal | None = None

    @property
    def mid(self) -> Decimal | None:
        """The valuation price: mid of a sound bid and ask, else last, else close."""
        return valuation_price(self.bid, self.ask, self.last, self.close)


def quotes_of(view: PortfolioView) -> dict[str, FreshQuote]:
    """Fresh quotes of a portfolio view, by symbol (unusable ones left out)."""
    return {
        q.symbol: FreshQuote(q.bid, q.ask, q.last, q.as_of, q.close)
        for q in view.quotes
        if q.status == "ok"
    }


def rates_of(view: PortfolioView) -> dict[str, Decimal]:
    """IB's exchange rates of the view, the base currency's (1) included."""
    return {**view.exchange_rates, view.currency: Decimal(1)}


def magnifiers_of(view: PortfolioView) -> dict[str, int]:
    """Symbols quoted in 1/n of their currency (pence), by symbol."""
    return {q.symbol: q.price_magnifier for q in view.quotes if q.price_magnifier != 1}


def exposure_of(view: PortfolioView, quotes: dict[str, FreshQuote]) -> Exposure:
    """The account's holdings in the base currency, valued at the fresh quote, else the
    bridge's mark, else cost (a holding in a currency without a rate counts at 1:1)."""
    rates = rates_of(view)
    magnifiers = magnifiers_of(view)
    holdings: dict[str, tuple[Decimal, Decimal]] = {}
    for position in view.positions:
        quote = quotes.get(position.symbol)
        mid = quote.mid if quote else None
        if mid is not None:
            mid = mid / magnifiers.get(position.symbol, 1)
        price = mid or position.market_price or position.average_cost
        rate = rates.get(position.currency, Decimal(1))
        holdings[position.symbol] = (position.quantity, price * rate)
    return Exposure(holdings)


@dataclass(frozen=True)
class RiskContext:
    """What is known at decision time (all of it read by the shell before calling the gate)."""

    now: datetime
    net_liquidation: Decimal
    exposure: Exposure
    positions: dict[str, Decimal]
    quotes: dict[str, FreshQuote]
    portfolio_as_of: datetime | None
    open_sell_quantity: dict[str, Decimal] = field(default_factory=dict)
    other_active_plan: str | None = None
    orders_today: int = 0
    notional_today: Decimal = Decimal(0)
    max_data_age_s: float = 300.0
    rates: dict[str, Decimal] = field(default_factory=dict)
    """IB's exchange rates: one unit of a currency in the base (the base itself: 1)."""


def _notional(leg: RiskLeg) -> Decimal:
    """The leg's value in the account's base currency."""
    price = leg.limit_price or leg.reference_price
    if leg.magnifier == 1 and leg.rate == 1:
        return abs(leg.quantity) * price
    return abs(leg.quantity) * price / leg.magnifier * leg.rate


def check_plan(legs: list[RiskLeg], policy: ExecutionPolicy, ctx: RiskContext) -> list[Reason]:
    """Return every reason the plan must not execute (empty: it may)."""
    reasons: list[Reason] = []
    reasons += _one_active_plan(ctx)
    reasons += _stale(ctx)
    reasons += _symbols(legs, policy)
    reasons += _order_notional(legs, policy)
    reasons += _turnover(legs, policy, ctx)
    reasons += _leverage(legs, policy, ctx)
    reasons += _collar(legs, policy, ctx)
    reasons += _no_short(legs, ctx)
    reasons += _daily_caps(legs, policy, ctx)
    return reasons


def _one_active_plan(ctx: RiskContext) -> list[Reason]:
    if ctx.other_active_plan is None:
        return []
    return [
        Reason(
            code="active_plan",
            message=f"plan {ctx.other_active_plan} is still executing for this account; wait "
            "for it to finish (`rebalancer plans`) and rebalance again",
        )
    ]


def _stale(ctx: RiskContext) -> list[Reason]:
    if ctx.portfolio_as_of is None:
        return [Reason(code="stale_data", message="the portfolio's age is unknown; retry")]
    age = (ctx.now - ctx.portfolio_as_of).total_seconds()
    if age > ctx.max_data_age_s:
        return [
            Reason(
                code="stale_data",
                message=f"portfolio data is {age:.0f} s old (limit {ctx.max_data_age_s:.0f} s); "
                "check the gateway connection and rebalance again",
            )
        ]
    return []


def _symbols(legs: list[RiskLeg], policy: ExecutionPolicy) -> list[Reason]:
    reasons = []
    for leg in legs:
        if leg.symbol in policy.denied_symbols:
            reasons.append(
                Reason(
                    code="denied_symbol",
                    symbol=leg.symbol,
                    message=f"{leg.symbol} is on the account's denied list; remove it from the "
                    "targets or from execution.denied_symbols",
                )
            )
        elif policy.allowed_symbols is not None and leg.symbol not in policy.allowed_symbols:
            reasons.append(
                Reason(
                    code="symbol_not_allowed",
                    symbol=leg.symbol,
                    message=f"{leg.symbol} is not in the account's allowed symbols; add it to "
                    "execution.allowed_symbols or remove it from the targets",
                )
            )
    return reasons


def _order_notional(legs: list[RiskLeg], policy: ExecutionPolicy) -> list[Reason]:
    limit = policy.max_order_notional
    if limit is None:
        return []
    return [
        Reason(
            code="max_order_notional",
            symbol=leg.symbol,
            field="max_order_notional",
            message=f"{leg.side.value} {leg.quantity} {leg.symbol} is worth {_notional(leg):.2f}, "
            f"above the per-order limit of {limit}; raise the limit or split the rebalance",
        )
        for leg in legs
        if _notional(leg) > limit
    ]


def _turnover(legs: list[RiskLeg], policy: ExecutionPolicy, ctx: RiskContext) -> list[Reason]:
    limit = policy.max_turnover_pct
    if limit is None:
        return []
    if ctx.net_liquidation <= 0:
        return [Reason(code="no_net_liquidation", message="net liquidation is not positive")]
    turnover = sum((_notional(leg) for leg in legs), Decimal(0)) / ctx.net_liquidation * HUNDRED
    if turnover <= limit:
        return []
    return [
        Reason(
            code="max_turnover",
            field="max_turnover_pct",
            message=f"the plan trades {turnover:.2f} % of net liquidation, above the limit of "
            f"{limit} %; raise execution.max_turnover_pct or rebalance in steps",
        )
    ]


def _leverage(legs: list[RiskLeg], policy: ExecutionPolicy, ctx: RiskContext) -> list[Reason]:
    if ctx.net_liquidation <= 0:
        return [Reason(code="no_net_liquidation", message="net liquidation is not positive")]
    change: dict[str, Decimal] = {}
    legs = [leg for leg in legs if not leg.fx]
    for leg in legs:
        signed = leg.quantity if leg.side == Side.BUY else -leg.quantity
        change[leg.symbol] = change.get(leg.symbol, Decimal(0)) + signed
    prices = {leg.symbol: _notional(leg) / abs(leg.quantity) for leg in legs if leg.quantity}
    post = ctx.exposure.after(change, prices) / ctx.net_liquidation
    if post <= policy.max_post_leverage:
        return []
    return [
        Reason(
            code="max_post_leverage",
            field="max_post_leverage",
            message=f"post-trade leverage would be {post:.3f}, above {policy.max_post_leverage}; "
            "lower the targets' total weight or raise execution.max_post_leverage",
        )
    ]


def _collar(legs: list[RiskLeg], policy: ExecutionPolicy, ctx: RiskContext) -> list[Reason]:
    reasons = []
    for leg in legs:
        quote = ctx.quotes.get(leg.symbol)
        mid = quote.mid if quote else None
        if mid is None:
            reasons.append(
                Reason(
                    code="no_fresh_quote",
                    symbol=leg.symbol,
                    message=f"no fresh quote for {leg.symbol}; check market data and retry",
                )
            )
            continue
        price = leg.limit_price or leg.reference_price
        distance = abs(price - mid) / mid * HUNDRED
        if distance > policy.price_collar_pct:
            reasons.append(
                Reason(
                    code="price_collar",
                    symbol=leg.symbol,
                    field="price_collar_pct",
                    message=f"{leg.symbol}: plan price {price} is {distance:.2f} % from the fresh "
                    f"quote {mid:.4f} (collar {policy.price_collar_pct} %); the market moved, "
                    "plan again",
                )
            )
    return reasons


def _no_short(legs: list[RiskLeg], ctx: RiskContext) -> list[Reason]:
    reasons = []
    for leg in legs:
        if leg.side != Side.SELL or leg.fx:
            continue
        held = ctx.positions.get(leg.symbol, Decimal(0))
        available = held - ctx.open_sell_quantity.get(leg.symbol, Decimal(0))
        if leg.quantity > available:
            reasons.append(
                Reason(
                    code="sell_beyond_position",
                    symbol=leg.symbol,
                    message=f"selling {leg.quantity} {leg.symbol} but only {available} are "
                    f"available (held {held}, minus open sells); plan again",
                )
            )
    return reasons


def _daily_caps(legs: list[RiskLeg], policy: ExecutionPolicy, ctx: RiskContext) -> list[Reason]:
    reasons = []
    cap = policy.daily_order_cap
    if cap is not None and ctx.orders_today + len(legs) > cap:
        reasons.append(
            Reason(
                code="daily_order_cap",
                field="daily_order_cap",
                message=f"{ctx.orders_today} orders sent today plus {len(legs)} would pass the "
                f"daily cap of {cap}; wait until tomorrow or raise execution.daily_order_cap",
            )
        )
    notional_cap = policy.daily_notional_cap
    notional = sum((_notional(leg) for leg in legs), Decimal(0))
    if notional_cap is not None and ctx.notional_today + notional > notional_cap:
        reasons.append(
            Reason(
                code="daily_notional_cap",
                field="daily_notional_cap",
                message=f"{ctx.notional_today:.2f} traded today plus {notional:.2f} would pass the "
                f"daily cap of {notional_cap}; wait or raise execution.daily_notional_cap",
            )
        )
    return reasons
