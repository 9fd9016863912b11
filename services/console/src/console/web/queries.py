"""Reading what a page needs beyond the peers' answers: a plan's proposal, trade filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request

from console.web.context import Console, Refused
from shared.contracts import catalogue
from shared.contracts.plans import PlanProposed
from shared.kit.streams import history


async def plan_proposal(console: Console, plan_id: str) -> PlanProposed | None:
    """The plan's PlanProposed: from the followed state, else from the stream's history (a
    plan older than the state remembers, or one the follower has not read yet)."""
    proposals = console.hub.state.proposals
    if plan_id in proposals:
        return proposals[plan_id]
    async for message in history(console.hub.redis, catalogue.PLANS):
        if isinstance(message, PlanProposed) and message.plan_id == plan_id:
            return message
    return None


def _day(text: str, name: str, *, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refused(
            400, "Bad filter", f"{name} must be a date as YYYY-MM-DD, not {text!r}"
        ) from None
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def trade_filters(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    """GetTrades filters from the query string (dates are whole UTC days, ``until`` included)."""
    q = request.query_params
    shown = {k: (q.get(k) or "").strip() for k in ("account", "symbol", "since", "until")}
    filters: dict[str, Any] = {
        "account_id": shown["account"] or None,
        "symbol": shown["symbol"].upper() or None,
        "since": _day(shown["since"], "since"),
        "until": _day(shown["until"], "until", end=True),
    }
    return filters, shown
