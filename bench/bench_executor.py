"""Executor benchmarks over the real stack (processes: Redis, emulator, bridge, planner, executor).

1. ``latency``: an approved 20-leg plan to every order acknowledged by the emulator
   (PlanApproved.ts_event -> last OrderAccepted.ts_event of the plan), p50/p99 over runs.
2. ``fleet``: N accounts x 20 legs executed in one run on one login; total time against the
   floor (orders / 45 per second, one placeOrder per order), completed and failed plans,
   pacing errors counted from what the emulator (IB, enforcing 50/s) sent, duplicate
   orderRefs and cancels of foreign orders seen at the emulator, and orders resent.
   ``--disconnect-after N`` drops IB's connections once N orders reached it.
   ``--logins 2``: the accounts split over two IB logins (two emulators, two bridges), one
   executor shard per login and two planner replicas; the floor is then the busiest login's
   orders / 45 per second, and pacing errors are summed over the emulators.

    uv run python bench/bench_executor.py latency --runs 20
    uv run python bench/bench_executor.py fleet --accounts 100
    uv run python bench/bench_executor.py fleet --accounts 100 --disconnect-after 700
    uv run python bench/bench_executor.py fleet --accounts 500 --logins 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import yaml

from rebalancer_testkit.e2e import ENDINGS, E2EStack, accounts_file
from rebalancer_testkit.scaled import ScaledStack
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.order_commands import CancelAllOrders, CancelOrder, SubmitOrder
from shared.contracts.orders import OrderAccepted, OrderStatusUnknown
from shared.contracts.plans import PlanApproved, PlanCompleted, PlanProposed
from shared.kit.consumer import MalformedMessage, decode_entry, entry_body
from shared.topology import orders_stream

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "services/ib-emulator/src/ib_emulator/default_scenario.yaml"
SYMBOLS = ["SPY", "QQQ", "VTI", "VXUS", "BND", "AGG", "TLT", "IEF", "GLD", "IWM",
           "EFA", "EEM", "VNQ", "SGOV", "TQQQ", "QLD", "SPXL", "EDC", "BTAL", "MSFT"]  # fmt: skip
PLANNING = {
    "min_order_value": "1",
    "min_share_diff": "0",
    "fractional": True,
    "cash_buffer_pct": "5",
}
RATE = 45.0
"""Messages per second per login: the floor is orders / RATE (one placeOrder per order)."""
INFO_CODES = {"2104", "2106", "2158"}
EXECUTION = {"max_turnover_pct": "1000", "daily_order_cap": 100000, "price_collar_pct": "50"}


def scenario(accounts: int) -> dict:
    data = yaml.safe_load(SCENARIO.read_text())
    data["accounts"] = [
        {
            "id": f"DU{2000000 + n}",
            "base_currency": "USD",
            "cash": "1000000",
            "account_type": "margin",
            "positions": [],
        }
        for n in range(accounts)
    ]
    return data


def model(run: int) -> dict[str, str]:
    # alternate two different 20-symbol weightings so every run has 20 legs to trade
    weights = [Decimal(1 + (i + run) % 2) for i in range(len(SYMBOLS))]
    total = sum(weights)
    out = {
        s: (w / total).quantize(Decimal("0.0001")) for s, w in zip(SYMBOLS, weights, strict=True)
    }
    out[SYMBOLS[0]] += 1 - sum(out.values())
    return {s: str(w) for s, w in out.items()}


async def latency(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"DU{2000000 + n}" for n in range(runs)]
        stack = E2EStack(
            Path(tmp),
            accounts_file(**{a: {"approval": "auto", "planning": PLANNING, "execution": EXECUTION} for a in ids}),
            scenario=scenario(runs),
        )  # fmt: skip
        await stack.start()
        try:
            samples = []
            for n, account in enumerate(ids):  # a fresh account per run: 20 buys each
                plans = await stack.request_plan((account,), model(n))
                end = await stack.wait_end(plans[account], 120)
                assert isinstance(end, PlanCompleted), end
                approved = next(
                    m
                    for m in await stack.plan_events(plans[account])
                    if isinstance(m, PlanApproved)
                )
                acks = [
                    m for m in await stack.messages(catalogue.ORDERS)
                    if isinstance(m, OrderAccepted) and m.plan_id == plans[account]
                ]  # fmt: skip
                assert len(acks) == 20, len(acks)
                last = max(a.ts_event for a in acks)
                samples.append((last - approved.ts_event).total_seconds())
            samples.sort()
            p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
            print(
                f"latency approved->20 acks over {runs} runs: p50 {statistics.median(samples):.3f} s, p99 {p99:.3f} s, max {samples[-1]:.3f} s"
            )
        finally:
            await stack.stop()


async def plan_endings(stack: E2EStack, plan_ids: set[str], timeout_s: float) -> dict[str, object]:
    """Read the plans stream incrementally (one XRANGE per half second) until every plan ended."""
    assert stack.client is not None
    ends: dict[str, object] = {}
    last = "-"
    deadline = time.monotonic() + timeout_s
    while len(ends) < len(plan_ids) and time.monotonic() < deadline:
        entries = await stack.client.xrange(catalogue.PLANS.name, min=last, count=5000)
        for entry_id, fields in entries:
            last = "(" + entry_id.decode()
            try:
                body, _ = entry_body(fields)
                message = decode_entry(catalogue.PLANS, body)
            except (MalformedMessage, ValueError):
                continue
            if isinstance(message, ENDINGS) and message.plan_id in plan_ids:
                ends.setdefault(message.plan_id, message)
        if len(entries) < 5000:
            await asyncio.sleep(0.5)
    return ends


def fleet_stack(
    root: Path, accounts: int, logins: int, pacing_rate: float | None = None
) -> E2EStack:
    """One login (E2EStack, as before), or ``logins`` logins with a shard each (ScaledStack)."""
    bridge_env = {} if pacing_rate is None else {"BRIDGE_PACING_RATE_PER_S": str(pacing_rate)}
    ids = [f"DU{2000000 + n}" for n in range(accounts)]
    book = accounts_file(
        **{a: {"approval": "auto", "planning": PLANNING, "execution": EXECUTION} for a in ids}
    )
    # The services' production redelivery: planning 100 accounts takes longer than the
    # tests' 1 s, which re-ran the allocation while it was being handled.
    if logins == 1:
        return E2EStack(
            root,
            book,
            scenario=scenario(accounts),
            reclaim_idle_ms=30_000,
            bridge_env=bridge_env,
        )
    names = [f"login-{chr(ord('a') + n)}" for n in range(logins)]
    split = {name: ids[n::logins] for n, name in enumerate(names)}
    return ScaledStack(
        root,
        book,
        logins=split,
        shards={f"shard-{name[6:]}": members for name, members in split.items()},
        planner_replicas=2,
        # One allocation per login, each taken by one replica; the portfolio waits are the
        # defaults (the bridge answers GetPortfolio concurrently, BRIDGE_PORTFOLIO_CONCURRENCY).
        planner_env={"PLANNER_READ_BATCH_SIZE": "1"},
        scenario=scenario(accounts),
        reclaim_idle_ms=30_000,
        # 2,500+ orders wait per login in its stream (55 s at 45/s, more on a loaded host):
        # an order must stay valid longer than its wait (docs/gateway-bridge.md).
        executor_env={"EXECUTOR_ORDER_VALID_S": "600"},
        bridge_env=bridge_env,
    )


async def emulator_states(stack: E2EStack) -> list[dict]:
    if isinstance(stack, ScaledStack):
        return list((await stack.each_emulator("GET", "/state")).values())
    return [await stack.emulator("GET", "/state")]


async def request_fleet(stack: E2EStack, ids: list[str]) -> dict[str, str]:
    """One allocation for the fleet, or one per login (the planner replicas share them)."""
    if not isinstance(stack, ScaledStack):
        return await stack.request_plan(tuple(ids), model(0))
    plans: dict[str, str] = {}
    for members in stack.logins.values():
        plans |= await stack.request_plan(tuple(members), model(0))
    return plans


async def fleet(
    accounts: int,
    disconnect_after: int | None = None,
    logins: int = 1,
    pacing_rate: float | None = None,
) -> dict[str, object]:
    """N accounts x 20 legs on one login or several; optionally drop IB mid-burst."""
    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"DU{2000000 + n}" for n in range(accounts)]
        stack = fleet_stack(Path(tmp), accounts, logins, pacing_rate)
        stack.ready_timeout_s = 300  # a bridge subscribes 100+ accounts' values at start
        try:
            await stack.start()
            pacing = {"enabled": True, "limit": 50, "max_violations": 1000}
            if isinstance(stack, ScaledStack):
                await stack.each_emulator("POST", "/faults/pacing", pacing)
            else:
                await stack.emulator("POST", "/faults/pacing", pacing)
            load_before = os.getloadavg()
            started = time.monotonic()
            started_wall = utc_now()
            plans = await request_fleet(stack, ids)
            if disconnect_after is not None:

                async def at_ib() -> bool:
                    return len(await stack.ib_orders()) >= disconnect_after

                await eventually(
                    at_ib, within=600, what=f"{disconnect_after} orders at IB", every=0.2
                )
                if isinstance(stack, ScaledStack):
                    await stack.each_emulator("POST", "/faults/drop-connections", {})
                else:
                    await stack.emulator("POST", "/faults/drop-connections", {})
            ends = await plan_endings(stack, set(plans.values()), 1800)
            total = time.monotonic() - started
            load_after = os.getloadavg()
            result = await fleet_result(stack, accounts, ends, total, logins)
            result |= await phases(stack, started_wall)
            result["load"] = (load_before[0], load_after[0])
            print(
                f"fleet {accounts} accounts x 20 legs on {logins} login(s)"
                + (f", connection dropped after {disconnect_after} orders" if disconnect_after else "")
                + f": {total:.1f} s for {result['orders']} orders; floor {result['floor_s']:.1f} s "
                f"({RATE:g}/s per login); {100 * (total / result['floor_s'] - 1):+.0f} % vs floor; "
                f"completed {result['completed']}/{accounts}, failed {result['failed']}, "
                f"not ended {accounts - len(ends)}; pacing errors sent by IB {result['pacing_errors']}; "
                f"duplicate orderRefs {result['duplicate_refs']}; foreign cancels {result['foreign_cancels']}; "
                f"orders at the wrong login {result['wrong_login']}; "
                f"orders resent (new attempts) {result['resent']}, reported not found {result['not_found']}; "
                f"IB errors sent {result['errors_sent']}; load {load_before[0]:.2f} -> {load_after[0]:.2f}"
            )  # fmt: skip
            print(
                "  phases (s from the allocation): plans proposed {proposed}, approved "
                "{approved}, SubmitOrders published {submitted}, orders received by IB "
                "{at_ib} ({ib_rate:.1f}/s between first and last), plans ended {ended}".format(
                    **result
                )
            )
            if "per_login" in result:
                print(f"  per login: {result['per_login']}")
            for end in list(ends.values())[:3]:
                if not isinstance(end, PlanCompleted):
                    print("  e.g.", type(end).__name__, getattr(end, "reasons", end))
            return result
        finally:
            await stack.stop()


def _span(times: list[datetime], start: datetime) -> str:
    if not times:
        return "-"
    first, last = min(times), max(times)
    return f"{(first - start).total_seconds():.1f}..{(last - start).total_seconds():.1f}"


async def phases(stack: E2EStack, start: datetime) -> dict[str, object]:
    """When each stage happened, from the messages' own timestamps and the emulator's."""
    plans = await stack.messages(catalogue.PLANS)
    commands = await command_messages(stack)
    received = sorted(
        datetime.fromisoformat(str(o["received_at"])) for o in await stack.ib_orders()
    )
    rate = (
        (len(received) - 1) / (received[-1] - received[0]).total_seconds()
        if len(received) > 1 and received[-1] > received[0]
        else 0.0
    )
    return {
        "proposed": _span([m.ts_event for m in plans if isinstance(m, PlanProposed)], start),
        "approved": _span([m.ts_event for m in plans if isinstance(m, PlanApproved)], start),
        "submitted": _span([m.ts_event for m in commands if isinstance(m, SubmitOrder)], start),
        "at_ib": _span(received, start),
        "ib_rate": rate,
        "ended": _span([m.ts_event for m in plans if isinstance(m, ENDINGS)], start),
    }


async def fleet_result(
    stack: E2EStack, accounts: int, ends: dict[str, object], total: float, logins: int = 1
) -> dict[str, object]:
    """What the emulators (IB) saw and what the streams say, against the floor."""
    ib_orders = await stack.ib_orders()
    refs = Counter(o["order_ref"] for o in ib_orders)
    commands = await command_messages(stack)
    submits = [c for c in commands if isinstance(c, SubmitOrder)]
    cancelled_on_purpose = {c.client_order_id for c in commands if isinstance(c, CancelOrder)}
    cancel_all = any(isinstance(c, CancelAllOrders) for c in commands)
    events = await stack.messages(catalogue.ORDERS)
    errors_sent: Counter[str] = Counter()
    for state in await emulator_states(stack):
        errors_sent.update(state["errors_sent"])
    # An order cancelled at IB that nobody asked to cancel (errors 10147/10148, a cancel that
    # found no open order under its id, are listed with the other errors IB sent).
    foreign = sum(
        1
        for o in ib_orders
        if o["status"] == "Cancelled" and o["order_ref"] not in cancelled_on_purpose
    ) if not cancel_all else 0  # fmt: skip
    orders = 20 * accounts
    per_login = Counter(o.get("login", "") for o in ib_orders)
    wrong = 0
    if isinstance(stack, ScaledStack):
        wrong = sum(1 for o in ib_orders if stack.login_of.get(o["account"]) != o["login"])
    busiest = max(per_login.values()) if per_login else orders / logins
    result: dict[str, object] = {
        "orders": orders,
        "floor_s": max(busiest, orders / logins) / RATE,
        "total_s": total,
        "completed": sum(isinstance(e, PlanCompleted) for e in ends.values()),
        "failed": sum(not isinstance(e, PlanCompleted) for e in ends.values()),
        "pacing_errors": errors_sent.get("100", 0),
        "duplicate_refs": sum(1 for n in refs.values() if n > 1),
        "foreign_cancels": foreign,
        "wrong_login": wrong,
        "resent": sum(1 for c in submits if not c.client_order_id.endswith(".0")),
        "not_found": sum(
            1 for e in events if isinstance(e, OrderStatusUnknown) and e.not_found_at_ib
        ),
        "errors_sent": {k: v for k, v in errors_sent.items() if k not in INFO_CODES},
    }
    if isinstance(stack, ScaledStack):
        result["per_login"] = dict(per_login)
    return result


async def command_messages(stack: E2EStack) -> list:
    """Order commands of every login's stream."""
    if not isinstance(stack, ScaledStack):
        return await stack.messages(catalogue.ORDER_COMMANDS)
    out: list = []
    for login in stack.logins:
        out += await stack.messages(orders_stream(login))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["latency", "fleet"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument(
        "--disconnect-after", type=int, default=None, help="drop IB's connections after N orders"
    )
    parser.add_argument(
        "--logins", type=int, default=1, help="IB logins (emulator + bridge + executor shard each)"
    )
    parser.add_argument(
        "--pacing-rate",
        type=float,
        default=None,
        help="the bridges' BRIDGE_PACING_RATE_PER_S (default: the bridge's own, 45)",
    )
    args = parser.parse_args()
    if args.what == "latency":
        asyncio.run(latency(args.runs))
    else:
        asyncio.run(fleet(args.accounts, args.disconnect_after, args.logins, args.pacing_rate))


if __name__ == "__main__":
    main()
