"""Planner benchmarks: the pure core, and TargetAllocationSet -> PlanProposed over Redis.

    uv run python bench/bench_planner.py            # core + service
    uv run python bench/bench_planner.py --core     # core only

Core: one account with 50 holdings and 50 targets (40 shared, 10 to sell, 10 to buy),
median and p99 of plan_rebalance; then 1,000 distinct such accounts in a row.
Service: an embedded Redis, the IB emulator (built-in scenario) and the real gateway-bridge,
each its own process as deployed, and the planner service in this process; 20-symbol
allocations for DU1000001 sent one at a time (after 10 unmeasured ones that subscribe the
quotes), latency from publish to the PlanProposed read back from events.plans.v1: it
includes the planner asking the bridge over rpc.portfolio.v1 and the bridge reading IB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

from planner.core import Plan, plan_rebalance
from rebalancer_cli.embedded_redis import free_port
from shared.contracts.base import TargetWeight
from shared.contracts.portfolio import PortfolioView, Quote
from shared.contracts.positions import Position
from shared.contracts.prices import MarketDataType
from shared.policy import PlanningPolicy

NOW = datetime(2025, 6, 24, 15, 0, tzinfo=UTC)
ACCOUNT = "DU1000001"  # of the emulator's built-in scenario
EMULATOR_SYMBOLS = [
    "SPY",
    "QQQ",
    "VTI",
    "VXUS",
    "BND",
    "AGG",
    "TLT",
    "IEF",
    "GLD",
    "IWM",
    "EFA",
    "EEM",
    "VNQ",
    "SGOV",
    "VIXY",
    "TQQQ",
    "QLD",
    "SPXL",
    "EDC",
    "BTAL",
]


def portfolio(
    rng: random.Random, held: list[str], quoted: list[str], now: datetime
) -> PortfolioView:
    prices = {s: Decimal(rng.randint(500, 50_000)) / 100 for s in quoted}
    positions = tuple(
        Position(symbol=s, quantity=Decimal(rng.randint(1, 500)), average_cost=prices[s])
        for s in held
    )
    quotes = tuple(
        Quote(
            symbol=s,
            bid=prices[s] - Decimal("0.01"),
            ask=prices[s] + Decimal("0.01"),
            market_data_type=MarketDataType.LIVE,
            as_of=now - timedelta(seconds=1),
        )
        for s in quoted
    )
    cash = Decimal(rng.randint(0, 50_000))
    nlv = cash + sum((p.quantity * prices[p.symbol] for p in positions), Decimal(0))
    return PortfolioView(
        source="bench",
        account_id="DU111111",
        net_liquidation=nlv,
        total_cash=cash,
        positions=positions,
        quotes=quotes,
        positions_as_of=now - timedelta(seconds=1),
        account_as_of=now - timedelta(seconds=1),
    )


def weights(symbols: list[str]) -> tuple[TargetWeight, ...]:
    each = (Decimal(1) / len(symbols)).quantize(Decimal("0.000001"))
    result = [TargetWeight(symbol=s, weight=each) for s in symbols]
    last = Decimal(1) - each * (len(symbols) - 1)
    result[-1] = TargetWeight(symbol=symbols[-1], weight=last)
    return tuple(result)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_core(runs: int = 2000, accounts: int = 1000) -> None:
    rng = random.Random(7)
    names = [f"S{n:03d}" for n in range(60)]
    held, target = names[:50], names[10:]
    view = portfolio(rng, held, names, NOW)
    goal = weights(target)
    policy = PlanningPolicy()
    assert isinstance(plan_rebalance(view, goal, policy, NOW), Plan)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        plan_rebalance(view, goal, policy, NOW)
        samples.append((time.perf_counter() - started) * 1000)
    print(
        f"core, 50 holdings x 50 targets: median {statistics.median(samples):.3f} ms, "
        f"p99 {pct(samples, 0.99):.3f} ms over {runs} runs"
    )
    views = [portfolio(rng, held, names, NOW) for _ in range(accounts)]
    started = time.perf_counter()
    legs = 0
    for one in views:
        result = plan_rebalance(one, goal, policy, NOW)
        assert isinstance(result, Plan)
        legs += len(result.legs)
    total = time.perf_counter() - started
    print(
        f"core, {accounts} such accounts: {total:.2f} s total, "
        f"{total / accounts * 1000:.3f} ms per account, {legs} legs"
    )


class Processes:
    """The IB emulator and the gateway-bridge as their own processes (as deployed)."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.ib_port = free_port()
        self.ops_port = free_port()
        self.running: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 (owned by the process)
        self.running.append(
            subprocess.Popen(
                argv,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    async def start(self) -> None:
        emulator = str(Path(sys.executable).parent / "ib-emulator")
        self.spawn(
            "ib-emulator",
            [emulator, "--port", str(self.ib_port), "--admin-port", "-1", "--log-level", "WARNING"],
            {},
        )
        self.spawn(
            "gateway-bridge",
            [sys.executable, "-m", "gateway_bridge"],
            {
                "BRIDGE_REDIS_URL": self.redis_url,
                "BRIDGE_IB_PORT": str(self.ib_port),
                "BRIDGE_DATA_DIR": str(self.folder / "bridge"),
                "BRIDGE_OPS_PORT": str(self.ops_port),
                "BRIDGE_BACKOFF_INITIAL_S": "0.2",
                "BRIDGE_LOG_LEVEL": "WARNING",
            },
        )
        # /health answers 200 once the bridge is connected to the emulator and reconciled.
        url = f"http://127.0.0.1:{self.ops_port}/health"
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=1) as http:
            while True:
                for proc in self.running:
                    if proc.poll() is not None:
                        raise SystemExit(f"{proc.args[0]} exited; see the logs in {self.folder}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise SystemExit(f"the bridge was not healthy within 60 s; see {self.folder}")
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        for proc in reversed(self.running):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def bench_service(count: int = 300, symbols: int = 20, warmup: int = 10) -> None:
    import redis.asyncio as aioredis

    from planner.main import create_app
    from planner.settings import PlannerSettings
    from rebalancer_cli.embedded_redis import RedisServer
    from shared.accounts import Accounts
    from shared.contracts import catalogue
    from shared.contracts.allocations import TargetAllocationSet
    from shared.contracts.plans import PlanProposed
    from shared.kit.streams import Tail

    names = list(EMULATOR_SYMBOLS[:symbols])
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder) / "redis").start()
        stack = Processes(Path(folder), server.url)
        try:
            await stack.start()
            planner = create_app(
                PlannerSettings(redis_url=server.url, consumer_name="bench-planner"),
                accounts=Accounts([]),
            )
            await planner.start()
            client = aioredis.Redis.from_url(server.url)
            goal = weights(names)
            samples = []
            tail = Tail(client, [catalogue.PLANS])
            for n in range(warmup + count):
                event = TargetAllocationSet(
                    source="bench", allocation_id=f"al-{n}", account_ids=(ACCOUNT,), targets=goal
                )
                started = time.perf_counter()
                await planner.publish(event)
                answer = None
                while answer is None:
                    found = await tail.read(block_ms=10_000)
                    if not found:
                        raise SystemExit(f"no plan within 10 s; see the logs in {folder}")
                    for message in found:
                        if getattr(message, "allocation_id", None) == event.allocation_id:
                            answer = message
                if not isinstance(answer, PlanProposed):
                    raise SystemExit(f"expected a PlanProposed, got {answer!r}")
                if n >= warmup:  # the first requests subscribe to the quotes
                    samples.append((time.perf_counter() - started) * 1000)
            print(
                f"service (real bridge + emulator, own processes), {symbols} symbols, "
                f"{len(answer.legs)} legs: p50 {statistics.median(samples):.1f} ms, "
                f"p99 {pct(samples, 0.99):.1f} ms over {count} allocations"
            )
            await client.aclose()
            await planner.stop()
        finally:
            stack.stop()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--core", action="store_true", help="core only")
    args = parser.parse_args()
    # Shared machines: say how busy this one was, the figures depend on it.
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    bench_core()
    if not args.core:
        asyncio.run(bench_service())


if __name__ == "__main__":
    main()
