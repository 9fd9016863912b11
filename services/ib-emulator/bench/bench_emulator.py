"""Benchmark the emulator: connect-and-sync time, request throughput, order round trip.

The emulator runs as its own process (the real console script) so it gets a core of its
own; the measuring clients run here.

    uv run python services/ib-emulator/bench/bench_emulator.py [--orders 300] [--messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import socket
import statistics
import sys
import time
from pathlib import Path

from ib_async import IB, MarketOrder, Stock

from ib_emulator.wire import FrameDecoder, encode_fields, frame


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_emulator(port: int) -> asyncio.subprocess.Process:
    exe = shutil.which("ib-emulator") or str(Path(sys.executable).parent / "ib-emulator")
    proc = await asyncio.create_subprocess_exec(
        exe, "--port", str(port), "--admin-port", "-1", "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    await proc.stdout.readline()
    return proc


async def bench_connect(port: int, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        ib = IB()
        t0 = time.perf_counter()
        await ib.connectAsync("127.0.0.1", port, clientId=100 + i, timeout=10)
        times.append(time.perf_counter() - t0)
        ib.disconnect()
        await asyncio.sleep(0.02)
    return times


async def bench_throughput(port: int, n: int, msg: list[object], reply_id: str) -> float:
    """Pipeline n requests on a raw socket; messages/s until every reply arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"API\0" + frame(b"v157..178") + encode_fields([71, 2, 900, ""]))
    dec = FrameDecoder(expect_handshake=False)
    seen = 0
    while seen < 2:  # server version frame + nextValidId
        for m in dec.feed(await reader.read(65536)):
            seen += m[0] in ("176", "9")
    payload = encode_fields(msg)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    got = 0

    async def send() -> None:
        for i in range(0, n, 500):
            writer.write(payload * min(500, n - i))
            await writer.drain()

    sender = asyncio.create_task(send())
    while got < n:
        for m in dec.feed(await reader.read(1 << 20)):
            got += m[0] == reply_id
    elapsed = time.perf_counter() - t0
    await sender
    writer.close()
    return n / elapsed


async def bench_orders(port: int, n: int) -> list[float]:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=10)
    ib.client.MaxRequests = 0  # measure the emulator, not ib_async's throttle
    [spy] = await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD"))
    times = []
    for i in range(n):
        done = asyncio.Event()
        order = MarketOrder("BUY" if i % 2 == 0 else "SELL", 1, account="DU1000001")
        t0 = time.perf_counter()
        trade = ib.placeOrder(spy, order)
        trade.filledEvent += lambda _t, ev=done: ev.set()
        await asyncio.wait_for(done.wait(), 5)
        times.append(time.perf_counter() - t0)
    ib.disconnect()
    return times


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--connects", type=int, default=10)
    args = ap.parse_args()
    port = free_port()
    proc = await start_emulator(port)
    try:
        connects = await bench_connect(port, args.connects)
        time_rate = await bench_throughput(port, args.messages, [49, 1], "49")
        cd_rate = await bench_throughput(
            port, args.messages // 4,
            [9, 8, 7, 0, "SPY", "STK", "", "", "", "", "SMART", "", "USD", "", "", 0, "", "", ""],
            "52",
        )  # fmt: skip
        orders = await bench_orders(port, args.orders)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    median_ms = statistics.median(connects) * 1000
    print(f"connect+sync ({args.connects} runs): median {median_ms:.1f} ms, "
          f"max {max(connects) * 1000:.1f} ms")  # fmt: skip
    print(f"throughput reqCurrentTime: {time_rate:,.0f} msg/s")
    print(f"throughput reqContractDetails: {cd_rate:,.0f} msg/s")
    print(f"order round trip ({args.orders} MKT orders, placeOrder -> Filled): "
          f"p50 {pct(orders, 50) * 1000:.2f} ms, p99 {pct(orders, 99) * 1000:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
