"""Cron schedules in a time zone: validation and fire times (pure; croniter + zoneinfo)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from shared.accounts import Accounts
from shared.contracts.base import ExecutionMode


@dataclass(frozen=True)
class ScheduleEntry:
    """One schedule: whom it triggers, when, and in which execution mode."""

    key: str
    cron: str
    timezone: str
    execution: ExecutionMode
    account_ids: tuple[str, ...] = ()
    group: str | None = None


class ScheduleError(ValueError):
    """A schedule of the accounts file is not valid; the message says which and why."""


def _check(where: str, cron: str, timezone: str) -> None:
    if not croniter.is_valid(cron):
        raise ScheduleError(f"{where}: cron {cron!r} is not a valid cron expression")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{where}: time zone {timezone!r} is unknown (use e.g. America/New_York)"
        ) from None


def schedules_of(accounts: Accounts) -> list[ScheduleEntry]:
    """Every schedule of the accounts file, validated; raise ScheduleError naming the bad one."""
    label = str(accounts.source) if accounts.source else "accounts file"
    entries: list[ScheduleEntry] = []
    for account in accounts:
        for index, schedule in enumerate(account.config.triggers.schedules):
            _check(
                f"{label}: account {account.id}: triggers.schedules[{index}]",
                schedule.cron,
                schedule.timezone,
            )
            entries.append(
                ScheduleEntry(
                    key=f"account:{account.id}:{index}",
                    cron=schedule.cron,
                    timezone=schedule.timezone,
                    execution=schedule.execution,
                    account_ids=(account.id,),
                )
            )
    if accounts.file is not None:
        for index, entry in enumerate(accounts.file.group_schedules):
            schedule = entry.schedule
            _check(f"{label}: group_schedules[{index}]", schedule.cron, schedule.timezone)
            entries.append(
                ScheduleEntry(
                    key=f"group:{entry.group}:{index}",
                    cron=schedule.cron,
                    timezone=schedule.timezone,
                    execution=schedule.execution,
                    group=entry.group,
                )
            )
    return entries


def next_fire(entry: ScheduleEntry, after: datetime) -> datetime:
    """Return the first fire time strictly after ``after``, in UTC."""
    local = after.astimezone(ZoneInfo(entry.timezone))
    fire: datetime = croniter(entry.cron, local).get_next(datetime)  # croniter is untyped
    return fire.astimezone(UTC)


def previous_fire(entry: ScheduleEntry, at: datetime) -> datetime:
    """Return the last fire time at or before ``at``, in UTC."""
    local = at.astimezone(ZoneInfo(entry.timezone))
    fire: datetime = croniter(entry.cron, local).get_prev(datetime)  # croniter is untyped
    return fire.astimezone(UTC)
