"""Validate target weights from any source (inline, allocation API, CSV) the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.contracts.base import TargetWeight

from notifier.core.errors import Refusal

DEFAULT_TOLERANCE = Decimal("0.001")


def to_decimal(value: Any, where: str) -> Decimal:
    """Turn a JSON number or numeric string into a finite Decimal, or refuse naming ``where``."""
    if isinstance(value, bool) or value is None:
        raise Refusal("invalid_targets", f"{where}: weight must be a number, got {value!r}")
    try:
        # str() first: a float such as 0.1 becomes Decimal('0.1'), not its binary expansion.
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise Refusal("invalid_targets", f"{where}: weight {value!r} is not a number") from None
    if not number.is_finite():
        raise Refusal("invalid_targets", f"{where}: weight must be finite, got {value!r}")
    return number


def parse_target_rows(rows: Iterable[Any], where: str) -> list[TargetWeight]:
    """Parse ``[{"symbol": ..., "allocation"|"weight": ...}, ...]`` into TargetWeights."""
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise Refusal(
            "invalid_targets",
            f'{where}: expected a list of {{"symbol": ..., "allocation": ...}} objects',
        )
    parsed: list[TargetWeight] = []
    for index, row in enumerate(rows):
        at = f"{where}[{index}]"
        if not isinstance(row, Mapping):
            raise Refusal("invalid_targets", f"{at}: expected an object with symbol and allocation")
        symbol = row.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            raise Refusal("invalid_targets", f"{at}: symbol is missing or empty")
        if "allocation" in row:
            raw = row["allocation"]
        elif "weight" in row:
            raw = row["weight"]
        else:
            raise Refusal("invalid_targets", f"{at} ({symbol}): allocation is missing")
        weight = to_decimal(raw, f"{at} ({symbol})")
        parsed.append(TargetWeight(symbol=symbol, weight=weight))
    return parsed


def validate_targets(
    targets: Iterable[TargetWeight],
    *,
    where: str,
    tolerance: Decimal = DEFAULT_TOLERANCE,
    max_sum: Decimal = Decimal("1"),
) -> tuple[TargetWeight, ...]:
    """Normalise symbols and check the set; raise Refusal saying what is wrong.

    Symbols are stripped and upper-cased; each weight lies in [0, 1]; no symbol twice; the
    sum is within ``tolerance`` of 1 (up to ``max_sum`` for an account allowing leverage).
    A weight of 0 is kept: it tells the planner to sell that holding.
    """
    seen: set[str] = set()
    result: list[TargetWeight] = []
    for target in targets:
        symbol = target.symbol.strip().upper()
        if not symbol or len(symbol) > 24 or any(c in symbol for c in "\n\r\t"):
            raise Refusal("invalid_targets", f"{where}: symbol {target.symbol!r} is not valid")
        if symbol in seen:
            raise Refusal(
                "invalid_targets", f"{where}: {symbol} is listed twice; give each symbol once"
            )
        seen.add(symbol)
        weight = to_decimal(target.weight, f"{where} ({symbol})")
        if weight < 0 or weight > max_sum:
            raise Refusal(
                "invalid_targets",
                f"{where} ({symbol}): allocation {weight} is outside 0..{max_sum} "
                "(0.25 means 25 %)",
            )
        result.append(TargetWeight(symbol=symbol, weight=weight))
    if not result:
        raise Refusal("invalid_targets", f"{where}: no targets given")
    total = sum((t.weight for t in result), Decimal("0"))
    if total < 1 - tolerance or total > max_sum + tolerance:
        expected = "1" if max_sum == 1 else f"between 1 and {max_sum}"
        raise Refusal(
            "weights_sum",
            f"{where}: allocations sum to {total}, expected {expected} "
            f"(tolerance {tolerance}); fix the weights so they add up",
        )
    return tuple(result)
