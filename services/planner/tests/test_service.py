"""The planner service over a real Redis, with a bridge stand-in answering rpc.portfolio.v1.

Fast service tests; the real bridge and IB emulator are in ``test_service_with_bridge.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from planner.main import create_app
from planner.policies import AccountPolicies
from planner.settings import PlannerSettings
from rebalancer_testkit.fake_bridge import FakeBridge
from rebalancer_testkit.portfolios import ACCOUNTS, account_view, view
from rebalancer_testkit.waiting import eventually, stays
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import ExecutionMode, Message, TargetWeight, utc_now
from shared.contracts.limits import MAX_TARGETS_PER_PLAN
from shared.contracts.plans import PlanProposed, PlanRejected
from shared.kit.service import Service
from shared.kit.streams import read
from shared.policy import TradeMode
from shared.rebalancing.ids import plan_id_for


async def wait_for_plans(
    client: aioredis.Redis, count: int, timeout_s: float = 10
) -> list[Message]:
    async def enough() -> list[Message] | None:
        found = await read(client, catalogue.PLANS)
        return found if len(found) >= count else None

    return await eventually(enough, timeout_s, f"{count} plan messages")


def allocation(**overrides: Any) -> TargetAllocationSet:
    values: dict[str, Any] = {
        "source": "test",
        "allocation_id": "al-1",
        "correlation_id": "trigger-7",
        "account_ids": ("DU111111",),
        "targets": (
            TargetWeight(symbol="SPY", weight=Decimal("0.6")),
            TargetWeight(symbol="AGG", weight=Decimal("0.4")),
        ),
        "execution": ExecutionMode.DRY_RUN,
    }
    return TargetAllocationSet(**(values | overrides))


class Stack:
    def __init__(self, planner: Service, bridge: FakeBridge, client: aioredis.Redis) -> None:
        self.planner, self.bridge, self.redis = planner, bridge, client

    async def send(self, event: TargetAllocationSet) -> None:
        await self.bridge.service.publish(event)


@pytest.fixture
async def stack(redis_url: str) -> AsyncIterator[Stack]:
    bridge = FakeBridge(redis_url)
    bridge.views = {a: account_view(a) for a in ("DU111111", "DU222222")}
    planner = create_app(
        PlannerSettings(
            redis_url=redis_url,
            consumer_name="planner-test",
            portfolio_timeout_s=0.5,
        ),
        accounts=ACCOUNTS,
    )
    await bridge.start()
    await planner.start()
    client = aioredis.Redis.from_url(redis_url)
    yield Stack(planner, bridge, client)
    await planner.stop()
    await bridge.stop()
    await client.aclose()


async def test_allocation_for_a_bridge_account_becomes_an_explained_plan(stack: Stack) -> None:
    await stack.send(allocation())
    (plan,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(plan, PlanProposed)
    assert plan.plan_id == plan_id_for("al-1", "DU111111")
    assert "." not in plan.plan_id
    assert plan.correlation_id == "trigger-7"
    assert plan.execution is ExecutionMode.DRY_RUN
    assert [(leg.side.value, leg.symbol, leg.quantity) for leg in plan.legs] == [
        ("SELL", "AGG", 5),
        ("BUY", "SPY", 5),
    ]
    assert [row.symbol for row in plan.drift] == ["SPY", "AGG"]
    assert plan.summary.turnover_pct == 10
    assert plan.valid_until > plan.ts_event
    assert plan.policy["min_order_value"] == "0"
    (request,) = stack.bridge.requests
    assert request.symbols == ("SPY", "AGG")
    assert request.correlation_id == "trigger-7"


async def test_each_account_of_an_allocation_gets_its_own_plan_with_its_own_policy(
    stack: Stack,
) -> None:
    await stack.send(allocation(account_ids=("DU111111", "DU222222"), group="family"))
    found = await wait_for_plans(stack.redis, 2)
    by_account = {p.account_id: p for p in found}
    assert set(by_account) == {"DU111111", "DU222222"}
    assert all(isinstance(p, PlanProposed) for p in found)
    buy_only = by_account["DU222222"]
    assert isinstance(buy_only, PlanProposed)
    assert all(leg.side.value == "BUY" for leg in buy_only.legs)
    assert buy_only.plan_id != by_account["DU111111"].plan_id


async def test_unknown_account_is_rejected_with_a_sentence(stack: Stack) -> None:
    await stack.send(allocation(account_ids=("DU999999",)))
    (rejection,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(rejection, PlanRejected)
    assert rejection.account_id == "DU999999"
    (reason,) = rejection.reasons
    assert reason.code == "unknown_account"
    assert "does not know account DU999999" in reason.message


async def test_bridge_that_does_not_answer_gives_a_rejection_not_a_plan(stack: Stack) -> None:
    stack.bridge.silent.add("DU111111")
    await stack.send(allocation())
    (rejection,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(rejection, PlanRejected)
    assert [r.code for r in rejection.reasons] == ["portfolio_unavailable"]
    assert "did not answer" in rejection.reasons[0].message
    assert rejection.correlation_id == "trigger-7"


async def test_invalid_targets_are_rejected_without_asking_the_bridge(stack: Stack) -> None:
    bad = (
        TargetWeight(symbol="SPY", weight=Decimal("0.7")),
        TargetWeight(symbol="AGG", weight=Decimal("0.4")),
    )
    await stack.send(allocation(targets=bad))
    (rejection,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(rejection, PlanRejected)
    assert [r.code for r in rejection.reasons] == ["weights_sum"]
    assert stack.bridge.requests == []


async def test_stale_quotes_from_the_bridge_are_rejected(stack: Stack) -> None:
    stack.bridge.views["DU111111"] = lambda request: view(
        0, {"SPY": (55, 100), "AGG": (45, 100)}, now=utc_now().replace(year=2024)
    )
    await stack.send(allocation())
    (rejection,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(rejection, PlanRejected)
    assert {"stale_quote", "stale_positions"} <= {r.code for r in rejection.reasons}


async def test_redelivered_allocation_gets_the_same_plan_id(stack: Stack) -> None:
    await stack.send(allocation())
    await stack.send(allocation())
    first, second = await wait_for_plans(stack.redis, 2)
    assert first.plan_id == second.plan_id  # type: ignore[attr-defined]


@pytest.mark.parametrize("group", ["family", "nobody", None])
async def test_an_allocation_without_accounts_is_rejected_groups_are_the_notifiers(
    stack: Stack, group: str | None
) -> None:
    await stack.send(allocation(account_ids=(), group=group))
    (rejection,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(rejection, PlanRejected)
    assert rejection.reasons[0].code == "no_accounts"
    assert "through the notifier" in rejection.reasons[0].message
    assert stack.bridge.requests == []


async def test_metrics_count_plans_by_account_and_outcome(stack: Stack) -> None:
    await stack.send(allocation())
    await stack.send(allocation(allocation_id="al-2", account_ids=("DU999999",)))
    await wait_for_plans(stack.redis, 2)
    registry = stack.planner.metrics.registry
    labels = {"account": "DU111111", "outcome": "proposed"}
    assert registry.get_sample_value("rebalancer_plans_total", labels) == 1
    labels = {"account": "DU999999", "outcome": "rejected"}
    assert registry.get_sample_value("rebalancer_plans_total", labels) == 1
    assert (
        registry.get_sample_value("rebalancer_portfolio_drift_ratio", {"account": "DU111111"})
        == 0.05
    )


async def test_two_replicas_in_one_group_plan_each_allocation_once(
    stack: Stack, redis_url: str
) -> None:
    second = create_app(
        PlannerSettings(
            redis_url=redis_url, consumer_name="planner-test-2", portfolio_timeout_s=0.5
        ),
        accounts=ACCOUNTS,
    )
    await second.start()
    try:
        for n in range(6):
            await stack.send(allocation(allocation_id=f"al-{n}"))
        await wait_for_plans(stack.redis, 6)

        async def six() -> bool:
            return len(await read(stack.redis, catalogue.PLANS)) == 6

        await stays(six, 0.3, "no duplicate plan")  # one would show within the polling interval
        found = await read(stack.redis, catalogue.PLANS)
        assert sorted(p.plan_id for p in found) == sorted(  # type: ignore[attr-defined]
            plan_id_for(f"al-{n}", "DU111111") for n in range(6)
        )
    finally:
        await second.stop()


async def test_unreadable_bridge_reply_is_rejected_not_planned(stack: Stack) -> None:
    good = account_view("DU111111")(None)  # type: ignore[arg-type]
    stack.bridge.raw_replies["DU111111"] = good.model_dump_json().replace(
        '"bid":"100"', '"bid":"NaN"', 1
    )
    await stack.send(allocation())
    (rejection,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(rejection, PlanRejected)
    assert [r.code for r in rejection.reasons] == ["portfolio_invalid"]


def test_unlisted_accounts_get_the_service_default_under_the_file_defaults() -> None:
    policies = AccountPolicies(ACCOUNTS, {"mode": "sell_only", "min_order_value": "25"})
    unlisted = policies.policy("DU333333")
    assert unlisted.mode is TradeMode.SELL_ONLY
    assert unlisted.min_order_value == 0  # the file's defaults.planning wins over the service's
    assert policies.policy("DU222222").mode is TradeMode.BUY_ONLY


async def test_an_allocation_beyond_the_symbol_limit_is_refused_without_any_lookup(
    stack: Stack,
) -> None:
    """1,000 symbols used to cost 100 s of contract lookups and 1,000 gateway errors."""
    many = tuple(
        TargetWeight(symbol=f"S{n}", weight=Decimal(1) / MAX_TARGETS_PER_PLAN)
        for n in range(MAX_TARGETS_PER_PLAN + 1)
    )
    await stack.send(allocation(targets=many))
    (rejection,) = await wait_for_plans(stack.redis, 1)
    assert isinstance(rejection, PlanRejected)
    assert [r.code for r in rejection.reasons] == ["too_many_targets"]
    assert f"{MAX_TARGETS_PER_PLAN + 1} symbols" in rejection.reasons[0].message
    assert stack.bridge.requests == []
