"""Executor benchmarks over the real stack (processes: Redis, emulator, bridge, planner, executor).

1. ``latency``: an approved 20-leg plan to every order acknowledged by the emulator
   (PlanApproved.ts_event -> last OrderAccepted.ts_event of the plan), p50/p99 over runs.
2. ``fleet``: N accounts x 20 legs executed in one run; total time against the floor set by
   the 45 messages/s throttle (one placeOrder message per order), and pacing errors (the
   emulator enforces IB's 50/s limit during this run).

    uv run python bench/bench_executor.py latency --runs 20
    uv run python bench/bench_executor.py fleet --accounts 100
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import yaml
from e2e_stack import E2EStack, accounts_file

from shared.contracts import catalogue
from shared.contracts.orders import OrderAccepted
from shared.contracts.plans import PlanApproved, PlanCompleted

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


async def fleet(accounts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"DU{2000000 + n}" for n in range(accounts)]
        stack = E2EStack(
            Path(tmp),
            accounts_file(**{a: {"approval": "auto", "planning": PLANNING, "execution": EXECUTION} for a in ids}),
            scenario=scenario(accounts),
        )  # fmt: skip
        await stack.start()
        try:
            await stack.emulator(
                "POST", "/faults/pacing", {"enabled": True, "limit": 50, "max_violations": 1000}
            )
            started = time.monotonic()
            plans = await stack.request_plan(tuple(ids), model(0))
            ends = {}
            for account, plan_id in plans.items():
                ends[account] = await stack.wait_end(plan_id, 1200)
            total = time.monotonic() - started
            orders = 20 * accounts
            floor = orders / 45
            completed = sum(isinstance(e, PlanCompleted) for e in ends.values())
            print("sample end:", next(iter(ends.values())))
            log = (Path(tmp) / "gateway-bridge.log").read_text()
            pacing = log.count('"code": 100') + log.count("code=100")
            print(
                f"fleet {accounts} accounts x 20 legs: {total:.1f} s for {orders} orders; floor "
                f"{floor:.1f} s (45/s); ratio {total / floor:.2f}; completed {completed}/{accounts}; "
                f"pacing errors {pacing}"
            )
        finally:
            await stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["latency", "fleet"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(latency(args.runs) if args.what == "latency" else fleet(args.accounts))


if __name__ == "__main__":
    main()
