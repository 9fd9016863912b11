"""A short seeded fleet over the real stack, with IB's connection dropped mid-burst.

20 accounts x 20 legs (400 orders, ~9 s at the bridge's 45 messages/s) on one login; once
150 orders reached IB the emulator drops every connection. Every plan must still complete,
no orderRef may reach IB twice, and each account must hold exactly what its plan filled:
nothing lost, nothing sent twice. (The full-size run is ``bench/bench_executor.py fleet``.)
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import yaml

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.plans import PlanCompleted

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "services/ib-emulator/src/ib_emulator/default_scenario.yaml"
SYMBOLS = ["SPY", "QQQ", "VTI", "VXUS", "BND", "AGG", "TLT", "IEF", "GLD", "IWM",
           "EFA", "EEM", "VNQ", "SGOV", "TQQQ", "QLD", "SPXL", "EDC", "BTAL", "MSFT"]  # fmt: skip
ACCOUNTS = [f"DU{2100000 + n}" for n in range(20)]
PLANNING = {"min_order_value": "1", "min_share_diff": "0", "fractional": True}
EXECUTION = {"max_turnover_pct": "1000", "daily_order_cap": 100000, "price_collar_pct": "50"}


def scenario() -> dict:
    data = yaml.safe_load(SCENARIO.read_text())
    data["prices"]["seed"] = 20261201
    data["accounts"] = [
        {"id": a, "base_currency": "USD", "cash": "200000", "account_type": "margin", "positions": []}
        for a in ACCOUNTS
    ]  # fmt: skip
    return data


async def test_a_fleet_with_ibs_connection_dropped_mid_burst_loses_no_order_and_doubles_none(
    tmp_path: Path,
) -> None:
    stack = E2EStack(
        tmp_path,
        accounts_file(
            **{a: {"approval": "auto", "planning": PLANNING, "execution": EXECUTION} for a in ACCOUNTS}
        ),
        scenario=scenario(),
        reclaim_idle_ms=30_000,  # planning 20 accounts must not be redelivered meanwhile
    )  # fmt: skip
    await stack.start()
    try:
        await stack.emulator(
            "POST", "/faults/pacing", {"enabled": True, "limit": 50, "max_violations": 1000}
        )
        weight = str((Decimal(1) / len(SYMBOLS)).quantize(Decimal("0.0001")))
        plans = await stack.request_plan(tuple(ACCOUNTS), dict.fromkeys(SYMBOLS, weight))

        async def mid_burst() -> bool:
            return len(await stack.ib_orders()) >= 150

        await eventually(mid_burst, within=120, what="150 orders at IB", every=0.1)
        dropped = (await stack.emulator("POST", "/faults/drop-connections", {}))["dropped"]
        assert dropped >= 1
        ends = {a: await stack.wait_end(p, 180) for a, p in plans.items()}

        assert [a for a, e in ends.items() if not isinstance(e, PlanCompleted)] == []
        orders = await stack.ib_orders()
        refs = Counter(o["order_ref"] for o in orders)
        assert [r for r, n in refs.items() if n > 1] == []  # no orderRef sent twice
        for account, end in ends.items():
            filled: dict[str, Decimal] = {}
            for leg in end.legs:
                filled[leg.symbol] = filled.get(leg.symbol, Decimal(0)) + leg.filled_quantity
                assert leg.status == "filled", leg
            # IB holds exactly what the plan filled: no leg lost, none executed twice.
            assert await stack.positions(account) == {s: q for s, q in filled.items() if q}
        gateway = [m.type for m in await stack.messages(catalogue.GATEWAY)]
        assert "GatewayDisconnected" in gateway
        assert (await stack.emulator("GET", "/state"))["errors_sent"].get("100", 0) == 0
    finally:
        await stack.stop()
