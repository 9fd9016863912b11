"""Portfolio CSVs as our users write them: ``symbol,weight`` or the ETF rebalancer's models.

Formats read:

* ``symbol,weight`` rows, a header optional (a ``symbol`` column and one of
  :data:`WEIGHT_COLUMNS`, other columns ignored); without a header the first two cells;
* the ETF rebalancer's multi-model file: an ``ETF`` (or ``symbol``/``ticker``) column, then one
  column per model (``ETF,SMURF,BADASS,GLTR``); a column is chosen by name, and must be when
  there are several;
* weights as fractions (``0.25``) or in percent (``25%``, or ``25`` when the column's numbers
  sum to 100): percent is read only when the file makes it unambiguous, and a note says so;
* a blank cell is 0 (sell the holding); lines starting with ``#`` and blank lines are skipped;
* a ``CASH`` row is the cash the model keeps: it is not a target, it is returned as
  :attr:`ParsedTargets.cash_weight` (negative: borrowed, so the other rows sum above 1).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from shared.contracts.base import Reason, TargetWeight
from shared.rebalancing.targets import (
    WEIGHT_COLUMNS,
    ParsedTargets,
    keep_target,
    make_target,
    parse_weight,
)

SYMBOL_COLUMNS = ("symbol", "etf", "ticker")
"""Names a CSV header may give the symbol column."""
CASH = "CASH"
HUNDRED = Decimal(100)
PERCENT_TOLERANCE = Decimal("0.1")
"""Bare numbers are read as percent when they sum to 100 within this."""
CODE = "invalid_csv"

Rows = list[tuple[int, list[str]]]


def _rows(text: str) -> Rows:
    rows = [
        (n, [cell.strip() for cell in row])
        for n, row in enumerate(csv.reader(io.StringIO(text.lstrip("\ufeff"))), 1)
    ]
    return [(n, cells) for n, cells in rows if any(cells) and not cells[0].startswith("#")]


def _columns(header: list[str], column: str | None, where: str) -> tuple[int, int] | Reason:
    """(symbol index, weight index) of a header row, or why none can be chosen."""
    names = [cell.lower() for cell in header]
    symbol_at = next(names.index(c) for c in SYMBOL_COLUMNS if c in names)
    others = [h for i, h in enumerate(header) if i != symbol_at and h]
    if column is not None:
        wanted = column.strip().lower()
        if wanted not in names or names.index(wanted) == symbol_at:
            return Reason(
                code=CODE,
                message=f"{where}: no column {column!r}; the columns are {', '.join(others)}",
            )
        return symbol_at, names.index(wanted)
    weight_at = next((names.index(c) for c in WEIGHT_COLUMNS if c in names), -1)
    if weight_at >= 0:
        return symbol_at, weight_at
    if names[symbol_at] != "symbol" and len(others) == 1:
        return symbol_at, names.index(others[0].lower())
    if names[symbol_at] != "symbol" and others:
        return Reason(
            code=CODE,
            message=f"{where}: one column per model ({', '.join(others)}); choose one "
            "(`allocation.column` in the accounts file, `--column` on the command line)",
        )
    return Reason(
        code=CODE,
        message=f"{where}: the header names no weight column ({', '.join(WEIGHT_COLUMNS)}); "
        f"found {', '.join(header)}; or choose one with `column`",
    )


def _percent(cells: list[tuple[int, str, str]], where: str) -> bool | Reason:
    """Whether the column is in percent: '%' signs, or bare numbers summing to 100."""
    signed = [(n, s, raw) for n, s, raw in cells if raw.endswith("%")]
    if signed:
        bare = [
            (n, s, raw)
            for n, s, raw in cells
            if raw and not raw.endswith("%") and _number(raw) not in (None, Decimal(0))
        ]
        if bare:
            n, symbol, raw = bare[0]
            return Reason(
                code=CODE,
                message=f"{where}: line {n} ({symbol}): {raw} has no % sign while other rows "
                f"have one; write {raw}% or use fractions (0.25) in every row",
            )
        return True
    numbers = [_number(raw) for _, _, raw in cells if raw]
    total = sum((x for x in numbers if x is not None), Decimal(0))
    return abs(total - HUNDRED) <= PERCENT_TOLERANCE


def _number(raw: str) -> Decimal | None:
    try:
        number = Decimal(raw.rstrip("%").strip())
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def parse_portfolio_csv(text: str, where: str, column: str | None = None) -> ParsedTargets:
    """Read a portfolio CSV in any of the formats above; every problem at once."""
    rows = _rows(text)
    if not rows:
        message = f"{where}: no targets in the file; expected rows of symbol,weight"
        return ParsedTargets((), (Reason(code=CODE, message=message),))
    symbol_at, weight_at = 0, 1
    label = where
    if any(c in (cell.lower() for cell in rows[0][1]) for c in SYMBOL_COLUMNS):
        chosen = _columns(rows[0][1], column, where)
        if isinstance(chosen, Reason):
            return ParsedTargets((), (chosen,))
        symbol_at, weight_at = chosen
        if column is not None or rows[0][1][weight_at].lower() not in WEIGHT_COLUMNS:
            label = f"{where} (column {rows[0][1][weight_at]})"
        rows = rows[1:]
    elif column is not None:
        reason = Reason(code=CODE, message=f"{where}: no header row, so no column {column!r}")
        return ParsedTargets((), (reason,))
    cells = [
        (
            n,
            row[symbol_at] if symbol_at < len(row) else "",
            row[weight_at] if weight_at < len(row) else "",
        )
        for n, row in rows
    ]
    percent = _percent(cells, label)
    if isinstance(percent, Reason):
        return ParsedTargets((), (percent,))
    return _read(cells, label, percent)


def _read(cells: list[tuple[int, str, str]], where: str, percent: bool) -> ParsedTargets:
    targets: list[TargetWeight] = []
    reasons: list[Reason] = []
    cash: Decimal | None = None
    for n, symbol, raw in cells:
        at = f"{where}: line {n}"
        if not symbol:
            reasons.append(Reason(code=CODE, message=f"{at}: a weight without a symbol"))
            continue
        value = raw.rstrip("%").strip() if percent else raw
        weight = parse_weight(value, f"{at} ({symbol})", code=CODE, blank_is_zero=True)
        if isinstance(weight, Decimal) and percent:
            weight = weight / HUNDRED
        if isinstance(weight, Decimal) and symbol.strip().upper() == CASH:
            cash = weight
            continue
        found = weight if isinstance(weight, Reason) else make_target(symbol, weight, at, CODE)
        keep_target(found, targets, reasons)
    notes: list[str] = []
    if percent:
        notes.append(f"{where}: weights read as percent (25 means 25 %)")
    if cash is not None:
        kind = "the cash the model keeps" if cash >= 0 else "borrowed (margin)"
        notes.append(f"{where}: CASH row {percent_text(cash)} %: {kind}")
    return ParsedTargets(tuple(targets), tuple(reasons), tuple(notes), cash)


def percent_text(fraction: Decimal) -> str:
    """``0.1`` as ``10``, ``0.125`` as ``12.5`` (no trailing zeros, no exponent)."""
    return format((fraction * HUNDRED).normalize(), "f")


def invested(parsed: ParsedTargets) -> tuple[TargetWeight, ...]:
    """The targets as fractions of the invested part: a model keeping cash (CASH row above 0)
    has its other rows divided by ``1 - cash``, for an account whose
    ``planning.target_cash_weight`` keeps that cash."""
    cash = parsed.cash_weight
    if cash is None or cash <= 0 or cash >= 1:
        return parsed.targets
    share = Decimal(1) - cash
    return tuple(TargetWeight(symbol=t.symbol, weight=t.weight / share) for t in parsed.targets)
