"""The planner against the real gateway-bridge connected to the IB emulator, on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ib_emulator.scenario import default_scenario
from rebalancer_testkit.ib_stack import IbStack, start_ib_stack
from shared.accounts import parse_accounts
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import ExecutionMode, TargetWeight
from shared.contracts.plans import PlanProposed, PlanRejected
from shared.rebalancing.ids import plan_id_for

ACCOUNTS = parse_accounts({"accounts": [{"id": "DU1000001"}, {"id": "DU1000002"}]})


def allocation(weights: dict[str, str], **overrides: Any) -> TargetAllocationSet:
    values: dict[str, Any] = {
        "source": "test",
        "allocation_id": "al-emu-1",
        "correlation_id": "trigger-emu",
        "account_ids": ("DU1000001",),
        "targets": tuple(TargetWeight(symbol=s, weight=Decimal(w)) for s, w in weights.items()),
        "execution": ExecutionMode.DRY_RUN,
    }
    return TargetAllocationSet(**(values | overrides))


@pytest.fixture
async def ib_stack(redis_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[IbStack] = []

    async def _start(**kwargs: Any) -> IbStack:
        stack = await start_ib_stack(
            redis_url, tmp_path, kwargs.pop("accounts", ACCOUNTS), **kwargs
        )
        started.append(stack)
        return stack

    yield _start
    for stack in started:
        await stack.stop()


async def test_allocation_for_an_emulator_account_becomes_an_explained_plan(
    ib_stack: Callable[..., Any],
) -> None:
    stack = await ib_stack()
    await stack.send(allocation({"SPY": "0.5", "AGG": "0.3", "GLD": "0.2"}))
    (plan,) = await stack.wait_for_plans(1)
    assert isinstance(plan, PlanProposed), plan
    assert plan.correlation_id == "trigger-emu"
    assert plan.plan_id == plan_id_for("al-emu-1", "DU1000001")

    # What the bridge read from IB is what the emulator holds.
    emulator = stack.emulator_account("DU1000001")
    held = {p["symbol"]: Decimal(p["quantity"]) for p in emulator["positions"]}
    assert (
        plan.summary.net_liquidation == Decimal(emulator["net_liquidation"]) == Decimal("109587.50")
    )
    assert plan.summary.cash_before == Decimal(emulator["cash"])
    assert {r.symbol: r.current_quantity for r in plan.drift if r.current_quantity} == held

    # Static emulator prices (spread 2 bps), default policy (min order 100, 0.005/share, 1
    # minimum): SPY 50 % of 109,587.50 at mid 560.095 is 97.8 shares -> sell 2; BND and VXUS
    # are not in the target -> sold in full; AGG 30 % at 99.05 -> buy 332; GLD 20 % at
    # 230.745 wants 75 more, but cash 25,000 + sells 25,080.94 - commissions only pays 74.
    assert [(leg.side.value, leg.symbol, leg.quantity) for leg in plan.legs] == [
        ("SELL", "SPY", 2),
        ("SELL", "BND", 200),
        ("SELL", "VXUS", 150),
        ("BUY", "AGG", 332),
        ("BUY", "GLD", 74),
    ]
    contracts = {i.symbol: i.con_id for i in default_scenario().instruments}
    assert all(leg.con_id == contracts[leg.symbol] for leg in plan.legs)
    rows = {r.symbol: r for r in plan.drift}
    assert [rows[s].target_pct for s in ("SPY", "AGG", "GLD", "BND", "VXUS")] == [50, 30, 20, 0, 0]
    assert rows["GLD"].skip_reason == "not enough cash (wanted 75.0000, planned 74.0000)"
    assert plan.summary.cash_after == Decimal("115.55")
    assert plan.summary.cash_after >= 0
    assert any("Buys were reduced" in w for w in plan.warnings)

    registry = stack.planner.metrics.registry
    weights = {
        s: registry.get_sample_value(
            "rebalancer_target_weight_ratio", {"account": "DU1000001", "symbol": s}
        )
        for s in ("SPY", "AGG", "GLD", "BND", "VXUS")
    }
    assert weights == {"SPY": 0.5, "AGG": 0.3, "GLD": 0.2, "BND": 0.0, "VXUS": 0.0}


async def test_account_the_bridge_does_not_serve_is_rejected_saying_so(
    ib_stack: Callable[..., Any],
) -> None:
    stack = await ib_stack()
    await stack.send(allocation({"SPY": "1"}, account_ids=("DU7777777",)))
    (rejection,) = await stack.wait_for_plans(1)
    assert isinstance(rejection, PlanRejected)
    assert rejection.account_id == "DU7777777"
    (reason,) = rejection.reasons
    assert reason.code == "unknown_account"
    assert "does not know account DU7777777" in reason.message
    assert "DU1000001" in reason.message  # the bridge says which accounts it serves


async def test_symbol_ib_cannot_qualify_is_rejected_by_name(
    ib_stack: Callable[..., Any],
) -> None:
    stack = await ib_stack()
    await stack.send(allocation({"SPY": "0.6", "ZZZQ": "0.4"}))
    (rejection,) = await stack.wait_for_plans(1)
    assert isinstance(rejection, PlanRejected)
    assert [(r.code, r.symbol) for r in rejection.reasons] == [("unknown_symbol", "ZZZQ")]
    assert "ZZZQ" in rejection.reasons[0].message


async def test_symbol_without_prices_from_ib_is_rejected_as_missing_quote(
    ib_stack: Callable[..., Any],
) -> None:
    stack = await ib_stack()
    # IB sends no price ticks from now on (ib_async shows NaN): AGG, never quoted before,
    # gets no usable price within the bridge's quote timeout.
    stack.emulator.faults.nan_prices(enabled=True)
    await stack.send(allocation({"SPY": "0.6", "AGG": "0.4"}))
    (rejection,) = await stack.wait_for_plans(1)
    assert isinstance(rejection, PlanRejected)
    missing = {r.symbol for r in rejection.reasons if r.code == "missing_quote"}
    assert "AGG" in missing
    assert {r.code for r in rejection.reasons} == {"missing_quote"}


async def test_delayed_data_is_rejected_only_where_the_policy_requires_live(
    ib_stack: Callable[..., Any],
) -> None:
    accounts = parse_accounts(
        {
            "accounts": [
                {
                    "id": "DU1000001",
                    "groups": ["both"],
                    "planning": {"require_live_data": True},
                },
                {"id": "DU1000002", "groups": ["both"]},
            ]
        }
    )
    delayed = default_scenario().model_copy(update={"market_data_type": "delayed"})
    # A login without live subscriptions: the bridge asks for delayed data (type 3).
    stack = await ib_stack(accounts=accounts, scenario=delayed, bridge={"market_data_type": 3})
    both = ("DU1000001", "DU1000002")
    await stack.send(allocation({"SPY": "0.5", "QQQ": "0.5"}, account_ids=both, group="both"))
    found = {p.account_id: p for p in await stack.wait_for_plans(2)}  # type: ignore[attr-defined]
    live_only = found["DU1000001"]
    assert isinstance(live_only, PlanRejected)
    assert {r.code for r in live_only.reasons} == {"delayed_data"}
    assert {r.symbol for r in live_only.reasons} >= {"SPY", "QQQ"}
    assert "delayed market data" in live_only.reasons[0].message
    assert isinstance(found["DU1000002"], PlanProposed)
