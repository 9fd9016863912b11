"""Planning and execution policies: global defaults with per-account overrides.

These are the options the reference tools' users rely on (minimum order, fractional shares,
drift bands, cash buffer, buy-only, replacements, order type and algo, trading hours...).
Every default is the conservative one. Policies are frozen values; an override is applied
with :func:`merge_policy`, which validates the result as a whole.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TradeMode(StrEnum):
    """Which sides may trade, for an account or a symbol."""

    BOTH = "both"
    BUY_ONLY = "buy_only"
    SELL_ONLY = "sell_only"


class ApprovalMode(StrEnum):
    """How a plan becomes orders: never (dry_run), after ApprovePlan (manual), or auto."""

    DRY_RUN = "dry_run"
    MANUAL = "manual"
    AUTO = "auto"


class Replacement(BaseModel):
    """Trade ``symbol`` instead of the target's symbol, scaling its weight by ``scale``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    scale: Decimal = Field(default=Decimal("1"), gt=0)


class PlanningPolicy(BaseModel):
    """How the planner turns targets into legs for one account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_order_value: Decimal = Field(
        default=Decimal("100"), ge=0, description="Skip a leg worth less than this (money)."
    )
    min_share_diff: Decimal = Field(
        default=Decimal("0.5"), ge=0, description="Skip a leg of fewer shares than this."
    )
    fractional: bool = Field(default=False, description="Allow fractional quantities.")
    quantity_increment: Decimal = Field(
        default=Decimal("0.0001"), gt=0, description="Quantity step when fractional."
    )
    drift_band_abs_pct: Decimal = Field(
        default=Decimal("0"), ge=0, description="Per holding: no trade within this many % points."
    )
    drift_band_rel_pct: Decimal = Field(
        default=Decimal("0"), ge=0, description="Per holding: no trade within this % of its target."
    )
    portfolio_drift_band_pct: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        description="Whole portfolio: no trade at all when total absolute drift / 2 is within this.",
    )
    cash_buffer_pct: Decimal = Field(
        default=Decimal("0"), ge=0, le=100, description="% of net liquidation always kept in cash."
    )
    target_cash_weight: Decimal = Field(
        default=Decimal("0"), ge=0, le=1, description="Cash as a target weight (0.05 is 5 %)."
    )
    mode: TradeMode = TradeMode.BOTH
    symbol_modes: dict[str, TradeMode] = Field(default_factory=dict)
    sell_unlisted: bool = Field(
        default=True, description="Sell positions not in the target (else leave them)."
    )
    excluded_symbols: frozenset[str] = Field(
        default_factory=frozenset, description="Never traded, left out of the weights."
    )
    allow_leverage: bool = False
    max_leverage: Decimal = Field(default=Decimal("1"), ge=1)
    weight_tolerance: Decimal = Field(
        default=Decimal("0.001"), ge=0, description="Allowed distance of the weights' sum from 1."
    )
    replacements: dict[str, Replacement] = Field(default_factory=dict)
    sizing_price: Literal["mid", "bid_ask", "last"] = Field(
        default="mid", description="mid, or ask for buys and bid for sells, or last."
    )
    max_quote_age_s: int = Field(default=300, gt=0, description="Older quotes are stale.")
    max_positions_age_s: int = Field(default=300, gt=0, description="Older positions are stale.")
    require_live_data: bool = Field(default=False, description="Refuse delayed market data.")
    commission_per_share: Decimal = Field(default=Decimal("0.005"), ge=0)
    commission_minimum: Decimal = Field(default=Decimal("1"), ge=0)
    plan_ttl_s: int = Field(default=900, gt=0, description="A plan is valid this long.")
    currency_policy: Literal["separate", "convert"] = Field(
        default="separate",
        description="Buys in a currency other than the base: `separate` pays them from that "
        "currency's cash only (what it cannot fund is reported, never borrowed); `convert` adds "
        "the FX legs that fund each currency's net buys (sells, then FX, then buys).",
    )
    fx_buffer_pct: Decimal = Field(
        default=Decimal("0.5"),
        ge=0,
        le=10,
        description="`convert`: buy this % more of a currency than its buys need, so a price "
        "move between the FX fill and the buys does not leave it negative.",
    )
    min_fx_order_value: Decimal = Field(
        default=Decimal("100"),
        ge=0,
        description="`convert`: an FX leg worth less (in the base currency) is not planned; "
        "the buys in that currency are then sized from its own cash.",
    )
    fx_commission_minimum: Decimal = Field(
        default=Decimal("2"),
        ge=0,
        description="Estimated commission of one FX leg, in the base currency (IB: USD 2.00).",
    )

    @property
    def leverage_limit(self) -> Decimal:
        """Gross exposure allowed, as a multiple of net liquidation (1 without leverage)."""
        return self.max_leverage  # 1 unless allow_leverage (the validator below holds it)

    @model_validator(mode="after")
    def _leverage_consistent(self) -> PlanningPolicy:
        if not self.allow_leverage and self.max_leverage != 1:
            raise ValueError("max_leverage above 1 needs allow_leverage: true")
        return self


class OrderStyle(StrEnum):
    """Order type the executor sends."""

    MARKET = "market"
    LIMIT = "limit"
    MIDPRICE = "midprice"
    ADAPTIVE = "adaptive"


class ExecutionPolicy(BaseModel):
    """How the executor approves and places one account's plans, and its risk limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval: ApprovalMode = ApprovalMode.DRY_RUN
    order_type: OrderStyle = OrderStyle.MARKET
    limit_offset_bps: Decimal = Field(default=Decimal("5"), ge=0)
    adaptive_priority: Literal["Patient", "Normal", "Urgent"] = "Normal"
    fallback_to_market: bool = Field(
        default=True, description="Market order if the algo is refused."
    )
    outside_rth: bool = Field(default=False, description="Allow extended-hours trading.")
    outside_window: Literal["wait", "expire"] = "wait"
    cancel_open_orders_first: bool = False
    sell_fill_timeout_s: int = Field(default=300, gt=0)
    fill_timeout_s: int = Field(default=300, gt=0)
    on_fill_timeout: Literal["leave", "cancel", "reprice"] = "cancel"
    max_order_notional: Decimal | None = Field(default=None, gt=0)
    max_turnover_pct: Decimal | None = Field(default=None, gt=0)
    max_post_leverage: Decimal = Field(default=Decimal("1.05"), gt=0)
    allowed_symbols: frozenset[str] | None = None
    denied_symbols: frozenset[str] = Field(default_factory=frozenset)
    price_collar_pct: Decimal = Field(default=Decimal("5"), gt=0)
    daily_order_cap: int | None = Field(default=200, gt=0)
    daily_notional_cap: Decimal | None = Field(default=None, gt=0)
    trading_window: str | None = Field(
        default=None,
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
        description="Local `HH:MM-HH:MM` in which plans may start (None: any time).",
    )
    trading_window_tz: str = Field(default="America/New_York")


P = TypeVar("P", PlanningPolicy, ExecutionPolicy)


def merge_policy(base: P, overrides: dict[str, Any] | None) -> P:
    """Return ``base`` with ``overrides`` applied, validated as a whole (raises ValidationError)."""
    if not overrides:
        return base
    return type(base).model_validate({**base.model_dump(), **overrides})
