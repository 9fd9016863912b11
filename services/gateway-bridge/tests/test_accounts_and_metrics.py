"""The portfolio gauges against the emulator: they follow the account and drop closed positions."""

from __future__ import annotations

import pytest

from rebalancer_testkit.bridge_commands import ACCOUNT, eventually, new_plan, submit
from shared.contracts.base import Side


def sample(service, name: str, **labels: str) -> float | None:  # type: ignore[no-untyped-def]
    return service.metrics.registry.get_sample_value(name, labels)


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
