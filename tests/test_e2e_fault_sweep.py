"""A few seeds of the e2e fault sweep (``bench/bench_faults.py`` runs 50): the executor, the
bridge or Redis SIGKILLed at a seeded point of a live plan. Every plan ends explicitly, IB
holds one order per orderRef, and no fill is lost.

``E2E_FAULT_SEEDS`` seeds (3 in CI: one per target), from ``E2E_FAULT_FIRST_SEED`` (0).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.faults import run_one

SEEDS = int(os.environ.get("E2E_FAULT_SEEDS", "3"))
FIRST = int(os.environ.get("E2E_FAULT_FIRST_SEED", "0"))
A1 = "DU1000001"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    s = E2EStack(
        tmp_path,
        accounts_file(
            DU1000001={
                "approval": "auto",
                "planning": {"drift_band_abs_pct": "0.5", "min_order_value": "50"},
            }
        ),
        executor_env={"EXECUTOR_COMMISSION_WAIT_S": "1", "EXECUTOR_PORTFOLIO_TIMEOUT_S": "3"},
    )
    await s.start(healthy_within_s=90)
    yield s
    await s.stop()


async def test_seeded_kills_of_executor_bridge_and_redis_end_every_plan_without_duplicates(
    stack: E2EStack,
) -> None:
    for seed in range(FIRST, FIRST + SEEDS):
        result = await run_one(stack, A1, seed, end_within_s=90)
        assert result.ended, result
        assert result.duplicate_refs == 0, result
        assert result.lost_fills == 0, result
