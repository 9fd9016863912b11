"""Account summary, account updates multi, PnL subscriptions."""

from __future__ import annotations

import pytest
from ib_async import IB, MarketOrder

from ib_emulator import Emulator

from .conftest import stock, wait_for


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
