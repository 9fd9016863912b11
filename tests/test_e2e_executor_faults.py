"""Faults over the real stack: the executor SIGKILLed at random points, the bridge and Redis
restarted mid-plan. Invariants: every plan ends explicitly (completed or failed), IB holds at
most one order per orderRef, and no fill is lost (the plan's legs add up to IB's fills).

The seeded sweep runs ``E2E_KILL_SEEDS`` seeds (20 in CI); ``E2E_KILL_SEEDS=200`` for a soak.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.waiting import eventually
from shared.contracts.plans import PlanCompleted, PlanExecutionStarted, PlanFailed

A1 = "DU1000001"
PLANNING = {"drift_band_abs_pct": "0.5", "min_order_value": "50"}
MODELS = ({"SPY": "0.6", "BND": "0.4"}, {"SPY": "0.3", "BND": "0.5", "GLD": "0.2"})
SEEDS = int(os.environ.get("E2E_KILL_SEEDS", "20"))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    s = E2EStack(
        tmp_path,
        accounts_file(DU1000001={"approval": "auto", "planning": PLANNING}),
        executor_env={"EXECUTOR_COMMISSION_WAIT_S": "1"},
    )
    await s.start()
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
