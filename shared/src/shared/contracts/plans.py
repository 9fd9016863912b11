"""``events.plans.v1``: a plan's whole life, from proposal (planner) to outcome (executor)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import (
    Contract,
    ExecutionMode,
    Message,
    Money,
    Price,
    Quantity,
    Ratio,
    Reason,
    Side,
    UtcDatetime,
)
from shared.contracts.order_commands import ManualOrder

STREAM = "events.plans.v1"

DriftAction = Literal["BUY", "SELL", "HOLD"]


class PlanLeg(Contract):
    """One order the plan intends: sells come before buys."""

    leg: int = Field(ge=0, description="Position of the leg in the plan; part of client_order_id.")
    symbol: str
    con_id: int | None = None
    side: Side
    quantity: Quantity
    reference_price: Price
    estimated_value: Money
    quantity_step: Quantity | None = Field(
        default=None, description="Quantities of this leg are multiples of it (1: whole shares)."
    )
    currency: str | None = Field(
        default=None,
        description="Currency of reference_price and estimated_value (None: the account's base).",
    )
    sec_type: Literal["STK", "CASH"] = Field(
        default="STK", description="STK, or CASH for an FX leg (symbol like EUR.USD)."
    )
    funds_currency: str | None = Field(
        default=None, description="FX leg: the currency it buys to pay the buys in it."
    )
    estimated_value_base: Money | None = Field(
        default=None, description="estimated_value in the account's base currency."
    )
    price_magnifier: int = Field(
        default=1, ge=1, description="IB's priceMagnifier: reference_price is in 1/n units."
    )
    order: ManualOrder | None = Field(
        default=None,
        description="The operator's order this leg is (sent as asked: type, limit, TIF, RTH).",
    )


class DriftRow(Contract):
    """One row of the drift table: where a symbol stands against its target, and why."""

    symbol: str
    target_pct: Ratio
    current_pct: Ratio
    drift_pct: Ratio = Field(description="current_pct - target_pct, in percentage points.")
    drift_value: Money = Field(description="Money over (+) or under (-) the target.")
    action: DriftAction
    quantity: Quantity
    estimated_value: Money
    current_quantity: Quantity = Quantity("0")
    price: Price | None = None
    skip_reason: str | None = Field(default=None, description="Why a needed trade was not planned.")
    currency: str | None = Field(
        default=None,
        description="Currency of price and estimated_value; drift_value is in the base currency.",
    )


class BatchSummary(Contract):
    """Totals of a plan, as the reference ETF rebalancer prints them."""

    net_liquidation: Money
    cash_before: Money
    cash_after: Money
    gross_buy: Money
    gross_sell: Money
    pre_gross_exposure: Money
    post_gross_exposure: Money
    pre_leverage: Ratio
    post_leverage: Ratio
    turnover_pct: Ratio
    estimated_commissions: Money
    currency: str = "USD"
    cash_by_currency_before: dict[str, Money] = Field(
        default_factory=dict, description="Cash per currency now, each in its own currency."
    )
    cash_by_currency_after: dict[str, Money] = Field(
        default_factory=dict, description="Cash per currency the plan expects after its legs."
    )
    exchange_rates: dict[str, Price] = Field(
        default_factory=dict, description="IB's rates used: one unit's value in the base currency."
    )
    gross_fx: Money = Field(default=Money("0"), description="FX legs' value, in base currency.")
    unfunded: dict[str, Money] = Field(
        default_factory=dict,
        description="Buys that no cash of their currency pays for, by currency (not planned).",
    )
    currency_policy: str | None = None


class LegResult(Contract):
    """What happened to one leg once executed."""

    leg: int
    client_order_id: str
    symbol: str
    side: Side
    ordered_quantity: Quantity
    filled_quantity: Quantity
    average_price: Price | None = None
    commission: Money = Money("0")
    currency: str | None = Field(default=None, description="Currency of average_price.")
    status: Literal["filled", "partially_filled", "cancelled", "rejected", "unknown", "skipped"]


class SizingTerms(Contract):
    """How the plan's buys may be sized again from the cash the account has after the sells.

    The planner's effective policy, typed: the executor sizes the buys with the same rules
    (``shared.rebalancing.costs.allocate_buys``) and never reads the audit copy in ``policy``.
    """

    cash_buffer_pct: Ratio = Field(description="% of net liquidation always kept in cash.")
    leverage_limit: Ratio = Field(description="Gross exposure allowed, times net liquidation.")
    quantity_step: Quantity = Field(description="Quantity step of a leg without its own (1).")
    commission_per_share: Money
    commission_minimum: Money
    min_order_value: Money = Field(description="A buy worth less is dropped.")
    min_share_diff: Quantity = Field(description="A buy of fewer shares is dropped.")
    currency_policy: Literal["separate", "convert"] = "separate"
    base_currency: str = "USD"
    fx_buffer_pct: Ratio = Ratio("0")
    min_fx_order_value: Money = Money("0")
    fx_commission_minimum: Money = Money("0")


class PlanProposed(Message):
    """A plan computed by the planner, valid until ``valid_until``."""

    type: Literal["PlanProposed"] = "PlanProposed"
    plan_id: str
    account_id: str
    allocation_id: str
    execution: ExecutionMode
    legs: tuple[PlanLeg, ...]
    drift: tuple[DriftRow, ...]
    summary: BatchSummary
    warnings: tuple[str, ...] = ()
    valid_until: UtcDatetime
    portfolio_as_of: UtcDatetime | None = None
    policy: dict[str, str] = Field(
        default_factory=dict, description="The effective planning policy, for the audit trail."
    )
    sizing: SizingTerms | None = Field(
        default=None, description="Terms for sizing the buys after the sells (None: older planner)."
    )
    hold_for_approval: bool = Field(
        default=False,
        description="The trigger asked to confirm: the executor waits for an ApprovePlan even "
        "for an account whose approval is auto.",
    )


class PlanRejected(Message):
    """No plan: the reasons say what to fix. Raised by the planner or the executor's risk gate."""

    type: Literal["PlanRejected"] = "PlanRejected"
    plan_id: str | None = None
    account_id: str
    allocation_id: str | None = None
    stage: Literal["planning", "risk", "approval"] = "planning"
    reasons: tuple[Reason, ...]
    report_paths: tuple[str, ...] = Field(
        default=(), description="The CSV reports the executor wrote for this outcome."
    )


class PlanAwaitingApproval(Message):
    """The executor holds the plan until an ApprovePlan arrives before ``valid_until``."""

    type: Literal["PlanAwaitingApproval"] = "PlanAwaitingApproval"
    plan_id: str
    account_id: str
    valid_until: UtcDatetime
    leg_count: int = 0


class PlanDryRunReported(Message):
    """The executor reported the plan (pre-trade report, run summary) and will never trade it."""

    type: Literal["PlanDryRunReported"] = "PlanDryRunReported"
    plan_id: str
    account_id: str
    why: str = Field(description="Why it is a dry run: the trigger, or the account's approval.")
    report_paths: tuple[str, ...] = Field(
        default=(), description="The CSV reports the executor wrote for this outcome."
    )


class PlanApproved(Message):
    """The executor approved the plan for execution."""

    type: Literal["PlanApproved"] = "PlanApproved"
    plan_id: str
    account_id: str
    approved_by: str = Field(description="`auto`, or who approved it (CLI user, API token name).")
    report_paths: tuple[str, ...] = Field(
        default=(), description="The pre-trade report the executor wrote on approval."
    )


class PlanExecutionStarted(Message):
    """The executor started sending the plan's orders."""

    type: Literal["PlanExecutionStarted"] = "PlanExecutionStarted"
    plan_id: str
    account_id: str
    leg_count: int


class PlanCompleted(Message):
    """Every leg reached a final state; ``legs`` says how each ended."""

    type: Literal["PlanCompleted"] = "PlanCompleted"
    plan_id: str
    account_id: str
    legs: tuple[LegResult, ...]
    report_path: str | None = None
    report_paths: tuple[str, ...] = Field(
        default=(), description="The CSV reports the executor wrote for this outcome."
    )


class PlanFailed(Message):
    """The plan stopped before completing; ``reasons`` says why."""

    type: Literal["PlanFailed"] = "PlanFailed"
    plan_id: str
    account_id: str
    reasons: tuple[Reason, ...]
    legs: tuple[LegResult, ...] = ()
    report_paths: tuple[str, ...] = Field(
        default=(), description="The CSV reports the executor wrote for this outcome."
    )


class PlanExpired(Message):
    """A plan waiting for approval passed its ``valid_until``; it will never execute."""

    type: Literal["PlanExpired"] = "PlanExpired"
    plan_id: str
    account_id: str
    report_paths: tuple[str, ...] = Field(
        default=(), description="The CSV reports the executor wrote for this outcome."
    )


PlanEvent = Annotated[
    PlanProposed
    | PlanRejected
    | PlanAwaitingApproval
    | PlanDryRunReported
    | PlanApproved
    | PlanExecutionStarted
    | PlanCompleted
    | PlanFailed
    | PlanExpired,
    Field(discriminator="type"),
]
MESSAGES: tuple[type[Message], ...] = (
    PlanProposed,
    PlanRejected,
    PlanAwaitingApproval,
    PlanDryRunReported,
    PlanApproved,
    PlanExecutionStarted,
    PlanCompleted,
    PlanFailed,
    PlanExpired,
)
