"""Planner benchmarks: the pure core, and TargetAllocationSet -> PlanProposed over Redis.

    uv run python bench/bench_planner.py            # core + service
    uv run python bench/bench_planner.py --core     # core only

Core: one account with 50 holdings and 50 targets (40 shared, 10 to sell, 10 to buy),
median and p99 of plan_rebalance; then 1,000 distinct such accounts in a row.
Service: an embedded Redis, the planner service and a bridge stand-in answering
rpc.portfolio.v1 through the service kit (the real bridge with the IB emulator replaces the
stand-in once it exists), 20-symbol allocations sent one at a time, latency from publish to
the PlanProposed read back from events.plans.v1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from planner.core import Plan, plan_rebalance
from shared.contracts.base import TargetWeight, utc_now
from shared.contracts.portfolio import GetPortfolio, PortfolioView, Quote
from shared.contracts.positions import Position
from shared.contracts.prices import MarketDataType
from shared.policy import PlanningPolicy

NOW = datetime(2025, 6, 24, 15, 0, tzinfo=UTC)


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


async def bench_service(count: int = 300, symbols: int = 20) -> None:
    import redis.asyncio as aioredis
    from faststream.redis.parser.binary import BinaryMessageFormatV1

    from planner.main import create_app
    from planner.settings import PlannerSettings
    from shared.accounts import Accounts
    from shared.contracts import catalogue
    from shared.contracts.allocations import TargetAllocationSet
    from shared.embedded_redis import RedisServer
    from shared.kit.rpc import send_reply
    from shared.kit.service import Service
    from shared.kit.settings import ServiceSettings

    class BridgeStandIn(ServiceSettings):
        SERVICE: ClassVar[str] = "bench-bridge"

    rng = random.Random(11)
    names = [f"S{n:03d}" for n in range(symbols)]
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder) / "redis").start()
        try:
            bridge = Service(BridgeStandIn(redis_url=server.url, consumer_name="bench-bridge"))

            async def answer(request: GetPortfolio) -> None:
                await send_reply(bridge.redis, request, portfolio(rng, names, names, utc_now()))

            bridge.subscribe(catalogue.PORTFOLIO_RPC, answer, polling_interval_ms=5)
            planner = create_app(
                PlannerSettings(redis_url=server.url, consumer_name="bench-planner"),
                accounts=Accounts([]),
            )
            # The kit polls every 100 ms by default; the bench shows both the default and the
            # service's own time (handler histogram) so the polling share is visible.
            await bridge.start()
            await planner.start()
            client = aioredis.Redis.from_url(server.url)
            goal = weights(names)
            samples = []
            cursor = "0-0"
            for n in range(count):
                event = TargetAllocationSet(
                    source="bench", allocation_id=f"al-{n}", account_ids=("DU111111",), targets=goal
                )
                started = time.perf_counter()
                await bridge.publish(event)
                done = False
                while not done:
                    found = await client.xread({catalogue.PLANS.name: cursor}, block=2000)
                    for _, entries in found or []:
                        for entry_id, fields in entries:
                            cursor = entry_id
                            body, _ = BinaryMessageFormatV1.parse(fields[b"__data__"])
                            message = catalogue.PLANS.decode(body)
                            done = (
                                done
                                or getattr(message, "allocation_id", None) == event.allocation_id
                            )
                samples.append((time.perf_counter() - started) * 1000)
            handler = (
                planner.metrics.registry.get_sample_value("rebalancer_plan_latency_seconds_sum")
                or 0.0
            )
            print(
                f"service, {symbols} symbols: p50 {statistics.median(samples):.1f} ms, "
                f"p99 {pct(samples, 0.99):.1f} ms over {count} allocations "
                f"(handler incl. bridge RPC: mean {handler / count * 1000:.1f} ms)"
            )
            await client.aclose()
            await planner.stop()
            await bridge.stop()
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--core", action="store_true", help="core only")
    args = parser.parse_args()
    bench_core()
    if not args.core:
        asyncio.run(bench_service())


if __name__ == "__main__":
    main()
