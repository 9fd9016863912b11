"""Resolve a target allocation into the weights the plan trades.

The targets are checked with the rules every service shares
(:func:`shared.rebalancing.targets.validate_targets`: every problem at once, each with a
sentence that says what to fix). Then replacements apply (the traded symbol gets ``weight *
scale``), excluded symbols are dropped (the remaining weights are scaled up to the same
total, so an excluded symbol does not distort the others), and the resulting total is checked
against the leverage the policy allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from planner.core.types import Rejection, ResolvedTargets
from shared.contracts.base import Reason, TargetWeight
from shared.policy import PlanningPolicy
from shared.rebalancing.numbers import fmt
from shared.rebalancing.targets import normalise_symbol, validate_targets

__all__ = ["normalise_symbol", "resolve_targets"]


def resolve_targets(
    targets: Sequence[TargetWeight], policy: PlanningPolicy
) -> ResolvedTargets | Rejection:
    """Validate ``targets`` under ``policy``; return the traded weights or the reasons."""
    check = validate_targets(targets, policy)
    if not check.ok:
        return Rejection(check.reasons)
    warnings: list[str] = []
    traded, replaced = _apply_replacements(check.weights, policy, warnings)
    resolved = _drop_excluded(traded, policy, warnings)
    if isinstance(resolved, Rejection):
        return resolved
    limit = policy.leverage_limit
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
        weights=resolved, requested_sum=check.total, replaced=replaced, warnings=tuple(warnings)
    )


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
