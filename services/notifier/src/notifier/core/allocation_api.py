"""Parse an allocation API's answer (the event-driven reference's format) and a portfolio CSV.

API answer::

    {"status": "success",
     "data": {"allocations": [{"symbol": "EDC", "allocation": 0.2141}, ...],
              "name": "etf-blend-301-20", "strategy_long_name": "ETF Blend 301-20",
              "last_rebalance_on": "2025-06-24", "as_of": "2025-06-24"}}

CSV: ``symbol,weight`` rows (a header optional; with one, a ``symbol`` column and a ``weight``,
``allocation``, ``target`` or ``target_weight`` column, others ignored); a blank weight cell
means 0 (sell it). The same reader serves the CLI's ``--targets`` files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from notifier.core.errors import Refusal
from notifier.core.targets import parsed_or_refuse, rows_or_refuse
from shared.contracts.base import TargetWeight
from shared.rebalancing.portfolio_csv import invested, percent_text
from shared.rebalancing.portfolio_csv import parse_portfolio_csv as parse_csv


@dataclass(frozen=True)
class SourcedTargets:
    """Targets with what the source said about them."""

    targets: tuple[TargetWeight, ...]
    strategy_name: str | None = None
    as_of: datetime | None = None


def parse_as_of(value: Any) -> datetime | None:
    """Read ``as_of`` as an aware UTC datetime: a date means its midnight UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Refusal("invalid_response", f"data.as_of must be a date string, got {value!r}")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(
            "invalid_response", f"data.as_of {text!r} is not an ISO date or date-time"
        ) from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC)


def parse_allocation_response(
    body: Any, *, url: str, now: datetime, max_age: timedelta
) -> SourcedTargets:
    """Validate an allocation API answer; raise Refusal saying what is wrong with it."""
    where = f"allocation API {url}"
    if not isinstance(body, dict):
        raise Refusal("invalid_response", f"{where} did not answer a JSON object")
    status = body.get("status")
    if status != "success":
        detail = body.get("message") or body.get("error")
        raise Refusal(
            "source_status",
            f"{where} answered status {status!r} (expected 'success')"
            + (f": {detail}" if detail else ""),
        )
    data = body.get("data")
    if not isinstance(data, dict) or "allocations" not in data:
        raise Refusal("invalid_response", f"{where}: the answer has no data.allocations")
    targets = rows_or_refuse(data["allocations"], f"{where}: data.allocations")
    as_of = parse_as_of(data.get("as_of"))
    if as_of is not None:
        # A date-only as_of covers the whole day: measure its age from the day's end.
        age = now - as_of - timedelta(days=1 if _date_only(data.get("as_of")) else 0)
        if age > max_age:
            raise Refusal("stale_allocation", stale_message(where, data.get("as_of"), age, max_age))
        if as_of - now > timedelta(days=1):
            raise Refusal(
                "invalid_response", f"{where}: as_of {data.get('as_of')} is in the future"
            )
    name = data.get("strategy_long_name") or data.get("name")
    return SourcedTargets(targets=targets, strategy_name=str(name) if name else None, as_of=as_of)


def stale_message(where: str, as_of: Any, age: timedelta, max_age: timedelta) -> str:
    """What a stale answer is refused with: how old, the limit, and what to change."""
    hours = age.total_seconds() / 3600
    needed = math.ceil(hours) + 1
    return (
        f"{where}: allocations are as of {as_of}, {_age(hours)} old, older than "
        f"allocation.max_age_hours ({max_age.total_seconds() / 3600:g} h); refusing stale "
        "targets. If this answer is expected, set `max_age_hours: "
        f"{needed}` (or more) under the account's `allocation:` in the accounts file and "
        "restart the notifier; otherwise have the API publish fresh allocations"
    )


def _age(hours: float) -> str:
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.0f} h"


def _date_only(value: Any) -> bool:
    return isinstance(value, str) and len(value.strip()) == 10


def parse_portfolio_csv(
    text: str, where: str, column: str | None = None, cash_weight: Decimal = Decimal(0)
) -> tuple[tuple[TargetWeight, ...], tuple[str, ...]]:
    """Parse a portfolio CSV (see :mod:`shared.rebalancing.portfolio_csv`).

    A CASH row above 0 is the cash the model keeps: the account must keep it too
    (``cash_weight``, its ``planning.target_cash_weight``), and the other rows are then read as
    fractions of the invested part; a CASH row below 0 (borrowed) leaves the other rows summing
    above 1, for an account allowed leverage. Returns the targets and the notes on how the
    file was read (percent, the CASH row).
    """
    parsed = parse_csv(text, where, column)
    targets = parsed_or_refuse(parsed)
    cash = parsed.cash_weight
    if cash is None or cash <= 0:
        return targets, parsed.notes
    if cash != cash_weight:
        raise Refusal(
            "invalid_csv",
            f"{where}: the CASH row keeps {percent_text(cash)} % in cash; set "
            f"`planning.target_cash_weight: {cash}` for the account (rebalancer import does) "
            "or remove the CASH row",
        )
    return invested(parsed), parsed.notes
