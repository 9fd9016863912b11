"""``rebalancer pnl`` and ``rebalancer trades``: the ledger's answers as tables or CSV.

Both ask the ledger over ``rpc.ledger.v1`` (``shared.kit.ledger.LedgerClient``), as the HTTP
API does. CSV columns match the run reports' (``rebalance_post_*.csv``) where they overlap, and
every number is plain (``1234.50``, never a thousands separator).
"""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from prometheus_client import CollectorRegistry

from rebalancer_cli.bus import Bus
from rebalancer_cli.console import make_console
from rebalancer_cli.ledger_views import (
    PNL_COLUMNS,
    TRADE_COLUMNS,
    pnl_csv_rows,
    pnl_tables,
    trade_csv_row,
    trades_table,
)
from rebalancer_cli.stackconfig import resolve_redis_url
from shared.contracts.ledger import MAX_PAGE, PnlView, Trade
from shared.kit.broker import Publisher
from shared.kit.ledger import LedgerClient, LedgerUnavailableError, parse_time
from shared.kit.metrics import KitMetrics

HomeOption = Annotated[Path | None, typer.Option("--home", help="Folder of the stack.")]
RedisOption = Annotated[
    str | None,
    typer.Option(help="Redis of the stack (default: from <home>/stack.json, else port 6390)."),
]
CsvOption = Annotated[bool, typer.Option("--csv", help="Write CSV to stdout instead of a table.")]
TimeoutOption = Annotated[float, typer.Option(help="Seconds to wait for the ledger.")]
T = TypeVar("T")


def pnl_command(
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="One account (default: all).")
    ] = None,
    as_csv: CsvOption = False,
    redis_url: RedisOption = None,
    home: HomeOption = None,
    timeout: TimeoutOption = 10.0,
) -> None:
    """PnL per position and per account: unrealized, realized, daily, total (from the ledger)."""

    async def ask(client: LedgerClient) -> PnlView:
        return await client.pnl(account)

    view = _run("pnl", resolve_redis_url(redis_url, home), timeout, ask)
    if as_csv:
        _write_csv(PNL_COLUMNS, pnl_csv_rows(view))
        return
    console = make_console()
    if not view.accounts:
        console.print("The ledger has no trade, position or account values yet.")
    for table in pnl_tables(view):
        console.print(table)


def trades_command(
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="One account (default: all).")
    ] = None,
    symbol: Annotated[str | None, typer.Option("--symbol", "-s", help="One symbol.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Executed at or after: 2026-12-01 or 2026-12-01T14:30Z.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Executed strictly before.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many trades (0: all).")] = 50,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="Oldest first (default: newest first).")
    ] = False,
    as_csv: CsvOption = False,
    redis_url: RedisOption = None,
    home: HomeOption = None,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Trade history from the ledger, every execution whoever placed it (external marked)."""
    err = make_console(stderr=True)
    try:
        start, end = parse_time("--since", since), parse_time("--until", until)
    except ValueError as error:
        err.print(f"[red]rebalancer trades:[/] {error}")
        raise typer.Exit(2) from None
    if limit < 0:
        err.print("[red]rebalancer trades:[/] --limit must be 0 (all) or more")
        raise typer.Exit(2)

    async def ask(client: LedgerClient) -> list[Trade]:
        found: list[Trade] = []
        cursor = None
        while True:
            want = MAX_PAGE if limit == 0 else min(MAX_PAGE, limit - len(found))
            page = await client.trades(
                account_id=account,
                symbol=symbol,
                since=start,
                until=end,
                cursor=cursor,
                limit=want,
                order="oldest_first" if oldest_first else "newest_first",
            )
            found += page.trades
            cursor = page.next_cursor
            if cursor is None or (limit and len(found) >= limit):
                return found

    trades = _run("trades", resolve_redis_url(redis_url, home), timeout, ask)
    if as_csv:
        _write_csv(TRADE_COLUMNS, [trade_csv_row(t) for t in trades])
        return
    console = make_console()
    if not trades:
        console.print("No trades match.")
        return
    console.print(trades_table(trades))


def _run(
    command: str,
    url: str,
    timeout_s: float,
    ask: Callable[[LedgerClient], Coroutine[Any, Any, T]],
) -> T:
    async def main() -> T:
        async with Bus(url) as bus:
            publisher = Publisher(bus.broker, KitMetrics(CollectorRegistry()))
            client = LedgerClient(bus.client, publisher, source="cli", timeout_s=timeout_s)
            try:
                return await ask(client)
            finally:
                await client.close()

    err = make_console(stderr=True)
    try:
        return asyncio.run(main())
    except LedgerUnavailableError as error:
        where = f"{error.field}: " if error.field else ""
        err.print(f"[red]rebalancer {command}:[/] {where}{error.message}")
        raise typer.Exit(2 if error.code == "invalid_request" else 1) from None
    except (OSError, ConnectionError) as error:
        err.print(
            f"[red]rebalancer {command}:[/] cannot reach the stack's Redis ({error}); "
            "is `rebalancer up` running?"
        )
        raise typer.Exit(1) from None


def _write_csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
