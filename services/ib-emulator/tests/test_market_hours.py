"""Market hours: the NYSE calendar, and trading/liquid hours that clients can parse."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime

import pytest
from ib_async import IB, LimitOrder, Stock

from ib_emulator import Emulator, default_scenario
from ib_emulator.hours import MarketHours, nyse_early_closes, nyse_holidays
from ib_emulator.scenario import MarketHoursSpec

from .conftest import wait_for

# NYSE's published holiday and early-close calendars (checked against exchange_calendars'
# XNYS, which agrees on every date of 2024-2027 except the one-off closure of 2025-01-09).
NYSE = {
    2026: (
        ["2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
         "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"],
        ["2026-11-27", "2026-12-24"],
    ),
    2027: (
        ["2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18",
         "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24"],
        ["2027-11-26"],
    ),
    2025: (
        ["2025-01-01", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19",
         "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"],
        ["2025-07-03", "2025-11-28", "2025-12-24"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("year", sorted(NYSE))
def test_nyse_rules_give_the_exchanges_calendar(year: int) -> None:
    holidays, early = NYSE[year]
    assert sorted(str(d) for d in nyse_holidays(year)) == holidays
    assert sorted(str(d) for d in nyse_early_closes(year)) == early


def test_a_saturday_new_year_is_not_observed_on_the_friday_before() -> None:
    assert date(2021, 12, 31) not in nyse_holidays(2021)
    assert date(2022, 1, 1) not in nyse_holidays(2022)


CHRISTMAS_WEEK = datetime(2026, 12, 23, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York


def test_ib_text_marks_holidays_weekends_and_early_closes() -> None:
    trading, liquid = MarketHours(MarketHoursSpec()).ib_text(CHRISTMAS_WEEK)
    assert trading.split(";") == [
        "20261223:0400-20261223:2000",
        "20261224:0400-20261224:1700",
        "20261225:CLOSED",
        "20261226:CLOSED",
        "20261227:CLOSED",
        "20261228:0400-20261228:2000",
        "20261229:0400-20261229:2000",
    ]
    assert liquid.split(";")[:3] == [
        "20261223:0930-20261223:1600",
        "20261224:0930-20261224:1300",
        "20261225:CLOSED",
    ]


def test_configured_holidays_replace_the_nyse_calendar() -> None:
    spec = MarketHoursSpec(holidays=[date(2026, 12, 23)], early_closes=[])
    trading, liquid = MarketHours(spec).ib_text(CHRISTMAS_WEEK, days=3)
    assert trading == ("20261223:CLOSED;20261224:0400-20261224:2000;20261225:0400-20261225:2000")
    assert liquid.startswith("20261223:CLOSED;20261224:0930-20261224:1600")


async def test_contract_details_sessions_parse_in_ib_async() -> None:
    scenario = default_scenario().model_copy(update={"market_hours": MarketHoursSpec()})
    async with Emulator(scenario, clock=lambda: CHRISTMAS_WEEK) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        [details] = await ib.reqContractDetailsAsync(Stock("SPY", "SMART", "USD"))
        ib.disconnect()
    assert details.timeZoneId == "US/Eastern"
    liquid = details.liquidSessions()
    trading = details.tradingSessions()
    assert len(liquid) == len(trading) == 4  # Wed, Thu (early close), Mon, Tue
    now = CHRISTMAS_WEEK
    assert liquid[0].start <= now < liquid[0].end
    assert (liquid[1].end.hour, trading[1].end.hour) == (13, 17)
    assert liquid[2].start.date() == date(2026, 12, 28)


async def test_always_open_scenario_gives_sessions_that_cover_now(ib: IB) -> None:
    [details] = await ib.reqContractDetailsAsync(Stock("SPY", "SMART", "USD"))
    now = datetime.now(UTC)
    for sessions in (details.tradingSessions(), details.liquidSessions()):
        assert len(sessions) == 7
        assert any(s.start <= now < s.end for s in sessions)
        assert all(a.end == b.start for a, b in itertools.pairwise(sessions))


async def test_orders_on_a_holiday_wait_for_the_regular_session() -> None:
    christmas = datetime(2026, 12, 25, 16, 0, tzinfo=UTC)  # 11:00 in New York, a Friday
    scenario = default_scenario().model_copy(update={"market_hours": MarketHoursSpec()})
    async with Emulator(scenario, clock=lambda: christmas) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        [spy] = await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD"))
        trade = ib.placeOrder(spy, LimitOrder("BUY", 1, 600, account="DU1000001"))
        await wait_for(lambda: trade.orderStatus.status == "PreSubmitted", message="held")
        await asyncio.sleep(0.2)  # several matching rounds: it must still be held
        assert trade.orderStatus.status == "PreSubmitted"
        assert not trade.fills
        ib.disconnect()
