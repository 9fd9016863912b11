"""What every part knows about IB Gateway itself: paper or live accounts, its weekly window.

Paper accounts have ids starting with ``D`` (``DU...`` individual, ``DF...`` advisor); live
ones do not (``U...``, ``F...``, ``I...``).

The weekly window (``REBALANCER_GATEWAY_WINDOW``, e.g. ``Sun 12:00-Fri 18:00`` in
``REBALANCER_GATEWAY_WINDOW_TZ``) is when the compose deploy keeps IB Gateway running: it
logs in (with the weekly IB Key approval) at the opening and shuts down at the close. Outside
it the notifier refuses triggers, saying when it opens. Empty: always open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.contracts.gateway import GatewayStatus

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK_MINUTES = 7 * 24 * 60
_POINT = re.compile(r"\s*([A-Za-z]{3})[A-Za-z]*\s+(\d{1,2}):(\d{2})\s*")


def is_paper_account(account_id: str) -> bool:
    """Whether IB's account id is a paper (simulated) account."""
    return account_id.strip().upper().startswith("D")


def live_accounts(account_ids: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The ids of ``account_ids`` that are live (real money)."""
    return tuple(a for a in account_ids if not is_paper_account(a))


class WindowError(ValueError):
    """The window setting cannot be read; the message says what to write."""


def _minute_of_week(text: str, setting: str) -> int:
    match = _POINT.fullmatch(text)
    day = match.group(1).lower() if match else ""
    if not match or day not in DAYS:
        raise WindowError(
            f"{setting}: {text.strip()!r} is not a day and a time; write e.g. 'Sun 12:00-Fri 18:00'"
        )
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise WindowError(f"{setting}: {text.strip()!r} is not a valid time of day")
    return DAYS.index(day) * 24 * 60 + hour * 60 + minute


@dataclass(frozen=True)
class WeeklyWindow:
    """A weekly interval [opens, closes) in a time zone; minutes since Monday 00:00."""

    opens: int
    closes: int
    tz: str
    text: str

    @classmethod
    def parse(
        cls, text: str, tz: str = "America/New_York", setting: str = "REBALANCER_GATEWAY_WINDOW"
    ) -> WeeklyWindow | None:
        """Read ``'Sun 12:00-Fri 18:00'``; None when ``text`` is empty (always open)."""
        if not text.strip():
            return None
        start, dash, end = text.partition("-")
        if not dash:
            raise WindowError(f"{setting}: {text!r} needs an opening and a closing, separated by -")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise WindowError(
                f"{setting}_TZ: {tz!r} is not a time zone (e.g. America/New_York)"
            ) from None
        opens, closes = _minute_of_week(start, setting), _minute_of_week(end, setting)
        if opens == closes:
            raise WindowError(f"{setting}: the window opens and closes at the same time")
        return cls(opens, closes, tz, f"{start.strip()}-{end.strip()} {tz}")

    def _minute(self, now: datetime) -> tuple[datetime, int]:
        local = now.astimezone(ZoneInfo(self.tz))
        return local, local.weekday() * 24 * 60 + local.hour * 60 + local.minute

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` is inside the window."""
        _, minute = self._minute(now)
        if self.opens < self.closes:
            return self.opens <= minute < self.closes
        return minute >= self.opens or minute < self.closes

    def _next(self, now: datetime, target: int) -> datetime:
        local, minute = self._minute(now)
        ahead = (target - minute) % WEEK_MINUTES or WEEK_MINUTES
        start_of_minute = local.replace(second=0, microsecond=0)
        # Wall-clock arithmetic in the zone, so a DST change keeps "Sunday 12:00" at 12:00.
        naive = start_of_minute.replace(tzinfo=None) + timedelta(minutes=ahead)
        return naive.replace(tzinfo=ZoneInfo(self.tz)).astimezone(UTC)

    def next_open(self, now: datetime) -> datetime:
        """The next opening after ``now`` (UTC)."""
        return self._next(now, self.opens)

    def next_close(self, now: datetime) -> datetime:
        """The next closing after ``now`` (UTC)."""
        return self._next(now, self.closes)

    def closed_reason(self, now: datetime) -> str | None:
        """Why nothing can trade now (window closed, with the next opening), or None."""
        if self.is_open(now):
            return None
        opening = self.next_open(now).astimezone(ZoneInfo(self.tz))
        return (
            f"IB Gateway is down outside its weekly window ({self.text}); it opens again at "
            f"{opening.isoformat(timespec='minutes')} ({opening:%A %H:%M})"
        )


STALE_AFTER_S = 60.0
"""A status older than this means the bridge itself is not reporting (down, or no bridge)."""


def mask_account(account_id: str) -> str:
    """``DU1234567`` -> ``DU…567``: enough to recognise, not to address (public health)."""
    return account_id if len(account_id) <= 5 else f"{account_id[:2]}…{account_id[-3:]}"


def status_view(status: GatewayStatus | None, now: datetime, *, public: bool) -> dict[str, Any]:
    """The IB connection as JSON for the health endpoints and ``rebalancer status``.

    ``public`` (no token) masks the account ids.
    """
    if status is None:
        return {
            "state": "unknown",
            "detail": "no status from the gateway-bridge yet (is it running?)",
        }
    age = (now - status.ts_event).total_seconds()
    accounts = [mask_account(a) if public else a for a in status.accounts]
    live = [mask_account(a) if public else a for a in status.live_accounts]
    state = (
        "ready"
        if status.connected and status.reconciled
        else ("reconciling" if status.connected else "disconnected")
    )
    if age > STALE_AFTER_S:
        state = "stale"
    view: dict[str, Any] = {
        "state": state,
        "connected": status.connected,
        "reconciled": status.reconciled,
        "since": status.since.isoformat() if status.since else None,
        "gateway": f"{status.host}:{status.port}",
        "client_id": status.client_id,
        "server_version": status.server_version,
        "accounts": accounts,
        "live_accounts": live,
        "last_connectivity_code": status.last_connectivity_code,
        "last_connectivity_at": (
            status.last_connectivity_at.isoformat() if status.last_connectivity_at else None
        ),
        "heartbeat_age_s": float(status.heartbeat_age_s)
        if status.heartbeat_age_s is not None
        else None,
        "reported_s_ago": round(age, 1),
        "read_only": status.read_only,
        "allow_live": status.allow_live,
        "expected_until": status.expected_until.isoformat() if status.expected_until else None,
    }
    if not public:
        view["last_error"] = status.last_error
    if state == "stale":
        view["detail"] = (
            f"the gateway-bridge last reported {age:.0f} s ago; is it running? "
            "(`rebalancer status`, its log)"
        )
    return view
