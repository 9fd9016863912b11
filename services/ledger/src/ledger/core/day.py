"""The trading day the daily figures cover."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo


def day_start(now: datetime, tz: ZoneInfo, reset: time = time(0, 0)) -> datetime:
    """Return the last instant at or before ``now`` when the day reset (``reset`` in ``tz``)."""
    local = now.astimezone(tz)
    start = datetime.combine(local.date(), reset, tzinfo=tz)
    if start > local:
        start = datetime.combine(
            local.date().fromordinal(local.date().toordinal() - 1), reset, tzinfo=tz
        )
    return start.astimezone(UTC)
