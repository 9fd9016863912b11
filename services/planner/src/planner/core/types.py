"""Values the core returns: a plan or a rejection, and the resolved targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from shared.contracts.base import Reason
from shared.contracts.plans import BatchSummary, DriftRow, PlanLeg


class Skip(StrEnum):
    """Why a needed trade was not planned; the first words of ``DriftRow.skip_reason``."""

    INSIDE_BAND = "inside the drift band"
    INSIDE_PORTFOLIO_BAND = "inside the portfolio drift band"
    BUY_ONLY = "buy-only"
    SELL_ONLY = "sell-only"
    NO_TRADE = "trading disabled"
    BELOW_MIN_VALUE = "below the minimum order value"
    BELOW_MIN_SHARES = "below the minimum share difference"
    ROUNDS_TO_ZERO = "rounds to zero"
    NO_CASH = "not enough cash"
    NOTHING_HELD = "nothing held to sell"
    EXCLUDED = "excluded"
    LEFT_UNLISTED = "not in the target, left as is"


@dataclass(frozen=True, slots=True)
class ResolvedTargets:
    """Targets after validation, replacements and exclusions: traded symbol -> weight.

    ``weights`` keeps the order of the allocation; weights are fractions of the managed value
    (net liquidation less excluded and left-alone holdings), before the target cash weight.
    """

    weights: dict[str, Decimal]
    requested_sum: Decimal
    replaced: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every symbol the plan may trade for these targets (ask the bridge for these)."""
        return tuple(self.weights)


@dataclass(frozen=True, slots=True)
class Rejection:
    """No plan: every reason says what was wrong and what to do."""

    reasons: tuple[Reason, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        """The reasons' stable codes (for tests and metrics)."""
        return tuple(r.code for r in self.reasons)


@dataclass(frozen=True, slots=True)
class Plan:
    """Legs (sells before buys), the drift table, the batch summary and the warnings.

    ``managed_value`` is what the weights apply to; ``portfolio_drift_pct`` is the sum of
    the absolute drifts (cash included) halved, in percentage points of it.
    """

    legs: tuple[PlanLeg, ...]
    drift: tuple[DriftRow, ...]
    summary: BatchSummary
    warnings: tuple[str, ...]
    portfolio_drift_pct: Decimal
    managed_value: Decimal
