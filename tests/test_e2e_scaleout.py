"""The stack scaled out over the real processes: two IB logins (two emulators, two bridges),
two executor shards, two planner replicas in one consumer group.

A short seeded fleet (3 accounts per login, 20 legs each): every plan completes, each order
reaches only the IB login that owns its account, no orderRef twice, no pacing error, each
shard sends orders only for its own accounts, the planners share the allocations and propose
each plan once; and an order command for an account of login b written to login a's stream is
refused (`wrong_login`), never sent to either login. (Full size: ``bench/bench_executor.py
fleet --logins 2``.)
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import yaml

from rebalancer_testkit.e2e import accounts_file
from rebalancer_testkit.scaled import ScaledStack
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.order_commands import OrderType, SubmitOrder
from shared.contracts.orders import OrderRejected
from shared.contracts.plans import PlanCompleted, PlanProposed
from shared.topology import orders_stream

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "services/ib-emulator/src/ib_emulator/default_scenario.yaml"
SYMBOLS = ["SPY", "QQQ", "VTI", "VXUS", "BND", "AGG", "TLT", "IEF", "GLD", "IWM",
           "EFA", "EEM", "VNQ", "SGOV", "TQQQ", "QLD", "SPXL", "EDC", "BTAL", "MSFT"]  # fmt: skip
LOGINS = {
    "login-a": [f"DU{2200000 + n}" for n in range(3)],
    "login-b": [f"DU{2300000 + n}" for n in range(3)],
}
SHARDS = {"shard-a": LOGINS["login-a"], "shard-b": LOGINS["login-b"]}
ACCOUNTS = [a for ids in LOGINS.values() for a in ids]
PLANNING = {"min_order_value": "1", "min_share_diff": "0", "fractional": True}
EXECUTION = {"max_turnover_pct": "1000", "daily_order_cap": 100000, "price_collar_pct": "50"}


def scenario() -> dict:
    data = yaml.safe_load(SCENARIO.read_text())
    data["prices"]["seed"] = 20261202
    data["accounts"] = [
        {"id": a, "base_currency": "USD", "cash": "200000", "account_type": "margin", "positions": []}
        for a in ACCOUNTS
    ]  # fmt: skip
    return data


def orders_submitted(metrics: str) -> set[str]:
    """Accounts that one executor's /metrics counts SubmitOrders for."""
    return {
        line.split('account="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("rebalancer_orders_submitted_total{") and not line.endswith(" 0.0")
    }


async def test_two_logins_two_shards_two_planners_route_every_order_to_its_own_login(
    tmp_path: Path,
) -> None:
    stack = ScaledStack(
        tmp_path,
        accounts_file(
            **{a: {"approval": "auto", "planning": PLANNING, "execution": EXECUTION} for a in ACCOUNTS}
        ),
        logins=LOGINS,
        shards=SHARDS,
        planner_replicas=2,
        scenario=scenario(),
        planner_env={"PLANNER_READ_BATCH_SIZE": "1"},
        reclaim_idle_ms=30_000,  # no redelivery of an allocation still being planned
    )  # fmt: skip
    await stack.start()
    try:
        for login in LOGINS:
            await stack.emulator(
                "POST", "/faults/pacing", {"enabled": True, "limit": 50}, login=login
            )
        weight = str((Decimal(1) / len(SYMBOLS)).quantize(Decimal("0.0001")))
        plans: dict[str, str] = {}
        for account in ACCOUNTS:  # one allocation each: the planner replicas share them
            plans |= await stack.request_plan((account,), dict.fromkeys(SYMBOLS, weight))
        ends = {a: await stack.wait_end(p, 120) for a, p in plans.items()}
        assert {
            a: type(e).__name__ for a, e in ends.items() if not isinstance(e, PlanCompleted)
        } == {}

        # Each order at the IB login of its account, once; no pacing error at either login.
        orders = await stack.ib_orders()
        assert len(orders) == 20 * len(ACCOUNTS)
        assert [o for o in orders if o["account"] not in LOGINS[o["login"]]] == []
        refs = Counter(o["order_ref"] for o in orders)
        assert [r for r, n in refs.items() if n > 1] == []
        for login, state in (await stack.each_emulator("GET", "/state")).items():
            assert state["errors_sent"].get("100", 0) == 0, login
        for account, end in ends.items():
            filled = {leg.symbol: leg.filled_quantity for leg in end.legs if leg.filled_quantity}
            assert await stack.positions(account) == filled

        # Each shard ordered for its own accounts only.
        for shard, owned in SHARDS.items():
            assert orders_submitted(await stack.metrics_text(f"executor.{shard}")) == set(owned)

        # The planners shared the six allocations, and each plan was proposed once.
        proposed = Counter(
            m.plan_id for m in await stack.messages(catalogue.PLANS) if isinstance(m, PlanProposed)
        )
        assert proposed == Counter(plans.values())
        sample = (
            'rebalancer_messages_handled_total{outcome="ok",stream="events.allocations.v1",'
            'type="TargetAllocationSet"}'
        )
        handled = [await stack.metric(f"planner.{n}", sample) or 0 for n in (1, 2)]
        assert sum(handled) == len(ACCOUNTS), handled
        assert min(handled) > 0, handled

        # A command for login b's account on login a's stream: refused, sent nowhere.
        foreign = LOGINS["login-b"][0]
        command = SubmitOrder(
            source="e2e",
            client_order_id="misrouted.0.0",
            account_id=foreign,
            symbol="SPY",
            side="BUY",
            quantity=Decimal(1),
            order_type=OrderType.MARKET,
            valid_until=utc_now() + timedelta(minutes=1),
        )
        assert stack.broker is not None
        await stack.broker.publish(
            command.model_dump(mode="json"), stream=orders_stream("login-a").name
        )

        async def refused() -> OrderRejected | None:
            return next(
                (
                    m
                    for m in await stack.messages(catalogue.ORDERS)
                    if isinstance(m, OrderRejected) and m.client_order_id == "misrouted.0.0"
                ),
                None,
            )

        rejection = await eventually(refused, 30, "the misrouted order's rejection")
        assert rejection.reason.startswith("wrong_login"), rejection.reason
        assert "login 'login-b'" in rejection.reason
        assert "misrouted.0.0" not in {o["order_ref"] for o in await stack.ib_orders()}
    finally:
        await stack.stop()
