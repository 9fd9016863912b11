"""Benchmark of the ledger's store and PnL over a large history (no Redis: the store itself).

    uv run python bench/bench_ledger.py                  # 50,000 trades, SQLite
    uv run python bench/bench_ledger.py --trades 200000 --postgres postgresql://...

Measures (results go in docs/ledger.md):
* recording: fill + commission upserts per second (each its own durable transaction);
* GetTrades pages: first page and a deep page of 100, one account;
* PnL of every account (what the gauges recompute every LEDGER_METRICS_INTERVAL_S): it reads
  every trade's realized PnL, so it grows with the history.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from ledger.core.query import TradesQuery
from ledger.core.trades import CommissionPart, FillPart
from ledger.handlers import Ledger
from ledger.metrics import LedgerMetrics
from ledger.store.base import SqlLedgerStore
from ledger.store.postgres import PostgresLedgerStore
from ledger.store.sqlite import SqliteLedgerStore
from shared.contracts.base import Message, Side

T0 = datetime(2026, 1, 2, 15, tzinfo=UTC)
ACCOUNTS = [f"DU{n:07}" for n in range(10)]
SYMBOLS = ["SPY", "QQQ", "AGG", "BND", "VTI", "VXUS", "GLD", "TLT", "IEF", "VNQ"]


async def fill_store(store: SqlLedgerStore, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        exec_id = f"{n:08x}.bench.01.01"
        await store.record_fill(
            FillPart(
                exec_id=exec_id,
                exec_base=exec_id.rpartition(".")[0],
                exec_revision=1,
                account_id=ACCOUNTS[n % len(ACCOUNTS)],
                symbol=SYMBOLS[(n // len(ACCOUNTS)) % len(SYMBOLS)],
                side=Side.BUY if n % 3 else Side.SELL,
                quantity=Decimal(n % 50 + 1),
                price=Decimal("100.25") + Decimal(n % 100) / 100,
                executed_at=T0 + timedelta(seconds=30 * n),
                client_order_id=f"plan{n // 10}.{n % 10}.0",
                plan_id=f"plan{n // 10}",
                leg=n % 10,
                ib_order_id=n,
                perm_id=100_000 + n,
                external=False,
                correlation_id=None,
                recorded_at=T0,
            )
        )
        await store.record_commission(
            CommissionPart(
                exec_id=exec_id,
                account_id=ACCOUNTS[n % len(ACCOUNTS)],
                symbol=None,
                commission=Decimal("1.00"),
                currency="USD",
                realized_pnl=Decimal("3.21") if n % 3 == 0 else None,
                recorded_at=T0,
            )
        )
    return time.perf_counter() - started


async def timed(label: str, job, repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await job()
        best = min(best, time.perf_counter() - started)
    print(f"  {label}: {best * 1000:.1f} ms (best of {repeat})")


async def bench(store: SqlLedgerStore, count: int) -> None:
    await store.open()
    seconds = await fill_store(store, count)
    print(
        f"{store.backend}: {count} trades recorded in {seconds:.1f} s "
        f"({2 * count / seconds:,.0f} upserts/s, fill + commission each)"
    )

    async def noop(request: Message, reply: Message) -> None:
        return None

    end = T0 + timedelta(seconds=30 * count)
    ledger = Ledger(
        store, LedgerMetrics(CollectorRegistry()), noop, ZoneInfo("America/New_York"), lambda: end
    )
    query = TradesQuery(ACCOUNTS[0], None, None, None, "newest_first", 100)
    await timed("GetTrades first page (100, one account)", lambda: store.trades(query, 101))
    deep = TradesQuery(
        ACCOUNTS[0], None, None, T0 + timedelta(seconds=15 * count), "newest_first", 100
    )
    await timed("GetTrades page in the middle of the history", lambda: store.trades(deep, 101))
    await timed("PnL of every account (the gauges' refresh)", lambda: ledger.pnl_view(None))
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--postgres", default="", help="also run on this (empty) PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(SqliteLedgerStore(Path(tmp) / "ledger.sqlite3"), args.trades))
    if args.postgres:
        asyncio.run(bench(PostgresLedgerStore(args.postgres), args.trades))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
