"""Target weights: read them (JSON rows, CSV, a mapping) and check them, with one rule set.

Every problem is returned as a :class:`~shared.contracts.base.Reason` (all of them at once,
each a sentence that says what to fix); the caller decides what a problem means for it: the
notifier refuses the trigger, the planner rejects the allocation, the CLI exits 2.

Rules: symbols are trimmed and upper-cased and match :data:`SYMBOL_PATTERN`; no symbol twice;
each weight is a finite number from 0 to the account's leverage limit (0 means "sell it");
the sum is 1 within the tolerance, or up to the leverage limit for an account that allows
leverage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from shared.contracts.base import Reason, TargetWeight
from shared.policy import PlanningPolicy
from shared.rebalancing.numbers import fmt

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9 ./\-]{0,23}$")
"""A symbol as IB spells it: letters, digits, spaces, dots or dashes, at most 24 characters."""
WEIGHT_COLUMNS = ("weight", "allocation", "target", "target_weight")
"""Names a CSV header may give the weight column (the first found wins)."""
ONE = Decimal(1)


def normalise_symbol(symbol: str) -> str:
    """Return the symbol as every service compares it: trimmed and upper-case."""
    return symbol.strip().upper()


@dataclass(frozen=True)
class ParsedTargets:
    """Targets read from some input, and every problem found reading it."""

    targets: tuple[TargetWeight, ...]
    reasons: tuple[Reason, ...] = ()
    notes: tuple[str, ...] = ()
    """How the input was read where it could be read two ways (percent, a CASH row)."""
    cash_weight: Decimal | None = None
    """A portfolio CSV's CASH row (not a target): the cash its model keeps, negative borrowed."""

    @property
    def ok(self) -> bool:
        """Whether the input could be read without a problem."""
        return not self.reasons


def parse_weight(value: object, where: str, *, code: str, blank_is_zero: bool) -> Decimal | Reason:
    """Read one weight (a JSON number or a numeric string); a Reason when it cannot be one."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return Reason(code=code, message=f"{where}: write the weight as 0.25, not {value.strip()}")
    if blank_is_zero and (value is None or (isinstance(value, str) and not value.strip())):
        return Decimal(0)  # a blank cell is a 0 % target, as in the reference portfolio CSV
    if isinstance(value, bool) or value is None:
        return Reason(code=code, message=f"{where}: weight must be a number, got {value!r}")
    try:
        # str() first: a float such as 0.1 becomes Decimal('0.1'), not its binary expansion.
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return Reason(code=code, message=f"{where}: weight {value!r} is not a number")
    if not number.is_finite():
        return Reason(code=code, message=f"{where}: weight {value!r} is not a finite number")
    return number


def make_target(symbol: str, weight: Decimal, where: str, code: str) -> TargetWeight | Reason:
    if not symbol.strip():
        return Reason(code=code, message=f"{where}: the symbol is missing or empty")
    if len(symbol.strip()) > 24:
        return Reason(code=code, message=f"{where}: symbol {symbol!r} is longer than 24 characters")
    return TargetWeight(symbol=symbol.strip(), weight=weight)


def keep_target(
    found: TargetWeight | Reason, targets: list[TargetWeight], reasons: list[Reason]
) -> None:
    if isinstance(found, Reason):
        reasons.append(found)
    else:
        targets.append(found)


def parse_target_rows(rows: object, where: str) -> ParsedTargets:
    """Read ``[{"symbol": ..., "allocation"|"weight": ...}, ...]`` (the references' JSON)."""
    code = "invalid_targets"
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable):
        message = f'{where}: expected a list of {{"symbol": ..., "allocation": ...}} objects'
        return ParsedTargets((), (Reason(code=code, message=message),))
    targets: list[TargetWeight] = []
    reasons: list[Reason] = []
    for index, row in enumerate(rows):
        at = f"{where}[{index}]"
        if not isinstance(row, Mapping):
            reasons.append(
                Reason(code=code, message=f"{at}: expected an object with symbol and allocation")
            )
            continue
        symbol = row.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            reasons.append(Reason(code=code, message=f"{at}: symbol is missing or empty"))
            continue
        if "allocation" not in row and "weight" not in row:
            reasons.append(Reason(code=code, message=f"{at} ({symbol}): allocation is missing"))
            continue
        raw = row["allocation"] if "allocation" in row else row["weight"]
        weight = parse_weight(raw, f"{at} ({symbol})", code=code, blank_is_zero=False)
        found = weight if isinstance(weight, Reason) else make_target(symbol, weight, at, code)
        keep_target(found, targets, reasons)
    return ParsedTargets(tuple(targets), tuple(reasons))


def parse_target_mapping(data: object, where: str) -> ParsedTargets:
    """Read ``{symbol: weight}`` or a list of ``{symbol, weight|allocation}`` (YAML files).

    A blank weight is 0, as in a CSV.
    """
    code = "invalid_targets"
    if isinstance(data, Mapping):
        items: list[object] = [{"symbol": k, "weight": v} for k, v in data.items()]
    elif isinstance(data, list):
        items = list(data)
    else:
        message = f"{where}: expected a list of {{symbol, weight}} or a mapping symbol: weight"
        return ParsedTargets((), (Reason(code=code, message=message),))
    targets: list[TargetWeight] = []
    reasons: list[Reason] = []
    for n, item in enumerate(items, 1):
        at = f"{where}: item {n}"
        if not isinstance(item, Mapping) or "symbol" not in item:
            reasons.append(Reason(code=code, message=f"{at}: expected symbol and weight"))
            continue
        raw = item.get("weight", item.get("allocation"))
        weight = parse_weight(raw, at, code=code, blank_is_zero=True)
        found = (
            weight
            if isinstance(weight, Reason)
            else make_target(str(item["symbol"]), weight, at, code)
        )
        keep_target(found, targets, reasons)
    return ParsedTargets(tuple(targets), tuple(reasons))


@dataclass(frozen=True)
class TargetCheck:
    """Targets checked against an account's rules: normalised weights, or every problem."""

    weights: dict[str, Decimal]
    """Normalised symbol -> weight, in the order given (empty when a weight was unusable)."""
    total: Decimal
    reasons: tuple[Reason, ...]

    @property
    def ok(self) -> bool:
        """Whether the targets may be planned."""
        return not self.reasons

    @property
    def targets(self) -> tuple[TargetWeight, ...]:
        """The normalised targets."""
        return tuple(TargetWeight(symbol=s, weight=w) for s, w in self.weights.items())


def validate_targets(targets: Iterable[TargetWeight], policy: PlanningPolicy) -> TargetCheck:
    """Check targets against ``policy`` (leverage limit, tolerance); collect every problem."""
    given = list(targets)
    if not given:
        reason = Reason(
            code="empty_target",
            message="The target allocation is empty: give at least one symbol with its weight "
            "(for example SPY 0.6, AGG 0.4).",
            field="targets",
        )
        return TargetCheck({}, Decimal(0), (reason,))
    limit = policy.leverage_limit
    reasons: list[Reason] = []
    weights: dict[str, Decimal] = {}
    for target in given:
        symbol = normalise_symbol(target.symbol)
        reasons.extend(_check_weight(symbol, target.weight, limit))
        if not SYMBOL_PATTERN.match(symbol):
            reasons.append(
                Reason(
                    code="invalid_symbol",
                    message=f"{target.symbol!r} is not a valid symbol: use letters, digits, "
                    "spaces, dots or dashes (for example BRK B).",
                    symbol=target.symbol,
                    field="symbol",
                )
            )
        if symbol in weights:
            reasons.append(
                Reason(
                    code="duplicate_symbol",
                    message=f"{symbol} is listed more than once in the target; list each "
                    "symbol once with its total weight.",
                    symbol=symbol,
                    field="symbol",
                )
            )
        elif target.weight.is_finite():
            weights[symbol] = target.weight
    total = sum(weights.values(), Decimal(0))
    if not reasons:
        reasons.extend(_check_sum(total, limit, policy.weight_tolerance))
    return TargetCheck(weights, total, tuple(reasons))


def _check_weight(symbol: str, weight: Decimal, limit: Decimal) -> list[Reason]:
    def reason(code: str, message: str) -> list[Reason]:
        return [Reason(code=code, message=message, symbol=symbol, field="weight")]

    if not weight.is_finite():
        return reason(
            "weight_not_finite",
            f"The weight of {symbol} is {weight}, not a number; give a fraction between 0 and 1 "
            "(0.25 is 25 %).",
        )
    if weight < 0:
        return reason(
            "weight_negative",
            f"The weight of {symbol} is {weight}, below zero; short targets are not supported, "
            "give a weight of 0 or more.",
        )
    if weight > limit and limit == ONE:
        return reason(
            "weight_above_one",
            f"The weight of {symbol} is {weight}, above 1 (100 %); weights are fractions of net "
            "liquidation (0.25 is 25 %).",
        )
    if weight > limit:
        return reason(
            "weight_above_max_leverage",
            f"The weight of {symbol} is {weight}, above the maximum leverage {limit} this "
            "account allows; lower it.",
        )
    return []


def _check_sum(total: Decimal, limit: Decimal, tolerance: Decimal) -> list[Reason]:
    if limit == ONE:
        if abs(total - ONE) <= tolerance:
            return []
        return [
            Reason(
                code="weights_sum",
                message=f"The target weights sum to {fmt(total, 4)}, not 1 (allowed difference "
                f"{tolerance}); fix the weights so they add up to 1 (keep cash with the "
                "target_cash_weight option).",
                field="targets",
            )
        ]
    if total < ONE - tolerance:
        return [
            Reason(
                code="weights_sum",
                message=f"The target weights sum to {fmt(total, 4)}, below 1 (allowed difference "
                f"{tolerance}); fix the weights so they add up to at least 1.",
                field="targets",
            )
        ]
    if total > limit + tolerance:
        return [
            Reason(
                code="leverage_above_max",
                message=f"The target weights sum to {fmt(total, 4)}, above the maximum leverage "
                f"{limit} this account allows; lower the weights or raise max_leverage.",
                field="targets",
            )
        ]
    return []
