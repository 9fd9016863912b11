"""Trades as CSV, the Trades page's export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from shared.contracts.ledger import Trade

COLUMNS = (
    "executed_at", "account_id", "symbol", "side", "quantity", "price", "value", "commission",
    "commission_currency", "realized_pnl", "plan_id", "client_order_id", "exec_id", "external",
)  # fmt: skip


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is quoted as text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def trades_csv(trades: Iterable[Trade]) -> str:
    """The trades as CSV with a header line, one row per execution."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for trade in trades:
        data = trade.model_dump(mode="json")
        writer.writerow([_cell(data.get(c)) for c in COLUMNS])
    return out.getvalue()
