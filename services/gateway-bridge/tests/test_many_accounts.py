"""A login managing many accounts: every account gets its account values, a PortfolioView, its
gauges and its daily PnL (ib_async's connect sync alone covers at most 50 accounts; the bridge
subscribes them itself, the same way for 12 or 200, see gateway_bridge/accounts.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from ib_async import IB

from gateway_bridge.client import FleetIB, paced_ib
from ib_emulator import Emulator
from ib_emulator.scenario import AccountSpec, PositionSpec, default_scenario
from rebalancer_testkit.bridge_commands import eventually, get_portfolio

FLEET = [f"DU{3000000 + n}" for n in range(12)]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """Replaces the default emulator: a login of 12 accounts, each with its own cash and SPY."""
    scenario = default_scenario().model_copy(
        update={
            "accounts": [
                AccountSpec(
                    id=account,
                    cash=Decimal(10000 + n),
                    positions=[
                        PositionSpec(
                            symbol="SPY", quantity=Decimal(n + 1), average_cost=Decimal(400)
                        )
                    ],
                )
                for n, account in enumerate(FLEET)
            ]
        }
    )
    emu = Emulator(scenario, admin_port=0, seed=7)
    await emu.start()
    yield emu
    await asyncio.wait_for(emu.stop(), 20)


def sample(service, name: str, **labels: str) -> float | None:  # type: ignore[no-untyped-def]
    return service.metrics.registry.get_sample_value(name, labels)


async def test_every_account_of_a_many_account_login_gets_a_portfolio_and_gauges(
    emulator, start_bridge, redis_url
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    views = await asyncio.gather(*(get_portfolio(redis_url, a) for a in FLEET))
    assert [v.type for v in views] == ["PortfolioView"] * len(FLEET), [
        getattr(v, "reason", "") for v in views
    ]
    assert [v.total_cash for v in views] == [Decimal(10000 + n) for n in range(len(FLEET))]
    for n, account in enumerate(FLEET):
        assert sample(service, "rebalancer_account_cash_usd", account=account) == 10000 + n
    # Daily PnL arrives from the paced reqPnL subscriptions, for every account.
    await eventually(
        lambda: all(
            sample(service, "rebalancer_account_daily_pnl_usd", account=a) is not None
            for a in FLEET
        ),
        message="daily PnL of every account",
    )


async def test_the_bridges_account_values_index_answers_as_ib_async_does_across_a_reconnect(
    emulator,
):
    # FleetIB.accountValues(account) reads an index instead of scanning every account's values;
    # it must answer exactly what ib_async's own scan answers, after updates and a new connection.
    ib = paced_ib(45, 3)
    assert isinstance(ib, FleetIB)
    for attempt in range(2):
        await ib.connectAsync("127.0.0.1", emulator.port, clientId=50 + attempt, timeout=10)
        try:
            await asyncio.gather(*(ib.reqAccountUpdatesMultiAsync(a) for a in FLEET))
            await eventually(lambda: all(ib.accountValues(a) for a in FLEET), message="values")
            for account in [*FLEET, "DU0"]:
                assert ib.accountValues(account) == IB.accountValues(ib, account), account
            assert ib.accountValues() == IB.accountValues(ib)
        finally:
            ib.disconnect()
