"""Seeded fault runs over the real stack: one plan, one process killed at a random point.

Each run (one seed) triggers a plan for one account and SIGKILLs the executor, the
gateway-bridge or Redis at a moment the seed picks (before execution starts, or a random delay
into it, sometimes with the fills held at IB so orders are in flight), keeps it down for a
seeded outage, starts it again (and whatever died with it, as a supervisor would), then waits
for the plan to end. It measures, never asserts: the CI subset (``tests/``) and the full sweep
(``bench/bench_faults.py``) judge the same :class:`RunResult`.

The invariants: IB holds at most one order per orderRef (``duplicate_refs``), every fill IB
made for the plan is in the plan's outcome (``lost_fills``: legs whose filled quantity differs
from IB's), and the plan ends with an explicit event (``ended``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from rebalancer_testkit.e2e import ENDINGS, E2EStack
from shared.contracts.plans import PlanCompleted, PlanExecutionStarted, PlanFailed

Target = Literal["executor", "gateway-bridge", "redis"]
TARGETS: tuple[Target, ...] = ("executor", "gateway-bridge", "redis")
MODELS = ({"SPY": "0.6", "BND": "0.4"}, {"SPY": "0.3", "BND": "0.5", "GLD": "0.2"})
SERVICES = ("gateway-bridge", "planner", "executor")
HEALTHY_WITHIN_S = 240.0


@dataclass
class RunResult:
    """What one seeded run did and found."""

    seed: int
    target: Target
    moment: str
    outage_s: float
    held_fills: bool
    plan_id: str
    outcome: str = "none"
    """The plan's ending event (PlanCompleted, PlanFailed, ...) or ``none``."""
    reasons: list[str] = field(default_factory=list)
    duplicate_refs: int = 0
    lost_fills: int = 0
    seconds: float = 0.0

    @property
    def ended(self) -> bool:
        """Whether the plan ended with an explicit event."""
        return self.outcome != "none"


def plan_for(seed: int) -> tuple[Target, str, float, bool, float]:
    """What seed ``seed`` does: the target, when, the outage, held fills, the delay."""
    rng = random.Random(seed)
    target = TARGETS[seed % len(TARGETS)]
    before = rng.random() < 0.2
    delay = rng.uniform(0, 1.5)
    held = target != "executor" and rng.random() < 0.5
    outage = 0.0 if target == "executor" else rng.uniform(0.5, 3.0)
    moment = "before execution" if before else f"{delay:.2f} s into execution"
    return target, moment, outage, held, (-1.0 if before else delay)


async def run_one(
    stack: E2EStack, account_id: str, seed: int, end_within_s: float = 120
) -> RunResult:
    """Run seed ``seed`` on ``stack``: trigger, kill, restart, wait for the end, measure."""
    target, moment, outage, held, delay = plan_for(seed)
    began = time.monotonic()
    if held:
        await stack.emulator("POST", "/faults/hold-fills", {"enabled": True})
    plans = await stack.request_plan((account_id,), MODELS[seed % 2])
    plan_id = plans[account_id]
    result = RunResult(seed, target, moment, round(outage, 2), held, plan_id)
    if delay >= 0:
        await stack.wait_event(plan_id, (PlanExecutionStarted, *ENDINGS), 60)
        await asyncio.sleep(delay)
    await _kill(stack, target)
    await asyncio.sleep(outage)
    if held:
        await stack.emulator("POST", "/faults/hold-fills", {"enabled": False})
    await _restart(stack, target)
    try:
        end = await stack.wait_end(plan_id, end_within_s)
    except AssertionError:
        end = None
    if end is not None:
        result.outcome = type(end).__name__
        result.reasons = [r.code for r in getattr(end, "reasons", ())]
    result.duplicate_refs, result.lost_fills = await _invariants(stack, plan_id, end)
    result.seconds = round(time.monotonic() - began, 2)
    return result


async def _kill(stack: E2EStack, target: Target) -> None:
    if target == "redis":
        stack.redis.kill()
    else:
        stack.kill(target)


async def _restart(stack: E2EStack, target: Target) -> None:
    if target == "redis":
        await asyncio.to_thread(stack.redis.restart)
    else:
        stack.spawn(target)
    for name in SERVICES:  # whatever died with it, as a supervisor would
        if stack.processes[name].poll() is not None:
            stack.spawn(name)
    for name in SERVICES:
        # A generous deadline: on a loaded shared machine a Python service takes a minute
        # just to import; the plan's own end is what the run measures.
        await stack.wait_healthy(name, HEALTHY_WITHIN_S)


async def _invariants(stack: E2EStack, plan_id: str, end: Any) -> tuple[int, int]:
    orders = [
        o for o in await stack.ib_orders() if (o["order_ref"] or "").startswith(plan_id + ".")
    ]
    refs = Counter(o["order_ref"] for o in orders)
    duplicates = sum(n - 1 for n in refs.values() if n > 1)
    if not isinstance(end, PlanCompleted | PlanFailed):
        return duplicates, 0
    at_ib: dict[int, Decimal] = {}
    for o in orders:
        leg = int(o["order_ref"].split(".")[1])
        at_ib[leg] = at_ib.get(leg, Decimal(0)) + Decimal(str(o["filled"]))
    lost = sum(1 for leg in end.legs if leg.filled_quantity != at_ib.get(leg.leg, Decimal(0)))
    return duplicates, lost


def summary(results: list[RunResult]) -> dict[str, Any]:
    """The sweep's figures: runs, duplicate orders, lost fills, plans ended explicitly."""
    by_target: dict[str, int] = Counter(r.target for r in results)
    return {
        "runs": len(results),
        "by_target": dict(by_target),
        "duplicate_orders": sum(r.duplicate_refs for r in results),
        "lost_fills": sum(r.lost_fills for r in results),
        "ended_explicitly": sum(1 for r in results if r.ended),
        "outcomes": dict(Counter(r.outcome for r in results)),
        "failure_reasons": dict(Counter(c for r in results for c in r.reasons)),
    }
