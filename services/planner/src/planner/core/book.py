"""Read a portfolio view into what the plan needs: holdings, prices and the managed value.

Every symbol the plan may trade (a target with a weight, or a holding in the target or to
be sold because it is not) needs a fresh, usable quote; anything else is a reason to
reject. Holdings the plan leaves alone (excluded symbols, and positions not in the target
when ``sell_unlisted`` is off) are valued with their quote or the bridge's mark and kept out
of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from planner.core.quotes import Prices, check_quote, fallback_value_price
from planner.core.targets import normalise_symbol
from planner.core.types import Rejection, ResolvedTargets, Skip
from shared.contracts.base import Reason
from shared.contracts.portfolio import PortfolioView, Quote
from shared.contracts.positions import Position
from shared.policy import PlanningPolicy
from shared.rebalancing.numbers import fmt

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(slots=True)
class Book:
    """The account as the plan sees it."""

    net_liquidation: Decimal
    cash: Decimal
    quantities: dict[str, Decimal]
    managed: list[str]
    prices: dict[str, Prices]
    unmanaged: dict[str, tuple[Decimal, Skip]]
    """Holdings left alone: symbol -> (market value, why)."""
    steps: dict[str, Decimal]
    warnings: list[str] = field(default_factory=list)
    base: str = "USD"
    cash_by_currency: dict[str, Decimal] = field(default_factory=dict)
    """Cash per currency, each in its own currency (the base's alone when IB sent no others)."""
    rates: dict[str, Decimal] = field(default_factory=dict)
    """Currency -> one unit's value in the base currency (the base itself: 1)."""
    currency_of: dict[str, str] = field(default_factory=dict)
    """Symbol -> the currency it is priced in (only those not in the base currency)."""
    native: dict[str, Prices] = field(default_factory=dict)
    """Prices of a symbol not in the base currency, as quoted (``prices`` are in the base)."""
    magnifier: dict[str, int] = field(default_factory=dict)
    multi_currency: bool = False
    """Whether anything is priced or held in a currency other than the base (or in pence)."""

    def currency(self, symbol: str) -> str:
        """The currency a symbol is priced in."""
        return self.currency_of.get(symbol, self.base)

    def native_prices(self, symbol: str) -> Prices:
        """A symbol's prices as quoted (in its currency, times its price magnifier)."""
        return self.native.get(symbol) or self.prices[symbol]

    @property
    def unmanaged_value(self) -> Decimal:
        """Value of the holdings the weights do not apply to."""
        return sum((value for value, _ in self.unmanaged.values()), ZERO)


def read_book(
    portfolio: PortfolioView, targets: ResolvedTargets, policy: PlanningPolicy, now: datetime
) -> Book | Rejection:
    """Check freshness and quotes, and return the book or every reason it cannot be planned."""
    reasons = freshness(portfolio, policy, now)
    if portfolio.net_liquidation <= 0:
        reasons.append(
            Reason(
                code="no_net_liquidation",
                message=f"The account's net liquidation is {fmt(portfolio.net_liquidation)}; "
                "there is nothing to rebalance. Fund the account or check the bridge.",
                field="net_liquidation",
            )
        )
    warnings: list[str] = []
    positions, held = _holdings(portfolio, warnings)
    managed, unmanaged_skip = _managed(held, targets, policy)

    quotes: dict[str, Quote] = {normalise_symbol(q.symbol): q for q in portfolio.quotes}
    unqualified = frozenset(normalise_symbol(s) for s in portfolio.unqualified)
    prices: dict[str, Prices] = {}
    steps: dict[str, Decimal] = {}
    fractional = policy.fractional
    for symbol in managed:
        if targets.weights.get(symbol, ZERO) == 0 and symbol not in held:
            continue  # nothing to buy and nothing to sell: no price needed
        found, problems, notes = check_quote(symbol, quotes.get(symbol), unqualified, policy, now)
        reasons.extend(problems)
        warnings.extend(notes)
        if found is not None:
            prices[symbol] = found
            steps[symbol] = (
                quantity_step(symbol, quotes.get(symbol), policy, warnings) if fractional else ONE
            )

    base = portfolio.currency
    rates = _rates(portfolio)
    currency_of, native, magnifier = _in_base(prices, positions, quotes, base, rates, reasons)
    unmanaged = _unmanaged(unmanaged_skip, positions, held, quotes, reasons, (base, rates))
    if reasons:
        return Rejection(tuple(reasons))
    return Book(
        net_liquidation=portfolio.net_liquidation,
        cash=portfolio.total_cash,
        quantities=held,
        managed=managed,
        prices=prices,
        unmanaged=unmanaged,
        steps=steps,
        warnings=warnings,
        base=base,
        cash_by_currency=dict(portfolio.cash_by_currency) or {base: portfolio.total_cash},
        rates=rates,
        currency_of=currency_of,
        native=native,
        magnifier=magnifier,
        multi_currency=bool(currency_of)
        or any(c != base and v != 0 for c, v in portfolio.cash_by_currency.items()),
    )


def _rates(portfolio: PortfolioView) -> dict[str, Decimal]:
    rates = {c: r for c, r in portfolio.exchange_rates.items() if r.is_finite() and r > 0}
    rates[portfolio.currency] = ONE
    return rates


def _symbol_currency(
    symbol: str, positions: dict[str, Position], quotes: dict[str, Quote], base: str
) -> tuple[str, int]:
    quote = quotes.get(symbol)
    if quote is not None and quote.currency:
        return quote.currency, quote.price_magnifier
    position = positions.get(symbol)
    if position is not None:
        return position.currency, quote.price_magnifier if quote is not None else 1
    # A bridge that names no currency looked every symbol up as a US listing.
    return ("USD" if quote is not None else base), 1


def _in_base(
    prices: dict[str, Prices],
    positions: dict[str, Position],
    quotes: dict[str, Quote],
    base: str,
    rates: dict[str, Decimal],
    reasons: list[Reason],
) -> tuple[dict[str, str], dict[str, Prices], dict[str, int]]:
    """Turn the prices of symbols quoted in another currency (or in pence) into the base
    currency, in place; return each such symbol's currency, its quoted prices and magnifier."""
    currency_of: dict[str, str] = {}
    native: dict[str, Prices] = {}
    magnifier: dict[str, int] = {}
    for symbol, quoted in list(prices.items()):
        currency, times = _symbol_currency(symbol, positions, quotes, base)
        if currency == base and times == 1:
            continue
        rate = rates.get(currency)
        if rate is None:
            reasons.append(_no_rate(symbol, currency, base))
            continue
        currency_of[symbol] = currency
        native[symbol] = quoted
        magnifier[symbol] = times
        factor = rate / times
        prices[symbol] = Prices(quoted.value * factor, quoted.buy * factor, quoted.sell * factor)
    return currency_of, native, magnifier


def _no_rate(symbol: str, currency: str, base: str) -> Reason:
    return Reason(
        code="no_exchange_rate",
        message=f"{symbol} is priced in {currency}, and IB reported no exchange rate from "
        f"{currency} to the account's base currency {base}; retry once the account values "
        "are complete.",
        symbol=symbol,
        field="exchange_rates",
    )


def _holdings(
    portfolio: PortfolioView, warnings: list[str]
) -> tuple[dict[str, Position], dict[str, Decimal]]:
    """Positions by normalised symbol, and the quantities held (zero ones left out)."""
    positions: dict[str, Position] = {}
    quantities: dict[str, Decimal] = {}
    for position in portfolio.positions:
        symbol = normalise_symbol(position.symbol)
        quantities[symbol] = quantities.get(symbol, ZERO) + position.quantity
        positions[symbol] = position
    return positions, {s: q for s, q in quantities.items() if q != 0}


def _managed(
    held: dict[str, Decimal], targets: ResolvedTargets, policy: PlanningPolicy
) -> tuple[list[str], dict[str, Skip]]:
    """The symbols the weights apply to (targets first), and the holdings left alone."""
    excluded = {normalise_symbol(s) for s in policy.excluded_symbols}
    managed = list(targets.weights)
    unmanaged_skip: dict[str, Skip] = {}
    for symbol in sorted(held):
        if symbol in targets.weights:
            continue
        if symbol in excluded:
            unmanaged_skip[symbol] = Skip.EXCLUDED
        elif not policy.sell_unlisted:
            unmanaged_skip[symbol] = Skip.LEFT_UNLISTED
        else:
            managed.append(symbol)
    return managed, unmanaged_skip


def _unmanaged(
    skips: dict[str, Skip],
    positions: dict[str, Position],
    held: dict[str, Decimal],
    quotes: dict[str, Quote],
    reasons: list[Reason],
    money_of: tuple[str, dict[str, Decimal]] = ("USD", {}),
) -> dict[str, tuple[Decimal, Skip]]:
    """The value of each holding left alone, in the base currency (a reason for one that
    cannot be valued)."""
    base, rates = money_of
    unmanaged: dict[str, tuple[Decimal, Skip]] = {}
    for symbol, skip in skips.items():
        position = positions[symbol]
        price = fallback_value_price(position, quotes.get(symbol))
        if price is not None and position.currency != base:
            rate = rates.get(position.currency)
            if rate is None:
                reasons.append(_no_rate(symbol, position.currency, base))
                continue
            price *= rate
        if price is None:
            reasons.append(
                Reason(
                    code="missing_quote",
                    message=f"{symbol} is held but left alone ({skip.value}), and it has no "
                    "usable quote or market price to value it with, so the weights of the "
                    "other holdings cannot be computed; retry when market data is available.",
                    symbol=symbol,
                    field="quotes",
                )
            )
            continue
        unmanaged[symbol] = (held[symbol] * price, skip)
    return unmanaged


def freshness(portfolio: PortfolioView, policy: PlanningPolicy, now: datetime) -> list[Reason]:
    reasons: list[Reason] = []
    limit = policy.max_positions_age_s
    for label, as_of, code in (
        ("positions", portfolio.positions_as_of, "stale_positions"),
        ("account values", portfolio.account_as_of, "stale_account"),
    ):
        age = (now - as_of).total_seconds()
        if age > limit:
            reasons.append(
                Reason(
                    code=code,
                    message=f"The account's {label} are {age:.0f} s old (limit {limit} s); the "
                    "bridge may be disconnected or not reconciled. Retry once it is in sync.",
                    field="positions_as_of" if code == "stale_positions" else "account_as_of",
                )
            )
    return reasons


def quantity_step(
    symbol: str, quote: Quote | None, policy: PlanningPolicy, warnings: list[str]
) -> Decimal:
    """Quantity step of a symbol: 1 unless fractional, and never finer than IB allows."""
    if not policy.fractional:
        return ONE
    step = policy.quantity_increment
    smallest = quote.min_quantity_increment if quote is not None else None
    if smallest is not None and smallest.is_finite() and smallest > step:
        warnings.append(f"{symbol} trades in steps of {smallest}, not {step}; sized in {smallest}.")
        return smallest
    return step
