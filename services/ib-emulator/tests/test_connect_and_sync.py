"""Connecting: handshake, startup sync, client ids, ids and time."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import IB

from ib_emulator import Emulator

from .conftest import Connect, wait_for


async def test_connect_syncs_positions_of_both_accounts(ib: IB) -> None:
    assert ib.managedAccounts() == ["DU1000001", "DU1000002"]
    held = {(p.account, p.contract.symbol): p for p in ib.positions()}
    spy = held[("DU1000001", "SPY")]
    assert spy.position == 100
    assert spy.avgCost == pytest.approx(480.12)
    assert spy.contract.conId == 756733
    assert ("DU1000002", "AAPL") in held


async def test_connect_syncs_account_values_for_every_account(ib: IB) -> None:
    values = {(v.account, v.tag, v.currency): v.value for v in ib.accountValues()}
    assert float(values[("DU1000001", "TotalCashValue", "USD")]) == 25000.0
    assert float(values[("DU1000002", "NetLiquidation", "USD")]) > 50000.0


async def test_account_updates_give_portfolio_with_market_values(connect: Connect) -> None:
    ib = await connect(account="DU1000001")
    items = {i.contract.symbol: i for i in ib.portfolio("DU1000001")}
    assert items["SPY"].position == 100
    assert items["SPY"].marketPrice == pytest.approx(560.10)
    assert items["SPY"].unrealizedPNL == pytest.approx(100 * (560.10 - 480.12), abs=0.01)


async def test_second_connection_with_a_client_id_in_use_gets_326(
    emulator: Emulator, connect: Connect
) -> None:
    await connect(client_id=5)
    other = IB()
    errors: list[int] = []
    other.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    with pytest.raises((ConnectionError, asyncio.TimeoutError, TimeoutError)):
        await other.connectAsync("127.0.0.1", emulator.port, clientId=5, timeout=1)
    assert 326 in errors
    other.disconnect()


async def test_client_id_is_free_again_after_disconnect(
    emulator: Emulator, connect: Connect
) -> None:
    first = await connect(client_id=6)
    first.disconnect()
    await wait_for(lambda: not emulator.sessions, message="the emulator saw the disconnect")
    second = await connect(client_id=6)
    assert second.isConnected()


async def test_several_clients_connect_at_once(connect: Connect) -> None:
    clients = await asyncio.gather(*(connect() for _ in range(4)))
    assert all(c.isConnected() for c in clients)


async def test_current_time_is_reported(ib: IB) -> None:
    now = await ib.reqCurrentTimeAsync()
    assert now.year >= 2024


async def test_next_valid_id_is_above_every_id_the_client_used(
    emulator: Emulator, connect: Connect
) -> None:
    from ib_async import MarketOrder, Stock

    ib = await connect(client_id=21)
    trade = ib.placeOrder(Stock("SPY", "SMART", "USD"), MarketOrder("BUY", 1, account="DU1000001"))
    await wait_for(trade.isDone, message="fill")
    used = trade.order.orderId
    ib.disconnect()
    await wait_for(lambda: not emulator.sessions, message="the emulator saw the disconnect")
    again = await connect(client_id=21)
    assert again.client.getReqId() > used
