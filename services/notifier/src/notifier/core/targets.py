"""The notifier's reaction to bad targets: a Refusal naming what is wrong.

The rules themselves are shared (:mod:`shared.rebalancing.targets`), so the notifier refuses
at its edge exactly what the planner would reject later, with the same sentences.
"""

from __future__ import annotations

from collections.abc import Iterable

from notifier.core.errors import Refusal
from shared.contracts.base import Reason, TargetWeight
from shared.policy import PlanningPolicy
from shared.rebalancing.targets import ParsedTargets, parse_target_rows, validate_targets

SUM_CODES = frozenset({"weights_sum", "leverage_above_max"})


def _refusal(code: str, reasons: tuple[Reason, ...], where: str | None = None) -> Refusal:
    text = "; ".join(r.message for r in reasons)
    return Refusal(code, f"{where}: {text}" if where else text)


def parsed_or_refuse(parsed: ParsedTargets) -> tuple[TargetWeight, ...]:
    """Return the targets read, or raise Refusal with every problem (code of the first)."""
    if not parsed.ok:
        raise _refusal(parsed.reasons[0].code, parsed.reasons)
    return parsed.targets


def rows_or_refuse(rows: object, where: str) -> tuple[TargetWeight, ...]:
    """Read ``[{"symbol", "allocation"|"weight"}]`` rows, or raise Refusal."""
    return parsed_or_refuse(parse_target_rows(rows, where))


def checked_or_refuse(
    targets: Iterable[TargetWeight], policy: PlanningPolicy, where: str
) -> tuple[TargetWeight, ...]:
    """Return the normalised targets if ``policy`` accepts them, else raise Refusal.

    ``weights_sum`` when only the total is wrong, ``too_many_targets`` beyond the limit,
    ``invalid_targets`` otherwise (the codes the notifier's metrics and HTTP errors use).
    """
    check = validate_targets(targets, policy)
    if check.ok:
        return check.targets
    code = "weights_sum" if all(r.code in SUM_CODES for r in check.reasons) else "invalid_targets"
    if check.reasons[0].code == "too_many_targets":
        code = "too_many_targets"
    raise _refusal(code, check.reasons, where)
