"""Trading windows: may a plan start now, given the account's ``trading_window``?"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo


def parse_window(text: str) -> tuple[time, time]:
    """Parse ``HH:MM-HH:MM`` into (start, end)."""
    start, _, end = text.partition("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def in_window(now: datetime, window: str | None, tz: str) -> bool:
    """Return whether ``now`` falls inside ``window`` (local to ``tz``); no window: always."""
    if window is None:
        return True
    start, end = parse_window(window)
    local = now.astimezone(ZoneInfo(tz)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a window across midnight
