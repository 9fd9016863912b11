"""Validate a target allocation and resolve it into the weights the plan trades.

Fails closed: every problem found is reported at once, each with a sentence that says what
to fix. Resolution order: normalise symbols, validate weights, apply replacements (the
traded symbol gets ``weight * scale``), drop excluded symbols (the remaining weights are
scaled up to the same total, so an excluded symbol does not distort the others), and check
the resulting total against the leverage the policy allows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from shared.contracts.base import Reason, TargetWeight
from shared.policy import PlanningPolicy

from planner.core.format import fmt
from planner.core.types import Rejection, ResolvedTargets

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9 ./\-]{0,23}$")
ONE = Decimal(1)


def normalise_symbol(symbol: str) -> str:
    """Return the symbol as the planner compares it: trimmed and upper-case."""
    return symbol.strip().upper()


def resolve_targets(
    targets: Sequence[TargetWeight], policy: PlanningPolicy
) -> ResolvedTargets | Rejection:
    """Validate ``targets`` under ``policy``; return the traded weights or the reasons."""
    if not targets:
        return Rejection(
            (
                Reason(
                    code="empty_target",
                    message="The target allocation is empty: give at least one symbol with "
                    "its weight (for example SPY 0.6, AGG 0.4).",
                    field="targets",
                ),
            )
        )
    reasons: list[Reason] = []
    weights: dict[str, Decimal] = {}
    for target in targets:
        symbol = normalise_symbol(target.symbol)
        reasons.extend(_check_weight(symbol, target.weight, policy))
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
    if reasons:
        return Rejection(tuple(reasons))

    total = sum(weights.values(), Decimal(0))
    reasons.extend(_check_sum(total, policy))
    if reasons:
        return Rejection(tuple(reasons))

    warnings: list[str] = []
    traded, replaced = _apply_replacements(weights, policy, warnings)
    resolved = _drop_excluded(traded, policy, warnings)
    if isinstance(resolved, Rejection):
        return resolved
    limit = policy.max_leverage if policy.allow_leverage else ONE
    final_total = sum(resolved.values(), Decimal(0))
    if final_total > limit + policy.weight_tolerance:
        return Rejection(
            (
                Reason(
                    code="replacement_leverage",
                    message=f"After replacements the target weights sum to {fmt(final_total, 4)}, "
                    f"above the {fmt(limit, 2)}x this account allows; lower the replacement "
                    "scale or allow leverage for this account.",
                    field="replacements",
                ),
            )
        )
    return ResolvedTargets(
        weights=resolved, requested_sum=total, replaced=replaced, warnings=tuple(warnings)
    )


def _check_weight(symbol: str, weight: Decimal, policy: PlanningPolicy) -> list[Reason]:
    if not weight.is_finite():
        return [
            Reason(
                code="weight_not_finite",
                message=f"The weight of {symbol} is {weight}, not a number; give a fraction "
                "between 0 and 1 (0.25 is 25 %).",
                symbol=symbol,
                field="weight",
            )
        ]
    if weight < 0:
        return [
            Reason(
                code="weight_negative",
                message=f"The weight of {symbol} is {weight}, below zero; short targets are not "
                "supported, give a weight of 0 or more.",
                symbol=symbol,
                field="weight",
            )
        ]
    if weight > ONE and not policy.allow_leverage:
        return [
            Reason(
                code="weight_above_one",
                message=f"The weight of {symbol} is {weight}, above 1 (100 %); weights are "
                "fractions of net liquidation (0.25 is 25 %).",
                symbol=symbol,
                field="weight",
            )
        ]
    if weight > policy.max_leverage:
        return [
            Reason(
                code="weight_above_max_leverage",
                message=f"The weight of {symbol} is {weight}, above the maximum leverage "
                f"{policy.max_leverage} this account allows; lower it.",
                symbol=symbol,
                field="weight",
            )
        ]
    return []


def _check_sum(total: Decimal, policy: PlanningPolicy) -> list[Reason]:
    tolerance = policy.weight_tolerance
    if not policy.allow_leverage:
        if abs(total - ONE) > tolerance:
            return [
                Reason(
                    code="weights_sum",
                    message=f"The target weights sum to {fmt(total, 4)}, not 1 (allowed "
                    f"difference {tolerance}); fix the weights so they add up to 1 "
                    "(keep cash with the target_cash_weight option).",
                    field="targets",
                )
            ]
        return []
    if total < ONE - tolerance:
        return [
            Reason(
                code="weights_sum",
                message=f"The target weights sum to {fmt(total, 4)}, below 1 (allowed difference "
                f"{tolerance}); fix the weights so they add up to at least 1.",
                field="targets",
            )
        ]
    if total > policy.max_leverage + tolerance:
        return [
            Reason(
                code="leverage_above_max",
                message=f"The target weights sum to {fmt(total, 4)}, above the maximum leverage "
                f"{policy.max_leverage} this account allows; lower the weights or raise "
                "max_leverage.",
                field="targets",
            )
        ]
    return []


def _apply_replacements(
    weights: dict[str, Decimal], policy: PlanningPolicy, warnings: list[str]
) -> tuple[dict[str, Decimal], dict[str, str]]:
    replacements = {normalise_symbol(k): v for k, v in policy.replacements.items()}
    traded: dict[str, Decimal] = {}
    replaced: dict[str, str] = {}
    for symbol, weight in weights.items():
        replacement = replacements.get(symbol)
        if replacement is None:
            traded[symbol] = traded.get(symbol, Decimal(0)) + weight
            continue
        target = normalise_symbol(replacement.symbol)
        traded[target] = traded.get(target, Decimal(0)) + weight * replacement.scale
        replaced[target] = symbol
        warnings.append(
            f"{symbol} is traded as {target} (weight {fmt(weight, 4)} x {replacement.scale} = "
            f"{fmt(weight * replacement.scale, 4)}): this account cannot hold {symbol}."
        )
    return traded, replaced


def _drop_excluded(
    traded: dict[str, Decimal], policy: PlanningPolicy, warnings: list[str]
) -> dict[str, Decimal] | Rejection:
    excluded = {normalise_symbol(s) for s in policy.excluded_symbols}
    dropped = {s: w for s, w in traded.items() if s in excluded}
    if not dropped:
        return traded
    kept = {s: w for s, w in traded.items() if s not in excluded}
    kept_total = sum(kept.values(), Decimal(0))
    total = kept_total + sum(dropped.values(), Decimal(0))
    if kept_total <= 0:
        return Rejection(
            (
                Reason(
                    code="only_excluded",
                    message="Every symbol with a weight in the target is excluded for this "
                    f"account ({', '.join(sorted(dropped))}); remove them from "
                    "excluded_symbols or send a target with other symbols.",
                    field="excluded_symbols",
                ),
            )
        )
    factor = total / kept_total
    for symbol, weight in dropped.items():
        warnings.append(
            f"{symbol} is excluded for this account: it is never traded, and its weight "
            f"{fmt(weight, 4)} is spread over the other targets."
        )
    return {s: w * factor for s, w in kept.items()}
