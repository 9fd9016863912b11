"""Reconnect timing (pure): exponential backoff with jitter, and the daily restart window."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo


@dataclass
class Backoff:
    """Delays of 1, 2, 4, ... seconds up to ``maximum``, each scaled by a random 50-100 %.

    The jitter spreads reconnects of several clients (and of one client after a gateway
    restart) so they do not arrive together: no restart storm.
    """

    initial: float
    maximum: float
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return ceiling * (0.5 + 0.5 * self.rng.random())

    def reset(self) -> None:
        """Start again from the initial delay (after a connection that worked)."""
        self.attempts = 0


def in_restart_window(now: datetime, start: time, end: time, tz: str) -> bool:
    """Return whether ``now`` (aware) falls in the daily window [start, end) local to ``tz``.

    A window may wrap midnight (23:40 to 00:10).
    """
    local = now.astimezone(ZoneInfo(tz)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end
