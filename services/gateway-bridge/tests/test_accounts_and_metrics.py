"""Account values for every account of a login, daily PnL, and the portfolio gauges, against
the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from bridge_helpers import ACCOUNT, eventually, get_portfolio, new_plan, submit

from conftest import bridge_settings
from gateway_bridge.main import create_app
from ib_emulator import Emulator
from ib_emulator.scenario import AccountSpec, PositionSpec, default_scenario
from shared.contracts.base import Side

FLEET = [f"DU{3000000 + n}" for n in range(12)]


@pytest.fixture
async def fleet_emulator() -> AsyncIterator[Emulator]:
    """An emulator whose login manages 12 accounts, each holding a different SPY position."""
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
    fleet_emulator, redis_url, tmp_path
):
    service = create_app(bridge_settings(redis_url, fleet_emulator, tmp_path / "bridge"))
    await service.start()
    try:
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
    finally:
        await asyncio.wait_for(service.stop(), 20)


async def test_portfolio_gauges_follow_the_account_and_drop_a_closed_position(
    emulator, start_bridge, publish
):
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    net_liquidation = await eventually(
        lambda: sample(service, "rebalancer_account_net_liquidation_usd", account=ACCOUNT),
        message="net liquidation gauge",
    )
    assert sample(service, "rebalancer_account_cash_usd", account=ACCOUNT) == 25000
    assert sample(service, "rebalancer_account_unrealized_pnl_usd", account=ACCOUNT) is not None
    await eventually(
        lambda: sample(service, "rebalancer_account_daily_pnl_usd", account=ACCOUNT) is not None,
        message="daily PnL gauge",
    )
    gld = await eventually(
        lambda: sample(service, "rebalancer_position_value_usd", account=ACCOUNT, symbol="GLD"),
        message="GLD value gauge (priced once its quote streams)",
    )
    weight = sample(service, "rebalancer_position_weight_ratio", account=ACCOUNT, symbol="GLD")
    assert weight == pytest.approx(gld / net_liquidation, rel=0.01)

    await publish(submit(f"{new_plan()}.0.0", symbol="GLD", side=Side.SELL, quantity=20))
    await eventually(
        lambda: (
            sample(service, "rebalancer_position_value_usd", account=ACCOUNT, symbol="GLD") is None
        ),
        message="the closed GLD position's series removed",
    )
    assert (
        sample(service, "rebalancer_position_weight_ratio", account=ACCOUNT, symbol="GLD") is None
    )
    await eventually(
        lambda: sample(service, "rebalancer_position_value_usd", account=ACCOUNT, symbol="SPY"),
        message="SPY, still held, keeps its series",
    )
