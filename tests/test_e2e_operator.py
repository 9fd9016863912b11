"""Over the real stack, as an operator: what `rebalancer plans` and GET /api/v1/plans show,
and which approvals they refuse.

Both read the same fold of events.plans.v1, so a dry run shows ``dry_run`` and a manual plan
``awaiting_approval`` in both, and approving anything but a plan that awaits approval is
refused with a sentence: HTTP 409, or the CLI's exit code 1. (On main a dry-run plan stayed
"proposed" in the API, and approving it answered 202 for a command the executor ignored.)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.waiting import eventually
from shared.contracts.plans import PlanCompleted

AUTO, MANUAL = "DU1000001", "DU1000002"
PLANNING = {"drift_band_abs_pct": "0.5", "min_order_value": "50"}
REBALANCER = str(Path(sys.executable).parent / "rebalancer")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    accounts = accounts_file(
        DU1000001={"approval": "auto", "planning": PLANNING},
        DU1000002={"approval": "manual", "planning": PLANNING},
    )
    s = E2EStack(tmp_path, accounts, notifier=True)
    await s.start()
    yield s
    await s.stop()


async def cli(stack: E2EStack, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [REBALANCER, *args, "--redis-url", stack.redis.url]
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)


async def plan_of(
    stack: E2EStack, account: str, targets: list[dict[str, Any]], execute: bool
) -> str:
    query = f"account={account}&execute={str(execute).lower()}&wait=true"
    response = await stack.api("POST", f"/api/v1/rebalance?{query}", body=targets)
    assert response.status_code == 200, response.text
    return str(response.json()["plans"][0]["plan_id"])


def line_of(output: str, plan_id: str) -> str:
    return next(line for line in output.splitlines() if plan_id in line)


async def test_plans_show_every_decision_and_only_a_waiting_plan_may_be_approved(
    stack: E2EStack,
) -> None:
    dry = await plan_of(stack, AUTO, [{"symbol": "SPY", "allocation": 0.6}, {"symbol": "BND", "allocation": 0.4}], execute=False)  # fmt: skip
    manual = await plan_of(stack, MANUAL, [{"symbol": "QQQ", "allocation": 0.5}, {"symbol": "TLT", "allocation": 0.5}], execute=True)  # fmt: skip
    await stack.wait_status(dry, "dry_run")
    await stack.wait_status(manual, "awaiting_approval")

    async def shown(plan_id: str, status: str) -> bool:
        response = await stack.api("GET", f"/api/v1/plans/{plan_id}")
        return bool(response.json()["status"] == status)

    for plan_id, status in ((dry, "dry_run"), (manual, "awaiting_approval")):
        await eventually(lambda p=plan_id, s=status: shown(p, s), 15, f"{plan_id} {status}")
    listed = await cli(stack, "plans")
    assert listed.returncode == 0, listed.stderr
    assert "dry_run" in line_of(listed.stdout, dry)
    assert "awaiting_approval" in line_of(listed.stdout, manual)

    refused = await stack.api("POST", f"/api/v1/plans/{dry}/approve")
    assert refused.status_code == 409
    assert "is dry_run, not awaiting approval" in refused.json()["message"]
    by_cli = await cli(stack, "approve", dry)
    assert by_cli.returncode == 1
    assert "it is a dry run and will never trade" in " ".join(by_cli.stderr.split())

    approved = await cli(stack, "approve", manual)
    assert approved.returncode == 0, approved.stderr
    assert isinstance(await stack.wait_end(manual, 60), PlanCompleted)
    again = await stack.api("POST", f"/api/v1/plans/{manual}/approve")
    assert again.status_code == 409
    assert "not awaiting approval" in again.json()["message"]
    twice = await cli(stack, "approve", manual)
    assert twice.returncode == 1
