"""Account summary, account updates multi, PnL subscriptions."""

from __future__ import annotations

import pytest
from ib_async import IB, MarketOrder

from ib_emulator import Emulator, default_scenario
from ib_emulator.scenario import AccountUpdatesSpec

from .conftest import Connect, stock, wait_for


async def test_account_summary_lists_tags_for_both_accounts(ib: IB) -> None:
    rows = await ib.accountSummaryAsync()
    tags = {(r.account, r.tag) for r in rows}
    assert ("DU1000001", "NetLiquidation") in tags
    assert ("DU1000002", "BuyingPower") in tags


async def test_account_updates_multi_are_synced_per_account(ib: IB) -> None:
    values = [v for v in ib.accountValues() if v.tag == "NetLiquidation"]
    assert {v.account for v in values} == {"DU1000001", "DU1000002"}


async def test_pnl_subscription_reports_and_updates_on_fills(emulator: Emulator, ib: IB) -> None:
    pnl = ib.reqPnL("DU1000001")
    await wait_for(lambda: pnl.unrealizedPnL == pnl.unrealizedPnL and pnl.unrealizedPnL > 0)
    trade = ib.placeOrder(await stock(ib, "SPY"), MarketOrder("SELL", 10, account="DU1000001"))
    await wait_for(lambda: trade.isDone())
    await wait_for(lambda: pnl.realizedPnL > 0, message="realized PnL after sale")


async def test_pnl_single_reports_position_and_value(ib: IB) -> None:
    single = ib.reqPnLSingle("DU1000001", "", 756733)
    await wait_for(lambda: single.position == 100, message="pnlSingle")
    assert single.value == pytest.approx(100 * 560.10)


async def test_duplicate_pnl_subscription_is_an_error(ib: IB) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda r, code, m, c: codes.append(code)
    ib.reqPnL("DU1000002")
    # ib_async refuses duplicates itself, so send the raw request a second time.
    ib.client.reqPnL(ib.client.getReqId(), "DU1000002", "")
    await wait_for(lambda: 322 in codes, message="duplicate subscription error")


async def test_account_updates_for_unknown_account_get_321_with_the_request_id(ib: IB) -> None:
    # IB answers with 321, which ib_async treats as a warning: the request future never
    # resolves, so callers must time out themselves. Observe the error instead.
    errors: list[tuple[int, int]] = []
    ib.errorEvent += lambda r, code, m, c: errors.append((r, code))
    req_id = ib.client.getReqId()
    ib.client.reqAccountUpdatesMulti(req_id, "DU999", "", False)
    await wait_for(lambda: (req_id, 321) in errors, message="error 321")


# ------------------------------------------------------------- daily PnL per position
async def test_pnl_single_daily_is_zero_for_a_position_not_traded_or_moved_today(
    emulator: Emulator, ib: IB
) -> None:
    single = ib.reqPnLSingle("DU1000001", "", 756733)  # SPY, held since before the session
    await wait_for(lambda: single.position == 100, message="pnlSingle")
    assert single.dailyPnL == 0
    assert single.unrealizedPnL == pytest.approx(100 * (560.10 - 480.12))
    emulator.set_price("SPY", last=561.10)
    await wait_for(lambda: single.dailyPnL == pytest.approx(100.0), message="daily PnL move")


async def test_pnl_single_daily_matches_the_accounts_daily_pnl(emulator: Emulator, ib: IB) -> None:
    spy = await stock(ib, "SPY")
    trade = ib.placeOrder(spy, MarketOrder("SELL", 40, account="DU1000001"))
    await wait_for(trade.isDone, message="sale")
    emulator.set_price("SPY", move_pct=1)
    single = ib.reqPnLSingle("DU1000001", "", spy.conId)
    account = ib.reqPnL("DU1000001")
    expected = float(emulator.broker.accounts["DU1000001"].position("SPY").daily_pnl(
        emulator.broker.mark("SPY")
    ))  # fmt: skip
    await wait_for(lambda: single.dailyPnL == pytest.approx(expected, abs=0.01))
    # SPY is the only position that moved or traded, so it carries the account's daily PnL.
    await wait_for(lambda: account.dailyPnL == pytest.approx(expected, abs=0.01))


# ------------------------------------------------- periodic account summary updates
async def test_account_summary_resends_changed_values_on_its_period() -> None:
    scenario = default_scenario().model_copy(
        update={"account_updates": AccountUpdatesSpec(period_seconds=0.2)}
    )
    async with Emulator(scenario) as emu:
        ib = IB()
        await ib.connectAsync("127.0.0.1", emu.port, clientId=1, timeout=5)
        nlv: list[float] = []
        ib.accountSummaryEvent += lambda v: (
            nlv.append(float(v.value))
            if (v.account, v.tag) == ("DU1000001", "NetLiquidation")
            else None
        )
        await ib.accountSummaryAsync()
        before = nlv[-1]
        emu.set_price("SPY", move_pct=10)  # no fill: only the period can tell the client
        await wait_for(lambda: nlv[-1] == pytest.approx(before + 100 * 56.01, abs=0.02))
        ib.disconnect()


async def test_account_update_period_is_settable_while_running(emulator: Emulator, ib: IB) -> None:
    await ib.accountSummaryAsync()
    values = {(v.account, v.tag, v.currency) for v in ib.accountValues()}
    assert ("DU1000001", "NetLiquidation", "USD") in values
    emulator.set_account_update_period(0.1)
    emulator.set_price("GLD", last=250)

    def gld_value() -> float:
        return next(
            float(v.value)
            for v in ib.accountValues("DU1000001")
            if v.tag == "StockMarketValue" and v.currency == "BASE"
        )

    expected = 100 * 560.10 + 200 * 73.2 + 150 * 62.15 + 20 * 250
    await wait_for(lambda: gld_value() == pytest.approx(expected, abs=0.01), message="update")


# ------------------------------------------------------------ ledger per currency
async def test_ledger_all_gives_rows_per_currency_and_base(ib: IB) -> None:
    rows = await ib.accountSummaryAsync("DU1000001")
    for tag in ("TotalCashBalance", "CashBalance", "NetLiquidationByCurrency", "StockMarketValue"):
        assert {r.currency for r in rows if r.tag == tag} == {"USD", "BASE"}, tag
    [cash] = [r for r in rows if r.tag == "TotalCashBalance" and r.currency == "USD"]
    assert float(cash.value) == 25000.0


async def test_account_values_carry_the_ledger_per_currency_and_base(connect: Connect) -> None:
    ib = await connect(account="DU1000002")
    values = {(v.tag, v.currency): v.value for v in ib.accountValues("DU1000002")}
    for tag in ("TotalCashBalance", "CashBalance", "UnrealizedPnL", "RealizedPnL"):
        assert (tag, "USD") in values, tag
        assert (tag, "BASE") in values, tag
    assert float(values[("TotalCashBalance", "USD")]) == 50000.0
