"""Market hours: sessions by day, the NYSE holiday rules, and IB's trading-hours text.

IB's contract details carry ``tradingHours`` (the whole session, pre- and post-market
included) and ``liquidHours`` (the regular session) for several days ahead, in the
instrument's ``timeZoneId``::

    20261224:0400-20261224:1700;20261225:CLOSED;20261226:CLOSED;20261228:0400-20261228:2000

Pure: every function takes the time it answers for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from .scenario import MarketHoursSpec, SessionSpec

DAYS_AHEAD = 7  # IB sends about a week: today and the six days after
# IB's names for the zones it reports (it says US/Eastern where tzdata says America/New_York).
IB_ZONE_NAMES = {"America/New_York": "US/Eastern", "America/Chicago": "US/Central"}
# Other zones are reported by their IANA names (Europe/Berlin, Europe/London, ...).


# ---------------------------------------------------------------- NYSE rules
def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's own name)
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    """Saturday holidays move to Friday, Sunday ones to Monday (NYSE Rule 7.2)."""
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


@cache
def nyse_holidays(year: int) -> frozenset[date]:
    """Full-day NYSE closures of a year, by the exchange's rules (no one-off closures)."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial Day
        _observed(date(year, 7, 4)),  # Independence Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),  # Christmas
    }
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:  # a Saturday New Year is not observed on Friday Dec 31
        days.add(_observed(new_year))
    return frozenset(days)


@cache
def nyse_early_closes(year: int) -> frozenset[date]:
    """NYSE's 13:00 closes: July 3 before a weekday July 4, Black Friday, Christmas Eve."""
    days = {_nth_weekday(year, 11, 3, 4) + timedelta(days=1)}
    july3 = date(year, 7, 3)
    if july3.weekday() <= 3:
        days.add(july3)
    eve = date(year, 12, 24)
    if eve.weekday() <= 3:
        days.add(eve)
    return frozenset(days)


# ------------------------------------------------------------------ sessions
@dataclass(frozen=True)
class DaySession:
    """One day's sessions in local time; ``None`` when closed.

    An overnight session (IDEALPRO's 17:15 to 17:00) starts the day before ``day`` and
    ends on it: its span then has a start later than its end.
    """

    day: date
    liquid: tuple[time, time] | None
    trading: tuple[time, time] | None


def _hhmm(text: str) -> time:
    return time.fromisoformat(text)


# IDEALPRO: Sunday 17:15 to Friday 17:00 New York time, a break from 17:00 to 17:15 daily.
FX_SESSION = SessionSpec(open="17:15", close="17:00")
FX_ZONE = "America/New_York"


class MarketHours:
    """When a market is open: the US rules from ``market_hours`` (``None``: always open),
    or an exchange's own sessions (``for_exchange``)."""

    def __init__(self, spec: MarketHoursSpec | None) -> None:
        self.spec = spec
        self.session: SessionSpec | None = None
        # Always open: reported in New York time, as IB's US listings are (US/Eastern).
        self._set_zone(spec.timezone if spec else "America/New_York")
        self._text: tuple[date, int, tuple[str, str]] | None = None

    @classmethod
    def for_exchange(cls, timezone: str, session: SessionSpec | None) -> MarketHours:
        """An exchange's hours in its zone: weekends and listed holidays closed (no other
        calendar); ``session`` None: always open, midnight to midnight local time."""
        hours = cls(None)
        hours._set_zone(timezone)
        hours.session = session
        return hours

    def _set_zone(self, name: str) -> None:
        self.zone = ZoneInfo(name)
        self.ib_zone_name = IB_ZONE_NAMES.get(name, name)

    @property
    def always_open(self) -> bool:
        """Whether no session rules apply (every day open midnight to midnight)."""
        return self.spec is None and self.session is None

    @property
    def overnight(self) -> bool:
        """Whether sessions run overnight (open in the evening, close the next day)."""
        return self.session is not None and self.session.open > self.session.close

    def _holidays(self, year: int) -> frozenset[date]:
        assert self.spec is not None
        if self.spec.holidays is not None:
            return frozenset(self.spec.holidays)
        return nyse_holidays(year)

    def _early_closes(self, year: int) -> frozenset[date]:
        assert self.spec is not None
        if self.spec.early_closes is not None:
            return frozenset(self.spec.early_closes)
        return nyse_early_closes(year)

    def day(self, d: date) -> DaySession:
        """The sessions of one local day (for overnight sessions: the one ending that day)."""
        if self.session is not None:
            return self._exchange_day(d, self.session)
        spec = self.spec
        if spec is None:
            return DaySession(d, (time(0), time(0)), (time(0), time(0)))
        if (spec.weekdays_only and d.weekday() >= 5) or d in self._holidays(d.year):
            return DaySession(d, None, None)
        if d in self._early_closes(d.year):
            close, ext_close = _hhmm(spec.early_close), _hhmm(spec.early_extended_close)
        else:
            close, ext_close = _hhmm(spec.close), _hhmm(spec.extended_close)
        return DaySession(d, (_hhmm(spec.open), close), (_hhmm(spec.extended_open), ext_close))

    @staticmethod
    def _exchange_day(d: date, s: SessionSpec) -> DaySession:
        if (s.weekdays_only and d.weekday() >= 5) or d in s.holidays:
            return DaySession(d, None, None)
        liquid = (_hhmm(s.open), _hhmm(s.close))
        trading = (_hhmm(s.extended_open or s.open), _hhmm(s.extended_close or s.close))
        return DaySession(d, liquid, trading)

    def _within(self, now: datetime, which: str) -> bool:
        if self.always_open:
            return True
        local = now.astimezone(self.zone)
        today = local.date()
        span = getattr(self.day(today), which)
        if not self.overnight:
            return span is not None and span[0] <= local.time() < span[1]
        # Overnight: in today's session before its close, or in tomorrow's after its open.
        if span is not None and local.time() < span[1]:
            return True
        later = getattr(self.day(today + timedelta(days=1)), which)
        return later is not None and local.time() >= later[0]

    def is_regular(self, now: datetime) -> bool:
        """Whether the regular session (RTH) is on."""
        return self._within(now, "liquid")

    def is_trading(self, now: datetime) -> bool:
        """Whether any session (pre-market, regular, after-hours) is on."""
        return self._within(now, "trading")

    def ib_text(self, now: datetime, days: int = DAYS_AHEAD) -> tuple[str, str]:
        """``(tradingHours, liquidHours)`` from today for ``days`` days, in IB's format."""
        today = now.astimezone(self.zone).date()
        if self._text is not None and self._text[:2] == (today, days):
            return self._text[2]  # the same all day: computed once per local date
        trading, liquid = [], []
        for i in range(days):
            d = today + timedelta(days=i)
            # IB labels an overnight session by the day it starts on.
            session = self.day(d + timedelta(days=1)) if self.overnight else self.day(d)
            trading.append(_ib_span(d, session.trading))
            liquid.append(_ib_span(d, session.liquid))
        self._text = (today, days, (";".join(trading), ";".join(liquid)))
        return self._text[2]


def _ib_span(d: date, span: tuple[time, time] | None) -> str:
    if span is None:
        return f"{d:%Y%m%d}:CLOSED"
    start, end = span
    # An always-open day runs midnight to midnight and an overnight session ends the next
    # day: either way the end is on the day after.
    end_day = d + timedelta(days=1) if end <= start else d
    return f"{d:%Y%m%d}:{start:%H%M}-{end_day:%Y%m%d}:{end:%H%M}"
