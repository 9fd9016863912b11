"""Faults over the real stack: the executor SIGKILLed at random points, the bridge and Redis
restarted mid-plan. Invariants: every plan ends explicitly (completed or failed), IB holds at
most one order per orderRef, and no fill is lost (the plan's legs add up to IB's fills).

The seeded sweep runs ``E2E_KILL_SEEDS`` seeds (10 in CI); ``E2E_KILL_SEEDS=200`` for a soak.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from rebalancer_testkit.e2e import ENDINGS, E2EStack, accounts_file
from rebalancer_testkit.waiting import eventually, stays
from shared.contracts import catalogue
from shared.contracts.base import Side
from shared.contracts.order_commands import SubmitOrder
from shared.contracts.orders import OrderFilled
from shared.contracts.plans import PlanCompleted, PlanExecutionStarted, PlanFailed

A1 = "DU1000001"
PLANNING = {"drift_band_abs_pct": "0.5", "min_order_value": "50"}
MODELS = ({"SPY": "0.6", "BND": "0.4"}, {"SPY": "0.3", "BND": "0.5", "GLD": "0.2"})
SEEDS = int(os.environ.get("E2E_KILL_SEEDS", "10"))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    s = E2EStack(
        tmp_path,
        accounts_file(DU1000001={"approval": "auto", "planning": PLANNING}),
        executor_env={"EXECUTOR_COMMISSION_WAIT_S": "1"},
    )
    await s.start(healthy_within_s=90)  # a loaded shared machine starts slowly
    yield s
    await s.stop()


async def check_invariants(stack: E2EStack, plan_id: str, end: object) -> None:
    orders = await stack.ib_orders()
    refs = Counter(o["order_ref"] for o in orders if o["order_ref"])
    assert all(n == 1 for n in refs.values()), refs
    assert isinstance(end, PlanCompleted | PlanFailed), end
    ib_filled: dict[str, Decimal] = {}
    for o in orders:
        if o["order_ref"] and o["order_ref"].startswith(plan_id + "."):
            ib_filled[o["order_ref"]] = Decimal(str(o["filled"]))
    for leg in end.legs:
        prefix = f"{plan_id}.{leg.leg}."
        at_ib = sum((q for ref, q in ib_filled.items() if ref.startswith(prefix)), Decimal(0))
        assert leg.filled_quantity == at_ib, (leg, ib_filled)


async def test_executor_killed_at_random_points_never_double_sends_nor_loses_fills(
    stack: E2EStack,
) -> None:
    outcomes = Counter()
    for seed in range(SEEDS):
        rng = random.Random(seed)
        plans = await stack.request_plan((A1,), MODELS[seed % 2])
        plan_id = plans[A1]
        if rng.random() < 0.7:
            # kill once execution started, a random moment into it
            await stack.wait_event(plan_id, (PlanExecutionStarted,), 30)
        delay = rng.uniform(0, 0.6)
        await eventually(_after(delay), delay + 1, "the kill moment", every=0.01)
        stack.kill("executor")
        stack.spawn("executor")
        end = await stack.wait_end(plan_id, 60)
        outcomes[type(end).__name__] += 1
        await check_invariants(stack, plan_id, end)
        await stack.wait_healthy("executor")
    # the sweep must have exercised execution, not only rejections
    assert outcomes["PlanCompleted"] >= SEEDS // 2, outcomes


def _after(delay: float):  # type: ignore[no-untyped-def]
    import time

    until = time.monotonic() + delay

    async def check() -> bool:
        return time.monotonic() >= until

    return check


async def test_bridge_restarted_mid_plan_the_plan_completes_with_one_order_per_ref(
    stack: E2EStack,
) -> None:
    await stack.emulator("POST", "/faults/hold-fills", {"enabled": True})
    plans = await stack.request_plan((A1,), MODELS[0])

    async def sells_working() -> bool:
        return any(o["status"] == "Submitted" for o in await stack.ib_orders())

    await eventually(sells_working, 30, "sells working at IB")
    stack.kill("gateway-bridge")
    await stack.emulator("POST", "/faults/hold-fills", {"enabled": False})
    stack.spawn("gateway-bridge")
    end = await stack.wait_end(plans[A1], 90)
    assert isinstance(end, PlanCompleted), end
    await check_invariants(stack, plans[A1], end)


async def test_redis_restarted_mid_plan_with_its_aof_the_plan_still_ends(stack: E2EStack) -> None:
    await stack.emulator("POST", "/faults/hold-fills", {"enabled": True})
    plans = await stack.request_plan((A1,), MODELS[0])

    async def sells_working() -> bool:
        return any(o["status"] == "Submitted" for o in await stack.ib_orders())

    await eventually(sells_working, 30, "sells working at IB")
    stack.redis.kill()
    await stack.emulator("POST", "/faults/hold-fills", {"enabled": False})
    stack.redis.restart()
    # services may exit when Redis vanishes; restart whatever died (as a supervisor would)
    for name in ("gateway-bridge", "planner", "executor"):
        if stack.processes[name].poll() is not None:
            stack.spawn(name)
    end = await stack.wait_end(plans[A1], 90)
    assert isinstance(end, PlanCompleted | PlanFailed), end
    await check_invariants(stack, plans[A1], end)


# ---------------------------------------------------------------- an outage between sells and buys


@pytest.fixture
async def lagging_stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    """IB's account values trail the fills, so the executor polls for the sells' proceeds."""
    s = E2EStack(
        tmp_path,
        accounts_file(DU1000001={"approval": "auto", "planning": PLANNING}),
        executor_env={
            "EXECUTOR_COMMISSION_WAIT_S": "1",
            "EXECUTOR_CASH_WAIT_S": "60",
            "EXECUTOR_PORTFOLIO_TIMEOUT_S": "2",
        },
    )
    await s.start(healthy_within_s=90)  # a loaded shared machine starts slowly
    await s.emulator("POST", "/faults/lag-account-values", {"enabled": True})
    await s.emulator("POST", "/settings", {"account_update_period_seconds": 3600})
    yield s
    await s.stop()


async def sells_filled_no_buy_sent(stack: E2EStack, plan_id: str) -> bool:
    """True once every sell of the plan filled (as the executor saw it) and no buy went out."""
    sent = [
        c for c in await stack.messages(catalogue.ORDER_COMMANDS)
        if isinstance(c, SubmitOrder) and c.plan_id == plan_id
    ]  # fmt: skip
    if any(c.side == Side.BUY for c in sent):
        raise AssertionError("the buys went out before the outage could be staged")
    sells = {c.client_order_id: c.quantity for c in sent if c.side == Side.SELL}
    filled = {
        e.client_order_id: e.cumulative_quantity
        for e in await stack.messages(catalogue.ORDERS)
        if isinstance(e, OrderFilled) and e.client_order_id in sells
    }
    return bool(sells) and all(filled.get(coid) == q for coid, q in sells.items())


async def plan_waiting(stack: E2EStack, plan_id: str, *, redis: bool = True) -> bool:
    """True while the plan has neither ended nor sent a buy (an end is shown with its reasons);
    ``redis=False``: Redis is down, so only the executor's process can be looked at."""
    if not redis:
        return stack.processes["executor"].poll() is None
    ended = [m for m in await stack.plan_events(plan_id) if isinstance(m, ENDINGS)]
    assert not ended, ended[0].model_dump(include={"type", "reasons"})
    return not await buys_sent(stack, plan_id)


async def buys_sent(stack: E2EStack, plan_id: str) -> list[SubmitOrder]:
    return [
        c for c in await stack.messages(catalogue.ORDER_COMMANDS)
        if isinstance(c, SubmitOrder) and c.plan_id == plan_id and c.side == Side.BUY
    ]  # fmt: skip


async def test_bridge_down_between_sells_and_buys_the_buys_wait_and_are_sized_from_the_real_cash(
    lagging_stack: E2EStack,
) -> None:
    stack = lagging_stack
    plans = await stack.request_plan((A1,), MODELS[1])
    plan_id = plans[A1]
    await eventually(lambda: sells_filled_no_buy_sent(stack, plan_id), 30, "the sells filled")
    stack.kill("gateway-bridge")

    # an outage longer than the GetPortfolio timeout (2 s): the plan waits, it does not fail
    await stays(lambda: plan_waiting(stack, plan_id), 5, "the plan waiting for the bridge")
    stack.spawn("gateway-bridge")
    end = await stack.wait_end(plan_id, 60)
    assert isinstance(end, PlanCompleted), end
    await check_invariants(stack, plan_id, end)
    buys = await buys_sent(stack, plan_id)
    assert buys
    assert all(leg.filled_quantity > 0 for leg in end.legs if leg.side == Side.BUY)
    # sized from the cash after the sells (the restarted bridge's fresh view), within it
    state = await stack.emulator("GET", "/state")
    cash = next(Decimal(a["cash"]) for a in state["accounts"] if a["id"] == A1)
    assert cash >= 0, cash


async def test_redis_down_between_sells_and_buys_the_buys_wait_for_it(
    lagging_stack: E2EStack,
) -> None:
    stack = lagging_stack
    plans = await stack.request_plan((A1,), MODELS[1])
    plan_id = plans[A1]
    await eventually(lambda: sells_filled_no_buy_sent(stack, plan_id), 30, "the sells filled")
    stack.redis.kill()
    # the outage itself: longer than the connections' 5 s of retries
    await stays(lambda: plan_waiting(stack, plan_id, redis=False), 8, "the plan, Redis away")
    stack.redis.restart()
    for name in ("gateway-bridge", "planner", "executor"):
        if stack.processes[name].poll() is not None:
            stack.spawn(name)
    # the bridge kept its IB session: the proceeds show with the next periodic update
    await stack.emulator("POST", "/settings", {"account_update_period_seconds": 1})
    end = await stack.wait_end(plan_id, 60)
    assert isinstance(end, PlanCompleted), end
    await check_invariants(stack, plan_id, end)
    assert await buys_sent(stack, plan_id)
