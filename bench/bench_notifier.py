"""Benchmark the notifier: Redis trigger -> TargetAllocationSet latency, HTTP rebalance rate.

Runs an embedded Redis on a free port and the notifier in this process (inline targets, no
signing), then:

1. publishes N triggers one at a time on the ``rebalance`` channel and measures the time
   until each one's TargetAllocationSet is on ``events.allocations.v1`` (p50/p99);
2. POSTs ``/api/v1/rebalance`` with inline targets from C concurrent clients (in a separate
   process) for D seconds and reports requests/s; every accepted request is also resolved
   into a TargetAllocationSet by the same notifier process meanwhile.

    uv run python bench/bench_notifier.py [--triggers 500] [--seconds 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from notifier.main import create_app
from notifier.settings import NotifierSettings
from rebalancer_cli.embedded_redis import RedisServer
from shared.accounts import parse_accounts
from shared.contracts import catalogue
from shared.kit.streams import Tail

TARGETS = [{"symbol": "QQQ", "allocation": 0.6}, {"symbol": "SPY", "allocation": 0.4}]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def bench_redis(url: str, count: int) -> list[float]:
    client = aioredis.Redis.from_url(url)
    tail = await Tail(client, [catalogue.ALLOCATIONS]).mark()  # not "$": the answer may beat XREAD
    latencies: list[float] = []
    for index in range(count):
        payload = json.dumps(
            {"account_id": "DU111", "targets": TARGETS, "id": f"bench-{time.time_ns()}"}
        )
        started = time.perf_counter()
        await client.publish("rebalance", payload)
        answer = await tail.read(block_ms=5000, count=1)
        if not answer:
            raise RuntimeError(f"trigger {index} produced no TargetAllocationSet within 5 s")
        latencies.append((time.perf_counter() - started) * 1000)
    await client.aclose()
    return latencies


async def bench_http(base: str, token: str, seconds: float, concurrency: int) -> tuple[int, int]:
    deadline = time.perf_counter() + seconds
    ok = errors = 0

    async def worker() -> None:
        nonlocal ok, errors
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            while time.perf_counter() < deadline:
                response = await http.post("/api/v1/rebalance?account=DU111", json=TARGETS)
                if response.status_code == 202:
                    ok += 1
                else:
                    errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, errors


def _http_client_process(
    base: str, token: str, seconds: float, concurrency: int, results: Any
) -> None:
    results.put(asyncio.run(bench_http(base, token, seconds, concurrency)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            accounts = parse_accounts({"accounts": [{"id": "DU111"}]})
            settings = NotifierSettings(
                redis_url=server.url, api_port=0, api_token="bench", log_level="WARNING"
            )
            notifier = create_app(settings, accounts)
            await notifier.start()
            try:
                for _ in range(20):  # warm up
                    await bench_redis(server.url, 1)
                latencies = await bench_redis(server.url, args.triggers)
                print(
                    f"redis trigger -> TargetAllocationSet, {len(latencies)} sequential: "
                    f"p50 {statistics.median(latencies):.2f} ms, "
                    f"p99 {percentile(latencies, 99):.2f} ms, max {max(latencies):.2f} ms"
                )
                assert notifier.api_server is not None
                base = f"http://127.0.0.1:{notifier.api_server.port}"
                # The load generator runs in its own process so that it does not share the
                # notifier's event loop (the machine still has only 2 cores for both).
                context = multiprocessing.get_context("spawn")
                results = context.Queue()
                client = context.Process(
                    target=_http_client_process,
                    args=(base, "bench", args.seconds, args.concurrency, results),
                )
                client.start()
                ok, errors = await asyncio.to_thread(results.get)
                await asyncio.to_thread(client.join)
                print(
                    f"HTTP POST /api/v1/rebalance (inline targets), {args.concurrency} clients, "
                    f"{args.seconds:g} s: {ok / args.seconds:.0f} requests/s "
                    f"({ok} accepted, {errors} errors)"
                )
            finally:
                await notifier.stop()
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
