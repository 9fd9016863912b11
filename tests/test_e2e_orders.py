"""End to end over the real stack (Redis, emulator, bridge, planner, executor, notifier as
processes): one order through the API, exactly once per Idempotency-Key; execute=true on a
dry_run account says it will not trade."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rebalancer_cli.app import app
from rebalancer_testkit.e2e import E2EStack, accounts_file
from shared.contracts import catalogue
from shared.contracts.order_commands import SubmitOrder

AUTO, DRY = "DU1000001", "DU1000002"
TARGETS = [{"symbol": "SPY", "allocation": 0.6}, {"symbol": "BND", "allocation": 0.4}]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[E2EStack]:
    accounts = accounts_file(
        DU1000001={"approval": "auto", "default": True},
        DU1000002={},  # approval: dry_run, the default
    )
    running = E2EStack(tmp_path, accounts, notifier=True)
    try:
        yield await running.start()
    finally:
        await running.stop()


async def test_an_order_placed_twice_with_one_idempotency_key_trades_once(
    stack: E2EStack,
) -> None:
    body = {"symbol": "SPY", "qty": 3, "side": "buy", "order_type": "MKT"}  # the tracker's body
    key = {"Idempotency-Key": "e2e-order-1"}
    first = await stack.api("POST", "/api/v1/orders", body=body, headers=key, timeout_s=30)
    assert first.status_code == 201, first.text
    placed = first.json()
    assert placed["account_id"] == AUTO  # the account marked default: true
    assert placed["status"] == "completed", placed
    [fill] = placed["fills"]
    assert (fill["status"], Decimal(fill["filled_quantity"])) == ("filled", Decimal(3))
    assert Decimal(fill["average_price"]) > 0
    [leg] = placed["plan"]["legs"]
    assert (leg["symbol"], leg["side"], leg["quantity"]) == ("SPY", "BUY", "3")
    assert leg["order"]["order_type"] == "MKT"

    again = await stack.api("POST", "/api/v1/orders", body=body, headers=key, timeout_s=30)
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True
    assert again.json()["order_id"] == placed["order_id"]
    assert again.json()["fills"] == placed["fills"]

    other = await stack.api(
        "POST", "/api/v1/orders", body={**body, "qty": 4}, headers=key, timeout_s=30
    )
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")

    shown = await stack.api("GET", f"/api/v1/orders/{placed['order_id']}")
    assert shown.json()["status"] == "completed"
    assert shown.json()["fills"] == placed["fills"]
    at_ib = [o for o in await stack.ib_orders() if o["order_ref"].startswith(placed["order_id"])]
    assert len(at_ib) == 1, at_ib
    sent = [
        m
        for m in await stack.messages(catalogue.ORDER_COMMANDS)
        if isinstance(m, SubmitOrder) and m.plan_id == placed["order_id"]
    ]
    assert [(m.side.value, m.quantity, m.order_type.value) for m in sent] == [
        ("BUY", Decimal(3), "MKT")
    ]

    # The same through the CLI: `rebalancer order sell SPY 2 --key ...` twice trades once.
    args = ["order", "sell", "SPY", "2", "--account", AUTO, "--key", "cli-1", "--yes",
            "--redis-url", stack.redis.url, "--timeout", "60"]  # fmt: skip
    outputs = []
    for _ in range(2):
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
        logs = "\n".join(stack.log(n)[-1500:] for n in ("notifier", "planner"))
        assert result.exit_code == 0, result.output + logs
        outputs.append(result.output)
    assert "SPY" in outputs[0]
    assert "already placed with this key" in outputs[1]
    assert "completed" in outputs[1]
    sells = [
        m
        for m in await stack.messages(catalogue.ORDER_COMMANDS)
        if isinstance(m, SubmitOrder) and m.side.value == "SELL"
    ]
    assert [(m.symbol, m.quantity) for m in sells] == [("SPY", Decimal(2))]


async def test_execute_true_on_a_dry_run_account_answers_dry_run_with_the_setting(
    stack: E2EStack,
) -> None:
    response = await stack.api(
        "POST", f"/api/v1/rebalance?account={DRY}&execute=true&wait=true", body=TARGETS,
        timeout_s=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "dry_run"
    assert "approval: dry_run" in answer["reason"]
    assert "approval" in answer["setting"]
    [plan] = answer["plans"]
    assert plan["status"] == "dry_run"
    assert plan["why"] == "the account's approval mode is dry_run"
    assert plan["legs"], "the answer shows the trades the plan would make"

    order = await stack.api(
        "POST", "/api/v1/orders", body={"account": DRY, "symbol": "SPY", "side": "BUY",
                                         "quantity": 1}, timeout_s=30,
    )  # fmt: skip
    assert order.status_code == 201, order.text
    assert order.json()["status"] == "dry_run"
    assert await stack.messages(catalogue.ORDER_COMMANDS) == []
    assert await stack.ib_orders() == []
