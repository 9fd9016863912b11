"""Checking a GetTrades request, and the keyset cursor of its pages.

Pages are ordered by (executed_at, exec_id), newest or oldest first. The cursor names the
last row of a page; the next page starts strictly after it, so trades recorded between two
requests (a late commission, a replayed fill) never shift or repeat rows of later pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.ledger import MAX_PAGE, GetTrades, RefusalCode, TradeOrder


@dataclass(frozen=True)
class Cursor:
    """The (executed_at, exec_id) of the last row of a page."""

    executed_at: datetime
    exec_id: str


@dataclass(frozen=True)
class TradesQuery:
    """A checked GetTrades: filters, order, page size and where the page starts."""

    account_id: str | None
    symbol: str | None
    since: datetime | None
    until: datetime | None
    order: TradeOrder
    limit: int
    after: Cursor | None = None


@dataclass(frozen=True)
class Refusal:
    """A request the ledger will not answer: a stable code, a sentence and the field."""

    code: RefusalCode
    reason: str
    field: str | None = None


def encode_cursor(cursor: Cursor, order: TradeOrder) -> str:
    """Return an opaque, URL-safe cursor."""
    raw = json.dumps([cursor.executed_at.isoformat(), cursor.exec_id, order])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, order: TradeOrder) -> Cursor | Refusal:
    """Return the cursor, or a Refusal saying it is not one of ours (or of another order)."""
    bad = Refusal(
        "invalid_request",
        "The cursor is not one the ledger gave out; pass `next_cursor` of the previous page "
        "unchanged, or omit it for the first page.",
        "cursor",
    )
    try:
        padded = text + "=" * (-len(text) % 4)
        executed_at, exec_id, cursor_order = json.loads(base64.urlsafe_b64decode(padded))
        when = datetime.fromisoformat(executed_at)
    except (ValueError, TypeError, binascii.Error):
        return bad
    if not isinstance(exec_id, str) or when.tzinfo is None:
        return bad
    if cursor_order != order:
        return Refusal(
            "invalid_request",
            f"The cursor belongs to a {cursor_order} listing and this request asks for "
            f"{order}; keep the same order while paging.",
            "cursor",
        )
    return Cursor(when, exec_id)


def check_trades_request(request: GetTrades) -> TradesQuery | Refusal:
    """Return the query a GetTrades asks for, or why it cannot be answered."""
    if not 1 <= request.limit <= MAX_PAGE:
        return Refusal(
            "invalid_request",
            f"limit is {request.limit}; ask for 1 to {MAX_PAGE} trades per page and follow "
            "`next_cursor` for more.",
            "limit",
        )
    if request.since and request.until and request.since >= request.until:
        return Refusal(
            "invalid_request",
            f"since ({request.since.isoformat()}) is not before until "
            f"({request.until.isoformat()}); give a range that is not empty.",
            "since",
        )
    after = None
    if request.cursor:
        decoded = decode_cursor(request.cursor, request.order)
        if isinstance(decoded, Refusal):
            return decoded
        after = decoded
    symbol = request.symbol.strip().upper() if request.symbol else None
    account = request.account_id.strip() if request.account_id else None
    return TradesQuery(
        account_id=account or None,
        symbol=symbol or None,
        since=request.since,
        until=request.until,
        order=request.order,
        limit=request.limit,
        after=after,
    )
