"""Repeated alerts collapse: the same alert many times in a window is told once, with a count.

A burst within one batch already collapses (:func:`notifier.core.alerts.collapse`); a flood
spread over minutes did not: 1,000 symbols gave 1,000 gateway errors, one alert batch every
few seconds for as long as it lasted. Each destination's worker passes its collapsed batches
through a :class:`RepeatFilter`: the first alert of a kind (same ``dedupe_key`` and title) in
a window goes out, its repeats in later batches are held for ``window_s`` and then told as one
alert with their count; a flood that goes on gets one such alert per window.

Plan outcomes (one alert each, by promise) and the kill switch are never held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from notifier.core.alerts import SEVERITY_RANK, Alert

NEVER_HELD = ("plan:", "rejected:", "halt", "gateway_down")
"""Dedupe keys (prefixes) of alerts told every time."""


@dataclass
class _Window:
    opened: float
    repeats: int = 0
    latest: Alert | None = None


class RepeatFilter:
    """Hold the repeats of an alert within a window; tell them once when it closes."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._open: dict[tuple[str, str], _Window] = {}

    def admit(self, alert: Alert, now: float) -> Alert | None:
        """Return the alert to tell now, or None when it is a repeat held for later."""
        key = alert.dedupe_key
        if self.window_s <= 0 or key is None or key.startswith(NEVER_HELD):
            return alert
        window = self._open.get((key, alert.title))
        if window is None or now - window.opened >= self.window_s:
            self._open[(key, alert.title)] = _Window(opened=now)
            return alert
        window.repeats += alert.count
        held = window.latest
        worst = alert.severity
        if held is not None and SEVERITY_RANK[held.severity] > SEVERITY_RANK[worst]:
            worst = held.severity
        window.latest = replace(alert, severity=worst)
        return None

    def due(self, now: float) -> list[Alert]:
        """The held repeats of every window that closed by ``now``, one alert each."""
        out: list[Alert] = []
        for key, window in list(self._open.items()):
            if now - window.opened < self.window_s:
                continue
            if window.latest is None:
                del self._open[key]
                continue
            latest = window.latest
            out.append(
                replace(
                    latest,
                    count=window.repeats,
                    text=f"{latest.text} (repeated {window.repeats} times in "
                    f"{self.window_s:g} s; the latest is shown)",
                )
            )
            # The flood may go on: one alert per window, counted from now.
            self._open[key] = _Window(opened=now)
        return out

    def next_due(self, now: float) -> float | None:
        """Seconds until the next window with held repeats closes (None: nothing held)."""
        ends = [w.opened + self.window_s for w in self._open.values() if w.latest is not None]
        return max(0.0, min(ends) - now) if ends else None

    @property
    def held(self) -> int:
        """How many repeats are held now."""
        return sum(w.repeats for w in self._open.values())
