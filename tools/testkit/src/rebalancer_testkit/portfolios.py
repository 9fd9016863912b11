"""Builders of portfolio views, quotes, targets and policies for tests (the planner's worked
examples, the CLI's and the benchmarks').

Prices and quantities are given as strings or ints and become Decimals; every quote is
fresh and live at ``NOW`` unless told otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.accounts import parse_accounts
from shared.contracts.base import TargetWeight, utc_now
from shared.contracts.portfolio import GetPortfolio, PortfolioView, Quote
from shared.contracts.positions import Position
from shared.contracts.prices import MarketDataType
from shared.policy import PlanningPolicy

NOW = datetime(2025, 6, 24, 15, 0, tzinfo=UTC)
ACCOUNT = "DU111111"

Num = str | int | Decimal


def D(value: Num) -> Decimal:
    """Decimal from a str/int (never a float)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def quote(
    symbol: str,
    price: Num | None = None,
    *,
    bid: Num | None = None,
    ask: Num | None = None,
    last: Num | None = None,
    age_s: float = 1,
    data: MarketDataType | None = MarketDataType.LIVE,
    status: str = "ok",
    now: datetime = NOW,
) -> Quote:
    """A quote whose bid and ask are ``price`` unless given."""
    return Quote(
        symbol=symbol,
        status=status,
        bid=D(bid) if bid is not None else (D(price) if price is not None else None),
        ask=D(ask) if ask is not None else (D(price) if price is not None else None),
        last=D(last) if last is not None else None,
        market_data_type=data,
        as_of=now - timedelta(seconds=age_s),
    )


def view(
    cash: Num,
    holdings: dict[str, tuple[Num, Num]] | None = None,
    prices: dict[str, Num] | None = None,
    *,
    quotes: list[Quote] | None = None,
    nlv: Num | None = None,
    positions_age_s: float = 1,
    unqualified: tuple[str, ...] = (),
    account: str = ACCOUNT,
    now: datetime = NOW,
) -> PortfolioView:
    """A view with ``holdings`` {symbol: (quantity, price)} and quotes for them and ``prices``.

    Net liquidation is cash plus the holdings' value unless ``nlv`` is given.
    """
    holdings = holdings or {}
    positions = tuple(
        Position(symbol=s, quantity=D(q), average_cost=D(p), market_price=D(p))
        for s, (q, p) in holdings.items()
    )
    all_prices = {s: p for s, (_, p) in holdings.items()} | (prices or {})
    built = [quote(s, p, now=now) for s, p in all_prices.items()]
    if quotes is not None:
        replaced = {q.symbol for q in quotes}
        built = [q for q in built if q.symbol not in replaced] + quotes
    total = D(cash) + sum((D(q) * D(p) for q, p in holdings.values()), Decimal(0))
    return PortfolioView(
        source="test-bridge",
        account_id=account,
        net_liquidation=D(nlv) if nlv is not None else total,
        total_cash=D(cash),
        positions=positions,
        quotes=tuple(built),
        unqualified=unqualified,
        positions_as_of=now - timedelta(seconds=positions_age_s),
        account_as_of=now - timedelta(seconds=positions_age_s),
    )


def targets(weights: dict[str, Num]) -> tuple[TargetWeight, ...]:
    """Target weights in the given order."""
    return tuple(TargetWeight(symbol=s, weight=D(w)) for s, w in weights.items())


def policy(**overrides: Any) -> PlanningPolicy:
    """A policy for worked examples: no minimums and no commissions unless given."""
    base: dict[str, Any] = {
        "min_order_value": Decimal(0),
        "min_share_diff": Decimal(0),
        "commission_per_share": Decimal(0),
        "commission_minimum": Decimal(0),
    }
    return PlanningPolicy(**(base | overrides))


ACCOUNTS = parse_accounts(  # two accounts of group "family"; DU222222 is buy-only
    {
        "defaults": {
            "planning": {
                "min_order_value": "0",
                "commission_minimum": "0",
                "commission_per_share": "0",
            }
        },
        "accounts": [
            {"id": "DU111111", "groups": ["family"]},
            {"id": "DU222222", "groups": ["family"], "planning": {"mode": "buy_only"}},
        ],
    }
)


def account_view(account: str) -> Any:
    def build(request: GetPortfolio) -> PortfolioView:
        return view(
            0,
            {"SPY": (55, 100), "AGG": (45, 100)},
            prices={"QQQ": 400},
            account=account,
            now=utc_now(),
        )

    return build


SEED002_HOLDINGS = {"SPY": (55, 100), "AGG": (45, 100)}
SEED002_TARGETS = {"SPY": "0.6", "AGG": "0.4"}
"""The reference rebalancer's README example: 55/45 SPY/AGG at 100 each, to 60/40."""
