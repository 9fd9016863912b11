"""Benchmark of the service kit against a private Redis.

1. Publish-to-handler latency of single messages through the kit (p50, p99).
2. Throughput of one consumer-group consumer with a trivial handler, through the kit, and in
   the same run raw redis-py XADD, then XREADGROUP + XACK one at a time; and their ratio.
3. Idle RSS of each service process (started as the stack starts it).

    uv run python bench/bench_kit.py [--messages 20000] [--latency 2000] [--no-rss]

Pin to one core for the "on one core" figures: ``taskset -c 0 uv run python bench/bench_kit.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import redis
import redis.asyncio as aioredis

from rebalancer_cli.embedded_redis import RedisServer, free_port
from shared.contracts import catalogue
from shared.contracts.base import Message, utc_now
from shared.contracts.triggers import RequestRebalance
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def message() -> RequestRebalance:
    return RequestRebalance(
        source="bench", valid_until=utc_now() + timedelta(hours=1), account_ids=("DU1",)
    )


async def kit_latency(url: str, count: int) -> list[float]:
    service = Service(ServiceSettings(redis_url=url, consumer_name="bench"))
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def handler(_: Message) -> None:
        arrived.put_nowait(time.perf_counter())

    service.subscribe(catalogue.TRIGGERS, handler)  # the services' default polling (BLOCK 100 ms)
    await service.start()
    samples = []
    for _ in range(count):
        sent = time.perf_counter()
        await service.publish(message())
        samples.append((await arrived.get()) - sent)
    await service.stop()
    return samples


async def kit_throughput(url: str, count: int) -> float:
    client = aioredis.Redis.from_url(url)
    payload = message().model_dump_json()
    # Pre-fill with the same framing FastStream uses for a foreign producer (plain JSON field).
    for start in range(0, count, 1000):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(min(1000, count - start)):
                pipe.xadd("commands.triggers.v1", {"__data__": payload})
            await pipe.execute()
    service = Service(ServiceSettings(redis_url=url, consumer_name="bench"))
    done = asyncio.Event()
    seen = 0

    async def handler(_: Message) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            done.set()

    service.subscribe(catalogue.TRIGGERS, handler, polling_interval_ms=1)
    started = time.perf_counter()
    await service.start()
    await done.wait()
    elapsed = time.perf_counter() - started
    await service.stop()
    await client.aclose()
    return count / elapsed


def raw_throughput(url: str, count: int) -> tuple[float, float]:
    client = redis.Redis.from_url(url)
    payload = message().model_dump_json()
    started = time.perf_counter()
    for _ in range(count):
        client.xadd("raw", {"__data__": payload})
    xadd_rate = count / (time.perf_counter() - started)
    client.xgroup_create("raw", "g", id="0")
    started = time.perf_counter()
    for _ in range(count):
        [(_, entries)] = client.xreadgroup("g", "c", {"raw": ">"}, count=1)
        client.xack("raw", "g", entries[0][0])
    read_rate = count / (time.perf_counter() - started)
    client.close()
    return xadd_rate, read_rate


def idle_rss(url: str, tmp: Path) -> dict[str, float]:
    result = {}
    for module, prefix in [
        ("gateway_bridge", "BRIDGE_"),
        ("planner", "PLANNER_"),
        ("executor", "EXECUTOR_"),
        ("notifier", "NOTIFIER_"),
    ]:
        port = free_port()
        env = {
            **os.environ,
            f"{prefix}REDIS_URL": url,
            f"{prefix}OPS_PORT": str(port),
            f"{prefix}DATA_DIR": str(tmp / module),
            f"{prefix}REPORTS_DIR": str(tmp / module / "reports"),
            f"{prefix}API_PORT": str(free_port()),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(3)  # settle
        status = Path(f"/proc/{process.pid}/status").read_text()
        rss_kb = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
        result[module] = rss_kb / 1024
        process.terminate()
        process.wait(20)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--latency", type=int, default=2_000)
    parser.add_argument("--no-rss", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        try:
            lat = asyncio.run(kit_latency(server.url, args.latency))
            redis.Redis.from_url(server.url).flushall()
            kit_rate = asyncio.run(kit_throughput(server.url, args.messages))
            redis.Redis.from_url(server.url).flushall()
            xadd_rate, read_rate = raw_throughput(server.url, args.messages)
            rss = {} if args.no_rss else idle_rss(server.url, Path(tmp))
        finally:
            server.stop()
    print(f"cpu affinity: {sorted(os.sched_getaffinity(0))}")
    print(
        f"latency publish->handler over {args.latency} messages: "
        f"p50 {statistics.median(lat) * 1000:.2f} ms, p99 {percentile(lat, 99) * 1000:.2f} ms"
    )
    print(f"kit consumer throughput: {kit_rate:,.0f} msg/s ({args.messages} messages)")
    print(
        f"raw redis-py XADD: {xadd_rate:,.0f} msg/s; XREADGROUP+XACK one at a time: {read_rate:,.0f} msg/s"
    )
    print(f"ratio raw read / kit: {read_rate / kit_rate:.2f}x")
    for name, mb in rss.items():
        print(f"idle RSS {name}: {mb:.0f} MB")


if __name__ == "__main__":
    main()
