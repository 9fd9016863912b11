"""``plan_rebalance``: from a portfolio view, targets and a policy to a plan or a rejection.

Percentages in the drift table are of the *managed value*: net liquidation less the
holdings the plan leaves alone (excluded symbols, and positions outside the target when
``sell_unlisted`` is off). A target's value is ``weight * (1 - target_cash_weight) *
managed value``. Quantities are rounded to the nearest step (half to even), a sell never
exceeds the shares held (no short is ever planned), and buys are sized from the cash
after sells, less the buffer and commissions (see :mod:`shared.rebalancing.costs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from planner.core.book import Book, read_book
from planner.core.currencies import Budget, Funding, convert, separate
from planner.core.quotes import Prices
from planner.core.targets import normalise_symbol, resolve_targets
from planner.core.types import Plan, Rejection, ResolvedTargets, Skip
from shared.contracts.base import Reason, Side, TargetWeight
from shared.contracts.plans import BatchSummary, DriftRow, PlanLeg
from shared.contracts.portfolio import PortfolioView
from shared.policy import PlanningPolicy, TradeMode
from shared.rebalancing.costs import (
    BuyDemand,
    allocate_buys,
    commission,
    floor_to_step,
    round_to_step,
)
from shared.rebalancing.exposure import Exposure
from shared.rebalancing.fx import FX_SIZE_STEP
from shared.rebalancing.numbers import CENT, TEN_THOUSANDTH, fmt, money, ratio

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
_ACTIONS = {Side.BUY: "BUY", Side.SELL: "SELL"}  # Side.X.value is a slow enum property


@dataclass(slots=True)
class _Line:
    """One managed symbol on its way to a drift row."""

    symbol: str
    weight: Decimal
    quantity: Decimal
    prices: Prices | None
    value: Decimal
    target_value: Decimal
    step: Decimal
    side: Side | None = None
    wanted: Decimal = ZERO
    planned: Decimal = ZERO
    skip: str | None = None
    estimated_value: Decimal | None = None


def plan_rebalance(
    portfolio: PortfolioView,
    targets: Sequence[TargetWeight] | ResolvedTargets,
    policy: PlanningPolicy,
    now: datetime,
) -> Plan | Rejection:
    """Plan the trades that bring ``portfolio`` to ``targets`` under ``policy`` at ``now``."""
    resolved = targets if isinstance(targets, ResolvedTargets) else resolve_targets(targets, policy)
    if isinstance(resolved, Rejection):
        return resolved
    book = read_book(portfolio, resolved, policy, now)
    if isinstance(book, Rejection):
        return book
    warnings = [*resolved.warnings, *book.warnings]
    managed_value = book.net_liquidation - book.unmanaged_value
    if managed_value <= 0:
        return Rejection(
            (
                _reason(
                    "no_managed_value",
                    f"Net liquidation {fmt(book.net_liquidation)} is all held in excluded or "
                    "left-alone positions; nothing is left for the target weights.",
                ),
            )
        )
    if book.unmanaged:
        warnings.append(
            f"Weights apply to {fmt(managed_value)}: net liquidation {fmt(book.net_liquidation)} "
            f"less {fmt(book.unmanaged_value)} held in positions left alone "
            f"({', '.join(sorted(book.unmanaged))})."
        )

    invested = Decimal(1) - policy.target_cash_weight
    lines = _lines(book, resolved, invested * managed_value)
    drift = _portfolio_drift(lines, managed_value, invested, resolved)
    rules = _Rules(policy, managed_value)
    for line in lines:
        _want(line, rules)
    band = policy.portfolio_drift_band_pct
    if band > 0 and drift <= band:
        for line in lines:
            if line.wanted > 0:
                line.skip = f"{Skip.INSIDE_PORTFOLIO_BAND.value} (portfolio drift {fmt(drift)}%)"
                line.wanted = ZERO
        warnings.append(
            f"Portfolio drift {fmt(drift)}% is within the portfolio band {band}%: nothing to trade."
        )
    sells = [line for line in lines if line.side is Side.SELL and line.wanted > 0]
    for line in sells:
        line.planned = line.wanted
    buys = [line for line in lines if line.side is Side.BUY and line.wanted > 0]
    exposure = _exposure(book)
    funding = _size_buys(buys, sells, book, exposure, policy, warnings)

    legs = _legs(sells, buys, funding, book)
    summary = _summary(book, exposure, legs, policy, funding)
    rows = [_row(line, managed_value, book) for line in lines]
    rows.extend(
        _unmanaged_row(s, v, k, book.net_liquidation) for s, (v, k) in book.unmanaged.items()
    )
    return Plan(
        legs=legs,
        drift=tuple(rows),
        summary=summary,
        warnings=tuple(warnings),
        portfolio_drift_pct=ratio(drift),
        managed_value=money(managed_value),
    )


def _lines(book: Book, targets: ResolvedTargets, invested_value: Decimal) -> list[_Line]:
    """One line per managed symbol, in the book's order (targets first, then unlisted)."""
    weights, quantities, prices_of, steps = (
        targets.weights,
        book.quantities,
        book.prices,
        book.steps,
    )
    lines = []
    for symbol in book.managed:
        weight = weights.get(symbol, ZERO)
        quantity = quantities.get(symbol, ZERO)
        prices = prices_of.get(symbol)
        value = quantity * prices.value if prices is not None else ZERO
        lines.append(
            _Line(
                symbol,
                weight,
                quantity,
                prices,
                value,
                weight * invested_value,
                steps.get(symbol, ONE),
            )
        )
    return lines


def _portfolio_drift(
    lines: list[_Line], managed_value: Decimal, invested: Decimal, targets: ResolvedTargets
) -> Decimal:
    """Half the sum of absolute drifts, cash included, in % points of the managed value."""
    total = sum((abs(line.value - line.target_value) for line in lines), ZERO)
    cash = managed_value - sum((line.value for line in lines), ZERO)
    target_cash = managed_value * (Decimal(1) - invested * sum(targets.weights.values(), ZERO))
    total += abs(cash - target_cash)
    return total / 2 / managed_value * HUNDRED


class _Rules:
    """What ``_want`` checks for every line, read from the policy once per plan."""

    __slots__ = (
        "band_abs",
        "band_rel",
        "bands",
        "managed_value",
        "min_order_value",
        "min_share_diff",
        "mode",
        "modes",
        "symbol_modes",
    )

    def __init__(self, policy: PlanningPolicy, managed_value: Decimal) -> None:
        self.managed_value = managed_value
        self.band_abs = policy.drift_band_abs_pct
        self.band_rel = policy.drift_band_rel_pct
        self.bands = self.band_abs > 0 or self.band_rel > 0
        self.mode = policy.mode
        self.symbol_modes = {normalise_symbol(k): v for k, v in policy.symbol_modes.items()}
        self.modes = self.mode is not TradeMode.BOTH or bool(self.symbol_modes)
        self.min_share_diff = policy.min_share_diff
        self.min_order_value = policy.min_order_value


def _want(line: _Line, rules: _Rules) -> None:
    """Decide the trade a line needs, or why it is skipped (before cash is considered)."""
    prices = line.prices
    if prices is None:
        return  # a zero target that is not held: nothing to do
    step = line.step
    raw = line.target_value / prices.value - line.quantity
    delta = round_to_step(raw, step)
    if delta == 0:
        if raw != 0 and line.target_value != line.value:
            line.skip = f"{Skip.ROUNDS_TO_ZERO.value} ({fmt(raw, 4)} shares, step {step})"
        return
    if delta > 0:
        side, wanted, price = Side.BUY, delta, prices.buy
    else:
        held = line.quantity if line.quantity >= ZERO else ZERO  # max(quantity, 0)
        side, wanted, price = Side.SELL, min(-delta, floor_to_step(held, step)), prices.sell
    line.side = side
    if rules.bands and line.weight > 0 and _inside_band(line, rules):
        line.skip = Skip.INSIDE_BAND.value
        return
    blocked = _blocked(line.symbol, side, rules) if rules.modes else None
    if blocked is not None:
        line.skip = f"{blocked.value} ({side.value} {fmt(wanted, 4)} not allowed)"
        return
    if wanted <= 0:
        line.skip = Skip.NOTHING_HELD.value
        return
    if wanted < rules.min_share_diff:
        line.skip = (
            f"{Skip.BELOW_MIN_SHARES.value} ({side.value} {fmt(wanted, 4)} < "
            f"{rules.min_share_diff})"
        )
        return
    if wanted * price < rules.min_order_value:
        line.skip = (
            f"{Skip.BELOW_MIN_VALUE.value} ({side.value} {fmt(wanted, 4)} x {fmt(price)} = "
            f"{fmt(wanted * price)} < {fmt(rules.min_order_value)})"
        )
        return
    line.wanted = wanted


def _inside_band(line: _Line, rules: _Rules) -> bool:
    """Whether the drift is within every configured band (none configured: never)."""
    managed_value = rules.managed_value
    drift_points = abs(line.value - line.target_value) / managed_value * HUNDRED
    target_pct = line.target_value / managed_value * HUNDRED
    checks: list[bool] = []
    if rules.band_abs > 0:
        checks.append(drift_points <= rules.band_abs)
    if rules.band_rel > 0:
        checks.append(drift_points <= rules.band_rel / HUNDRED * target_pct)
    return bool(checks) and all(checks)


def _blocked(symbol: str, side: Side, rules: _Rules) -> Skip | None:
    """The mode (account, then symbol) that forbids ``side``, if any: both must allow it."""
    for mode in (rules.mode, rules.symbol_modes.get(symbol)):
        if mode is TradeMode.BUY_ONLY and side is Side.SELL:
            return Skip.BUY_ONLY
        if mode is TradeMode.SELL_ONLY and side is Side.BUY:
            return Skip.SELL_ONLY
    return None


def _size_buys(
    buys: list[_Line],
    sells: list[_Line],
    book: Book,
    exposure: Exposure,
    policy: PlanningPolicy,
    warnings: list[str],
) -> Funding | None:
    """Fit the buys into the cash after sells, buffer, commissions (and allowed leverage)."""
    if not buys and not book.multi_currency:
        return None
    proceeds = sum((line.planned * _prices(line).sell for line in sells), ZERO)
    sell_costs = sum((commission(line.planned, policy) for line in sells), ZERO)
    nlv = book.net_liquidation
    leverage = policy.leverage_limit
    buffer = policy.cash_buffer_pct / HUNDRED * nlv
    cash_budget = book.cash + proceeds - sell_costs - buffer + (leverage - 1) * nlv
    exposure_after_sells = exposure.after({line.symbol: -line.planned for line in sells}, {})
    exposure_budget = leverage * nlv - exposure_after_sells - sell_costs
    budget = max(ZERO, min(cash_budget, exposure_budget))
    if book.multi_currency:
        terms = Budget(total=budget, buffer=buffer, extra=(leverage - 1) * nlv)
        if policy.currency_policy == "convert":
            funding = convert(buys, sells, book, terms, policy, warnings)
        else:
            funding = separate(buys, sells, book, terms, policy)
        _note_short(buys, book, funding, policy, warnings)
        return funding
    demands = [
        BuyDemand(line.symbol, line.wanted, max(_prices(line).buy, _prices(line).value), line.step)
        for line in buys
    ]  # unit cost: never below the valuation, so the buys cannot raise exposure past the limit
    chosen = allocate_buys(demands, budget, policy)
    short = False
    for line in buys:
        line.planned = chosen[line.symbol]
        if line.planned < line.wanted:
            short = True
            line.skip = (
                f"{Skip.NO_CASH.value} (wanted {fmt(line.wanted, 4)}, "
                f"planned {fmt(line.planned, 4)})"
            )
    if short:
        warnings.append(
            f"Buys were reduced to fit {fmt(budget)} available: cash {fmt(book.cash)} plus sells "
            f"{fmt(proceeds)}, less the {policy.cash_buffer_pct}% cash buffer {fmt(buffer)} and "
            "estimated commissions."
        )
    return None


def _note_short(
    buys: list[_Line], book: Book, funding: Funding, policy: PlanningPolicy, warnings: list[str]
) -> None:
    """Say which buys were reduced, and in which currency the cash was missing."""
    for line in buys:
        if line.planned < line.wanted:
            line.skip = (
                f"{Skip.NO_CASH.value} in {book.currency(line.symbol)} (wanted "
                f"{fmt(line.wanted, 4)}, planned {fmt(line.planned, 4)})"
            )
    for currency, missing in sorted(funding.unfunded.items()):
        if missing <= 0:
            continue
        if policy.currency_policy == "separate":
            warnings.append(
                f"Buys worth {fmt(missing)} {currency} were not planned: the {currency} cash "
                f"does not pay for them and currency_policy is separate (no currency is "
                f"converted or borrowed). Convert {currency} or set currency_policy: convert."
            )
        else:
            warnings.append(
                f"Buys worth {fmt(missing)} {currency} were not planned: the {currency} cash "
                "does not pay for them."
            )
    if any(line.planned < line.wanted for line in buys) and not funding.unfunded:
        warnings.append(
            f"Buys were reduced to fit the account's cash (in {book.base}: cash "
            f"{fmt(book.cash)} plus sells, less the {policy.cash_buffer_pct}% cash buffer and "
            "estimated commissions)."
        )


def _prices(line: _Line) -> Prices:
    assert line.prices is not None, "a line with a trade always has prices"
    return line.prices


def _exposure(book: Book) -> Exposure:
    """The book's holdings valued once; holdings left alone count at their market value."""
    holdings = {
        symbol: (quantity, prices.value)
        for symbol, quantity in book.quantities.items()
        if (prices := book.prices.get(symbol)) is not None
    }
    other = sum((abs(value) for value, _ in book.unmanaged.values()), ZERO)
    return Exposure(holdings, other)


def _legs(
    sells: list[_Line], buys: list[_Line], funding: Funding | None, book: Book
) -> tuple[PlanLeg, ...]:
    """Sells, then the FX legs, then the buys (each in its currency when not all are USD)."""
    legs: list[PlanLeg] = []
    _stock_legs(legs, Side.SELL, sells, funding, book)
    if funding is not None:
        for fx in funding.fx:
            order = fx.order
            legs.append(
                PlanLeg(
                    leg=len(legs),
                    symbol=order.pair.symbol,
                    side=Side(order.side),
                    quantity=order.quantity,
                    reference_price=order.price,
                    estimated_value=money(order.quantity * order.price),
                    quantity_step=FX_SIZE_STEP,
                    currency=order.pair.quote,
                    sec_type="CASH",
                    funds_currency=fx.buys,
                    estimated_value_base=money(fx.value),
                )
            )
    _stock_legs(legs, Side.BUY, buys, funding, book)
    return tuple(legs)


def _stock_legs(
    legs: list[PlanLeg], side: Side, lines: list[_Line], funding: Funding | None, book: Book
) -> None:
    for line in lines:
        if line.planned <= 0:
            continue
        prices = _prices(line)
        price = prices.sell if side is Side.SELL else prices.buy
        if funding is None:
            line.estimated_value = money(line.planned * price)
            legs.append(
                PlanLeg(
                    leg=len(legs),
                    symbol=line.symbol,
                    side=side,
                    quantity=line.planned,
                    reference_price=price,
                    estimated_value=line.estimated_value,
                    quantity_step=line.step,
                )
            )
            continue
        native = book.native_prices(line.symbol)
        quoted = native.sell if side is Side.SELL else native.buy
        times = book.magnifier.get(line.symbol, 1)
        line.estimated_value = money(line.planned * quoted / times)
        legs.append(
            PlanLeg(
                leg=len(legs),
                symbol=line.symbol,
                side=side,
                quantity=line.planned,
                reference_price=quoted,
                estimated_value=line.estimated_value,
                quantity_step=line.step,
                currency=book.currency(line.symbol),
                estimated_value_base=money(line.planned * price),
                price_magnifier=times,
            )
        )


def _base_value(leg: PlanLeg) -> Decimal:
    if leg.estimated_value_base is not None:
        return leg.estimated_value_base
    return leg.quantity * leg.reference_price


def _summary(
    book: Book,
    exposure: Exposure,
    all_legs: tuple[PlanLeg, ...],
    policy: PlanningPolicy,
    funding: Funding | None = None,
) -> BatchSummary:
    legs = [leg for leg in all_legs if leg.sec_type != "CASH"]
    buy = sum((_base_value(leg) for leg in legs if leg.side is Side.BUY), ZERO)
    sell = sum((_base_value(leg) for leg in legs if leg.side is Side.SELL), ZERO)
    fees = sum((commission(leg.quantity, policy) for leg in legs), ZERO)
    change = {leg.symbol: leg.quantity if leg.side is Side.BUY else -leg.quantity for leg in legs}
    nlv = book.net_liquidation
    pre = exposure.gross
    post = exposure.after(change, {s: p.value for s, p in book.prices.items()})
    if funding is not None:
        return _multi_summary(book, (pre, post, buy, sell, fees), funding, policy)
    return BatchSummary(
        net_liquidation=money(nlv),
        cash_before=money(book.cash),
        cash_after=money(book.cash + sell - buy - fees),
        gross_buy=money(buy),
        gross_sell=money(sell),
        pre_gross_exposure=money(pre),
        post_gross_exposure=money(post),
        pre_leverage=ratio(pre / nlv),
        post_leverage=ratio(post / nlv),
        turnover_pct=ratio((buy + sell) / nlv * HUNDRED),
        estimated_commissions=money(fees),
        currency=book.base,
    )


def _multi_summary(
    book: Book,
    figures: tuple[Decimal, Decimal, Decimal, Decimal, Decimal],
    funding: Funding,
    policy: PlanningPolicy,
) -> BatchSummary:
    """The summary of a plan over several currencies: totals in the base, cash per currency."""
    pre, post, buy, sell, fees = figures
    fees += funding.fx_fees
    nlv = book.net_liquidation
    fx = sum((leg.value for leg in funding.fx), ZERO)
    return BatchSummary(
        net_liquidation=money(nlv),
        cash_before=money(book.cash),
        cash_after=money(book.cash + sell - buy - fees),
        gross_buy=money(buy),
        gross_sell=money(sell),
        pre_gross_exposure=money(pre),
        post_gross_exposure=money(post),
        pre_leverage=ratio(pre / nlv),
        post_leverage=ratio(post / nlv),
        turnover_pct=ratio((buy + sell) / nlv * HUNDRED),
        estimated_commissions=money(fees),
        currency=book.base,
        cash_by_currency_before={c: money(v) for c, v in sorted(book.cash_by_currency.items())},
        cash_by_currency_after={c: money(v) for c, v in sorted(funding.cash_after.items())},
        exchange_rates={c: r for c, r in sorted(book.rates.items()) if c != book.base},
        gross_fx=money(fx),
        unfunded={c: money(v) for c, v in sorted(funding.unfunded.items()) if v > 0},
        currency_policy=policy.currency_policy,
    )


def _row(line: _Line, managed_value: Decimal, book: Book) -> DriftRow:
    # ratio() and money() inlined (same quantize): this runs for every symbol of a plan.
    current = line.value / managed_value * HUNDRED
    target = line.target_value / managed_value * HUNDRED
    prices = line.prices
    planned = line.planned
    action = _ACTIONS[line.side] if line.side is not None and planned > 0 else "HOLD"
    estimated = line.estimated_value  # the leg's, when the line became one
    if estimated is None:
        price = ZERO
        if prices is not None and line.side is not None:
            price = prices.buy if line.side is Side.BUY else prices.sell
        estimated = (planned * price).quantize(CENT, rounding=ROUND_HALF_EVEN)
    if book.multi_currency:
        fields: dict[str, Any] = {
            "estimated_value": estimated,
            "price": prices.value if prices is not None else None,
            **_native_row(line, book),
        }
        return _drift_row(line, target, current, planned, action, fields)
    return DriftRow(
        symbol=line.symbol,
        target_pct=target.quantize(TEN_THOUSANDTH, rounding=ROUND_HALF_EVEN),
        current_pct=current.quantize(TEN_THOUSANDTH, rounding=ROUND_HALF_EVEN),
        drift_pct=(current - target).quantize(TEN_THOUSANDTH, rounding=ROUND_HALF_EVEN),
        drift_value=(line.value - line.target_value).quantize(CENT, rounding=ROUND_HALF_EVEN),
        action=action,
        quantity=planned,
        current_quantity=line.quantity,
        skip_reason=line.skip,
        estimated_value=estimated,
        price=prices.value if prices is not None else None,
    )


def _drift_row(
    line: _Line,
    target: Decimal,
    current: Decimal,
    planned: Decimal,
    action: str,
    fields: dict[str, Any],
) -> DriftRow:
    return DriftRow(
        symbol=line.symbol,
        target_pct=ratio(target),
        current_pct=ratio(current),
        drift_pct=ratio(current - target),
        drift_value=money(line.value - line.target_value),
        action=action,
        quantity=planned,
        current_quantity=line.quantity,
        skip_reason=line.skip,
        **fields,
    )


def _native_row(line: _Line, book: Book) -> dict[str, Any]:
    """A row's price and estimated value in the symbol's currency (drift stays in the base)."""
    found: dict[str, Any] = {"currency": book.currency(line.symbol)}
    if line.prices is not None:
        native = book.native_prices(line.symbol)
        found["price"] = native.value
        if line.estimated_value is None and line.planned > 0 and line.side is not None:
            quoted = native.buy if line.side is Side.BUY else native.sell
            found["estimated_value"] = money(
                line.planned * quoted / book.magnifier.get(line.symbol, 1)
            )
    return found


def _unmanaged_row(symbol: str, value: Decimal, skip: Skip, nlv: Decimal) -> DriftRow:
    pct = ratio(value / nlv * HUNDRED)
    detail = (
        "never traded, left out of the weights"
        if skip is Skip.EXCLUDED
        else "sell_unlisted is off, left out of the weights"
    )
    return DriftRow(
        symbol=symbol,
        target_pct=pct,
        current_pct=pct,
        drift_pct=ZERO,
        drift_value=ZERO,
        action="HOLD",
        quantity=ZERO,
        estimated_value=ZERO,
        skip_reason=f"{skip.value} ({detail}; % of net liquidation)",
    )


def _reason(code: str, message: str) -> Reason:
    return Reason(code=code, message=message)
