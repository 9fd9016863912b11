"""The executor's doors to the outside: the bridge's portfolio RPC, stream history, the
read model the CLI looks at, and a small SQLite of decisions that are on no stream."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis

from shared.contracts import catalogue
from shared.contracts.base import Message, utc_now
from shared.contracts.catalogue import StreamSpec
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable, PortfolioView
from shared.kit.broker import Publisher
from shared.kit.consumer import MalformedMessage, decode_entry, entry_body
from shared.kit.rpc import RpcClient, RpcTimeout

READ_MODEL_KEY = "executor:plans"
"""Redis hash: plan_id -> JSON summary of the plan as the executor sees it (for the CLI)."""
HALT_KEY = "executor:halted"
"""Redis string: the halt reason while HaltTrading is in force (for the CLI)."""


class PortfolioError(RuntimeError):
    """No portfolio view could be had; the message says why."""


class PortfolioReader(Protocol):
    """Asks the bridge for a fresh view of one account."""

    async def view(self, account_id: str, symbols: tuple[str, ...]) -> PortfolioView:
        """Return the view, or raise PortfolioError."""
        ...


class RpcPortfolioReader:
    """GetPortfolio over ``rpc.portfolio.v1``."""

    def __init__(
        self, client: aioredis.Redis, publisher: Publisher, timeout_s: float, source: str
    ) -> None:
        self._rpc = RpcClient(client, publisher)
        self._timeout_s = timeout_s
        self._source = source

    async def view(self, account_id: str, symbols: tuple[str, ...]) -> PortfolioView:
        request = GetPortfolio(
            source=self._source,
            account_id=account_id,
            symbols=symbols,
            valid_until=utc_now() + timedelta(seconds=self._timeout_s),
        )
        try:
            reply = await self._rpc.request(request, catalogue.PORTFOLIO_REPLIES, self._timeout_s)
        except RpcTimeout as error:
            raise PortfolioError(str(error)) from None
        if isinstance(reply, PortfolioUnavailable):
            raise PortfolioError(f"{reply.code}: {reply.reason}")
        if not isinstance(reply, PortfolioView):
            raise PortfolioError(f"unexpected reply {type(reply).__name__}")
        return reply


async def history(client: aioredis.Redis, spec: StreamSpec) -> AsyncIterator[Message]:
    """Yield every readable message of a stream, oldest first (XRANGE in pages)."""
    cursor = "-"
    while True:
        entries: Any = await client.xrange(spec.name, min=cursor, max="+", count=1000)
        if not entries:
            return
        for _entry_id, fields in entries:
            try:
                body, _ = entry_body(fields)
                yield decode_entry(spec, body)
            except (MalformedMessage, ValueError):
                continue
        last = entries[-1][0]
        last = last.decode() if isinstance(last, bytes) else last
        cursor = "(" + last
        if len(entries) < 1000:
            return


async def last_message(client: aioredis.Redis, spec: StreamSpec) -> Message | None:
    """The newest readable message of a stream, or None."""
    entries: Any = await client.xrevrange(spec.name, count=20)
    for _, fields in entries or []:
        try:
            body, _ = entry_body(fields)
            return decode_entry(spec, body)
        except (MalformedMessage, ValueError):
            continue
    return None


class ReadModel:
    """What the CLI reads: one JSON row per plan and the halt flag."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def put(self, plan_id: str, row: dict[str, Any]) -> None:
        await self._client.hset(READ_MODEL_KEY, plan_id, json.dumps(row, default=str))

    async def set_halt(self, reason: str | None) -> None:
        if reason is None:
            await self._client.delete(HALT_KEY)
        else:
            await self._client.set(HALT_KEY, reason)


class DecisionStore:
    """SQLite (WAL, synchronous FULL) of decisions that publish nothing: dry-run reports."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "executor.sqlite3", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS reported (plan_id TEXT PRIMARY KEY, ts TEXT NOT NULL)"
        )

    def reported(self, plan_id: str) -> bool:
        """Whether the dry-run report of ``plan_id`` was written already."""
        row = self._db.execute("SELECT 1 FROM reported WHERE plan_id = ?", (plan_id,)).fetchone()
        return row is not None

    def mark_reported(self, plan_id: str) -> None:
        """Remember that ``plan_id`` was reported (dry run)."""
        self._db.execute(
            "INSERT OR IGNORE INTO reported (plan_id, ts) VALUES (?, ?)",
            (plan_id, utc_now().isoformat()),
        )

    def close(self) -> None:
        self._db.close()
