"""Benchmark of the gateway-bridge against the IB emulator over TCP and a real Redis.

    uv run python bench/bench_bridge.py                 # quick: latency, 200-order burst, fan-out
    uv run python bench/bench_bridge.py --soak 3600     # plus an hour-long RSS soak

Measures (results go in docs/gateway-bridge.md):
* latency of single orders: SubmitOrder published -> order received by the emulator (placeOrder
  on the wire) and -> OrderAccepted read from events.orders.v1, p50/p99; plus the bridge's
  own part (command received -> placeOrder called, from its histogram);
* 200 orders across 10 accounts at once, against the floor set by the bridge's pacer (45
  msg/s), with the emulator enforcing IB's 50 msg/s limit (error 100 counted);
* price fan-out: PriceUpdated per second with 200 streaming symbols;
* RSS of the process over a soak (no growth expected).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import redis.asyncio as aioredis
from faststream.redis import RedisBroker

from gateway_bridge.main import create_app
from gateway_bridge.settings import GatewayBridgeSettings
from ib_emulator import Emulator
from ib_emulator.scenario import Scenario
from rebalancer_cli.embedded_redis import RedisServer
from shared.contracts.base import Side, utc_now
from shared.contracts.catalogue import stream_of
from shared.contracts.order_commands import SubmitOrder

ACCOUNTS = [f"DU{2000000 + i}" for i in range(10)]
SYMBOLS = [f"S{i:03d}" for i in range(200)]


def scenario(step_seconds: float) -> Scenario:
    """10 accounts holding 20 symbols each: 200 held symbols, prices walking every step."""
    return Scenario.model_validate(
        {
            "accounts": [
                {
                    "id": account,
                    "cash": "1000000",
                    "positions": [
                        {"symbol": s, "quantity": "10", "average_cost": "50"}
                        for s in SYMBOLS[i * 20 : (i + 1) * 20]
                    ],
                }
                for i, account in enumerate(ACCOUNTS)
            ],
            "instruments": [
                {"symbol": s, "con_id": 1000 + n, "primary_exchange": "ARCA"}
                for n, s in enumerate(SYMBOLS)
            ],
            "prices": {
                "model": "random_walk",
                "step_seconds": step_seconds,
                "start": {s: "50" for s in SYMBOLS},
            },
            "fills": {"delay_seconds": 0},
        }
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Bench:
    def __init__(self, emu: Emulator, url: str, service, broker: RedisBroker) -> None:
        self.emu = emu
        self.url = url
        self.service = service
        self.bridge = service.bridge
        self.broker = broker
        self.redis = aioredis.Redis.from_url(url)

    async def send(self, command: SubmitOrder) -> None:
        await self.broker.publish(
            command.model_dump(mode="json"),
            stream=stream_of(command),
            correlation_id=command.message_id,
        )

    def command(self, coid: str, account: str, symbol: str) -> SubmitOrder:
        return SubmitOrder(
            source="bench",
            valid_until=utc_now() + timedelta(minutes=5),
            client_order_id=coid,
            account_id=account,
            symbol=symbol,
            side=Side.BUY,
            quantity=Decimal(1),
        )

    def received_at(self, coid: str) -> float | None:
        for order in reversed(self.emu.broker.orders):
            if order.request.order_ref == coid:
                return order.received_at.timestamp()
        return None

    async def accepted_at(self, coid: str, last_id: bytes) -> tuple[float, bytes]:
        from faststream.redis.parser.binary import BinaryMessageFormatV1

        from shared.contracts import catalogue

        while True:
            answer = await self.redis.xread({"events.orders.v1": last_id}, block=2000)
            now = time.time()
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    body, _ = BinaryMessageFormatV1.parse(fields[b"__data__"])
                    event = catalogue.ORDERS.decode(body)
                    if event.type == "OrderAccepted" and event.client_order_id == coid:
                        return now, last_id

    async def steady(self) -> None:
        """Wait until every held symbol streams (subscriptions are paced after a connect)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(self.bridge.state._tickers) >= len(SYMBOLS):
                return
            await asyncio.sleep(0.1)

    async def latency(self, n: int) -> dict[str, float]:
        wire, accepted = [], []
        await self.bridge.instruments.lookup("S000")  # symbol lookups are cached; warm one
        for i in range(n):
            coid = f"lat{i}.0.0"
            command = self.command(coid, ACCOUNTS[0], "S000")
            last = await self.redis.xrevrange("events.orders.v1", count=1)
            last_id = last[0][0] if last else b"0"
            t0 = time.time()
            await self.send(command)
            t_acc, last_id = await asyncio.wait_for(self.accepted_at(coid, last_id), 30)
            t_wire = self.received_at(coid)
            assert t_wire is not None
            wire.append((t_wire - t0) * 1000)
            accepted.append((t_acc - t0) * 1000)
        own = self.bridge.metrics.submit_seconds
        total = own._sum.get()
        count = sum(b.get() for b in own._buckets)
        return {
            "to_wire_p50_ms": pct(wire, 50),
            "to_wire_p99_ms": pct(wire, 99),
            "to_accepted_p50_ms": pct(accepted, 50),
            "to_accepted_p99_ms": pct(accepted, 99),
            "bridge_own_mean_ms": total / count * 1000 if count else float("nan"),
        }

    async def burst(self, n: int) -> dict[str, float]:
        for symbol in SYMBOLS[:20]:
            await self.bridge.instruments.lookup(symbol)
        self.emu.faults.pacing(True, limit=50, max_violations=3)
        errors_before = self.bridge.metrics.errors.labels("100")._value.get()
        commands = [
            self.command(f"burst{i}.{i}.0", ACCOUNTS[i % 10], SYMBOLS[i % 20]) for i in range(n)
        ]
        await asyncio.sleep(1.1)  # an empty throttle window to start from
        t0 = time.time()
        for command in commands:
            await self.send(command)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            times = [self.received_at(c.client_order_id) for c in commands]
            if all(times):
                break
            await asyncio.sleep(0.01)
        elapsed = max(t for t in times if t) - t0
        # ib_async sends 45 at once, then 45 more each time the oldest leaves the 1 s window.
        floor = (math.ceil(n / 45) - 1) * 1.0
        self.emu.faults.pacing(False)
        return {
            "orders": n,
            "elapsed_s": elapsed,
            "floor_s": floor,
            "over_floor_pct": (elapsed / floor - 1) * 100 if floor else float("nan"),
            "pacing_errors_100": self.bridge.metrics.errors.labels("100")._value.get()
            - errors_before,
            "max_msgs_per_s_sampled": self.bridge.metrics.messages_rate_max._value.get(),
            "at_ib": sum(1 for t in times if t),
        }

    async def fanout(self, seconds: float) -> dict[str, float]:
        feed = self.bridge.state
        await self.steady()
        before = self.bridge.metrics.prices._value.get()
        await asyncio.sleep(seconds)
        published = self.bridge.metrics.prices._value.get() - before
        return {"symbols": len(feed._tickers), "price_updates_per_s": published / seconds}

    async def soak(self, seconds: float) -> dict[str, float]:
        samples = []
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            samples.append(rss_mb())
            await asyncio.sleep(min(10.0, seconds / 10))
        samples.append(rss_mb())
        return {
            "seconds": seconds,
            "rss_start_mb": samples[0],
            "rss_end_mb": samples[-1],
            "rss_max_mb": max(samples),
        }


class EmulatorProcess:
    """The emulator as its own process (so its tick generation does not share our loop)."""

    def __init__(self, work: Path, step: float) -> None:
        import socket
        import subprocess

        import yaml

        path = work / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario(step).model_dump(mode="json")))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            # ib_emulator has no __main__ yet: call its console entry point directly.
            [
                sys.executable,
                "-c",
                "import sys; from ib_emulator.main import run; run(sys.argv[1:])",
                "--admin-port",
                "-1",
                "--port",
                str(self.port),
                "--scenario",
                str(path),
                "--log-level",
                "WARNING",
            ],
        )

    async def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def run_phase(work: Path, emu, port: int, body):
    redis_server = RedisServer(work / "redis").start()
    accounts = work / "accounts.yaml"
    accounts.write_text(
        "accounts:\n" + "".join(f"  - {{id: {a}, approval: auto}}\n" for a in ACCOUNTS)
    )
    settings = GatewayBridgeSettings(
        redis_url=redis_server.url,
        accounts_file=accounts,
        ib_port=port,
        data_dir=work / "bridge",
        read_only=False,
        ops_port=0,
        price_throttle_ms=0,
        max_market_data_lines=len(SYMBOLS),  # 200 streaming symbols (IB sells more lines)
        log_level="WARNING",
        restart_window_start="03:00",
        restart_window_end="03:00",
    )
    service = create_app(settings)
    await service.start()
    broker = RedisBroker(redis_server.url)
    await broker.connect()
    bench = Bench(emu, redis_server.url, service, broker)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if service.bridge.gate.is_open:
                break
            await asyncio.sleep(0.05)
        return await body(bench)
    finally:
        await broker.stop()
        await service.stop()
        redis_server.stop()


def show(name: str, values: dict) -> None:
    print(name, {k: round(v, 2) if isinstance(v, float) else v for k, v in values.items()})


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("ib_async").setLevel(logging.CRITICAL)
    print("when", datetime.now(UTC).isoformat(timespec="seconds"))
    # Phase 1: orders, prices quiet (one tick a second), emulator in-process to read its book.
    work = Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    emu = Emulator(scenario(1.0), admin_port=None)
    await emu.start()
    try:

        async def orders(bench: Bench) -> None:
            await bench.steady()
            show("latency", await bench.latency(args.latency_orders))
            show("burst", await bench.burst(200))

        await run_phase(work / "orders", emu, emu.port, orders)
    finally:
        await emu.stop()
    # Phase 2: price fan-out and soak, the emulator ticking every --price-step in its own process.
    process = EmulatorProcess(work, args.price_step)
    try:
        await asyncio.sleep(1.0)

        async def prices(bench: Bench) -> None:
            show("fanout", await bench.fanout(args.fanout_seconds))
            seconds = args.soak or args.short_soak
            if seconds:
                show("soak", await bench.soak(seconds))

        await run_phase(work / "prices", None, process.port, prices)
    finally:
        await process.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-orders", type=int, default=100)
    parser.add_argument("--fanout-seconds", type=float, default=10.0)
    parser.add_argument("--price-step", type=float, default=0.02, help="emulator tick interval")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds (e.g. 3600)")
    parser.add_argument("--short-soak", type=float, default=20.0)
    sys.exit(asyncio.run(main(parser.parse_args())))
