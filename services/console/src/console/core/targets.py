"""Targets pasted as CSV (``symbol,allocation`` per line) into the notifier's body."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation

MAX_ROWS = 500


class TargetsError(ValueError):
    """Pasted targets that cannot be read; the message says which line and why."""


def parse_targets_csv(text: str) -> list[dict[str, str]]:
    """Return ``[{"symbol", "allocation"}]`` from CSV lines ``SPY,0.6`` or ``SPY,60%``.

    A header line (``symbol,allocation``), blank lines and ``#`` comments are skipped. The
    weights are passed on as written (the notifier checks that they sum to 1, with the same
    sentence as for any other trigger).
    """
    rows: list[dict[str, str]] = []
    for number, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in fields]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "symbol":
            continue
        if len(cells) != 2 or not cells[0]:
            raise TargetsError(
                f"line {number}: expected 'SYMBOL,ALLOCATION' (e.g. SPY,0.6), got {','.join(cells)!r}"
            )
        rows.append({"symbol": cells[0].upper(), "allocation": _weight(cells[1], number)})
        if len(rows) > MAX_ROWS:
            raise TargetsError(f"more than {MAX_ROWS} targets; paste at most {MAX_ROWS} lines")
    if not rows:
        raise TargetsError("no targets: paste one 'SYMBOL,ALLOCATION' line per symbol")
    return rows


def _weight(cell: str, number: int) -> str:
    percent = cell.endswith("%")
    try:
        value = Decimal(cell.rstrip("%").strip())
    except InvalidOperation:
        raise TargetsError(
            f"line {number}: allocation {cell!r} is not a number (write 0.6 or 60%)"
        ) from None
    if not value.is_finite() or value < 0:
        raise TargetsError(f"line {number}: allocation {cell!r} must be 0 or more")
    return str(value / 100 if percent else value)
