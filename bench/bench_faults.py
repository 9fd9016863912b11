"""The e2e fault sweep: seeded runs with the executor, the bridge or Redis SIGKILLed at random
points of a live plan (``rebalancer_testkit.faults``), over one real stack (Redis, the IB
emulator, bridge, planner, executor as processes).

Prints one line per run and the figures docs/executor.md gives: runs, duplicate orders, lost
fills, plans ended explicitly. The CI runs a few seeds of the same code
(tests/test_e2e_fault_sweep.py).

    uv run python bench/bench_faults.py --runs 50 --seed 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from rebalancer_testkit.e2e import E2EStack, accounts_file
from rebalancer_testkit.faults import run_one, summary

ACCOUNT = "DU1000001"
PLANNING = {"drift_band_abs_pct": "0.5", "min_order_value": "50"}


def stack_at(root: Path) -> E2EStack:
    """The stack of the sweep (also the CI subset's)."""
    return E2EStack(
        root,
        accounts_file(DU1000001={"approval": "auto", "planning": PLANNING}),
        executor_env={"EXECUTOR_COMMISSION_WAIT_S": "1", "EXECUTOR_PORTFOLIO_TIMEOUT_S": "3"},
    )


async def sweep(runs: int, first_seed: int, root: Path) -> dict[str, object]:
    stack = stack_at(root)
    await stack.start(healthy_within_s=90)
    results = []
    began = time.monotonic()
    load = os.getloadavg()[0]
    try:
        for seed in range(first_seed, first_seed + runs):
            result = await run_one(stack, ACCOUNT, seed)
            results.append(result)
            print(
                f"seed {seed:3d} {result.target:14s} {result.moment:26s} outage "
                f"{result.outage_s:4.2f} s held={result.held_fills!s:5s} -> {result.outcome:14s} "
                f"{','.join(result.reasons) or '-':30s} dup={result.duplicate_refs} "
                f"lost={result.lost_fills} {result.seconds:5.1f} s",
                flush=True,
            )
    finally:
        await stack.stop()
    figures = summary(results)
    figures["seconds"] = round(time.monotonic() - began, 1)
    figures["load"] = f"{load:.2f} -> {os.getloadavg()[0]:.2f}"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stack's folder here")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = asyncio.run(sweep(args.runs, args.seed, args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
            figures = asyncio.run(sweep(args.runs, args.seed, Path(tmp)))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
