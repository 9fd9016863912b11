"""Schedules: cron in a time zone, fired once across replicas and restarts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.core.schedule import ScheduleError, next_fire, schedules_of
from rebalancer_testkit.notifier import make_accounts, metric
from rebalancer_testkit.streams import read_stream
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode

MONTHLY = {
    "id": "DU111",
    "groups": ["family"],
    "allocation": {"targets": [{"symbol": "VTI", "weight": 1}]},
    "triggers": {
        "schedules": [
            {"cron": "30 10 1 * *", "timezone": "America/New_York", "execution": "rebalance"}
        ]
    },
}


def test_monthly_schedule_fires_at_new_york_time_across_daylight_saving():
    [entry] = schedules_of(make_accounts(MONTHLY))
    winter = next_fire(entry, datetime(2025, 1, 15, tzinfo=UTC))
    summer = next_fire(entry, datetime(2025, 6, 15, tzinfo=UTC))
    assert winter == datetime(2025, 2, 1, 15, 30, tzinfo=UTC)  # EST, UTC-5
    assert summer == datetime(2025, 7, 1, 14, 30, tzinfo=UTC)  # EDT, UTC-4
    assert entry.execution is ExecutionMode.REBALANCE


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "61 * * * *"}, "account DU1: triggers.schedules[0]: cron '61 * * * *'"),
        ({"cron": "0 9 * * 1", "timezone": "Mars/Olympus"}, "time zone 'Mars/Olympus' is unknown"),
    ],
)
def test_invalid_schedule_is_refused_naming_the_account(schedule, message):
    accounts = make_accounts({"id": "DU1", "triggers": {"schedules": [schedule]}})
    with pytest.raises(
        ScheduleError, match=message.replace("*", r"\*").replace("[", r"\[").replace("]", r"\]")
    ):
        schedules_of(accounts)


async def test_a_just_missed_fire_time_fires_once_across_two_replicas(start_notifier, client):
    every_minute = {
        **MONTHLY,
        "triggers": {"schedules": [{"cron": "* * * * *", "timezone": "UTC"}]},
    }
    group = {"group_schedules": [{"group": "family", "schedule": {"cron": "* * * * *"}}]}
    first = await start_notifier(make_accounts(every_minute, **group))
    second = await start_notifier(make_accounts(every_minute, **group))

    async def two_requests():
        found = await read_stream(client, catalogue.TRIGGERS)
        return found if len(found) >= 2 else None

    found = await eventually(two_requests)
    assert {r.trigger_id.split(":")[2] for r in found} == {"DU111", "family"}
    assert {r.trigger_source for r in found} == {"schedule"}
    assert all(r.execution is ExecutionMode.DRY_RUN for r in found)
    fires = sum(
        metric(n, "rebalancer_schedule_fires_total", outcome="already_fired")
        for n in (first, second)
    )
    assert fires >= 2  # the other replica found both fire times already claimed
    # Each (schedule, fire time) is published once, even if a minute boundary passed.
    ids = [r.trigger_id for r in await read_stream(client, catalogue.TRIGGERS)]
    assert len(ids) == len(set(ids))


def test_the_documented_example_accounts_file_is_valid():
    from pathlib import Path

    from shared.accounts import load_accounts

    example = Path(__file__).parents[3] / "deploy" / "accounts.example.yaml"
    accounts = load_accounts(example)
    assert [a.id for a in accounts] == ["DU1234567", "DU7654321", "DU5555555"]
    assert len(schedules_of(accounts)) == 2
