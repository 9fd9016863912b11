"""The bridge tests' helpers: read our streams from a real Redis, poll with a deadline, build
commands and accounts files."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis
import yaml
from faststream.redis.parser.binary import BinaryMessageFormatV1

from shared.contracts import catalogue
from shared.contracts.base import Message, Side, utc_now
from shared.contracts.catalogue import StreamSpec
from shared.contracts.order_commands import OrderType, SubmitOrder

ACCOUNT = "DU1000001"
OTHER_ACCOUNT = "DU1000002"
_plans = itertools.count(1)


async def eventually(
    condition: Callable[[], Any], within: float = 10.0, message: str = "condition"
) -> Any:
    """Poll ``condition`` until truthy; fail with ``message`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {message}")
        await asyncio.sleep(0.02)


def read_stream(url: str, spec: StreamSpec) -> list[Message]:
    """Every message on a stream, oldest first (FastStream's binary envelope unwrapped)."""
    client = redis.Redis.from_url(url)
    try:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(spec.name)  # type: ignore[assignment]
    finally:
        client.close()
    out = []
    for _entry_id, fields in entries:
        body, _headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
        out.append(spec.decode(body))
    return out


def order_events(url: str, client_order_id: str | None = None) -> list[Message]:
    """Order events (of one client_order_id when given)."""
    events = read_stream(url, catalogue.ORDERS)
    if client_order_id is None:
        return events
    return [e for e in events if getattr(e, "client_order_id", None) == client_order_id]


def types_of(events: list[Message]) -> list[str]:
    """The ``type`` of each event."""
    return [e.type for e in events]  # type: ignore[attr-defined]


def new_plan() -> str:
    """A fresh plan id."""
    return f"plan{next(_plans)}x{int(time.time() * 1000) % 100000}"


def submit(
    client_order_id: str,
    *,
    symbol: str = "SPY",
    quantity: str | int = 10,
    side: Side = Side.BUY,
    account: str = ACCOUNT,
    order_type: OrderType = OrderType.MARKET,
    limit_price: str | None = None,
    valid_for_s: float = 60,
    **extra: Any,
) -> SubmitOrder:
    """A SubmitOrder command."""
    return SubmitOrder(
        source="test",
        valid_until=utc_now() + timedelta(seconds=valid_for_s),
        client_order_id=client_order_id,
        plan_id=client_order_id.split(".")[0],
        account_id=account,
        symbol=symbol,
        side=side,
        quantity=Decimal(str(quantity)),
        order_type=order_type,
        limit_price=Decimal(limit_price) if limit_price else None,
        **extra,
    )


def emulator_orders(emulator: Any, order_ref: str) -> list[dict[str, Any]]:
    """The emulator's orders (refusals included) with this orderRef."""
    return [o for o in emulator.orders() if o["order_ref"] == order_ref]


async def get_portfolio(
    url: str, account: str, symbols: tuple[str, ...] = (), timeout_s: float = 10.0
) -> Message:
    """Ask the bridge for a PortfolioView over rpc.portfolio.v1, as the planner does."""
    import redis.asyncio as aioredis
    from faststream.redis import RedisBroker

    from shared.contracts.portfolio import GetPortfolio
    from shared.kit.broker import Publisher
    from shared.kit.metrics import KitMetrics
    from shared.kit.rpc import RpcClient

    broker = RedisBroker(url)
    await broker.connect()
    client = aioredis.Redis.from_url(url)
    try:
        request = GetPortfolio(
            source="test",
            valid_until=utc_now() + timedelta(seconds=30),
            account_id=account,
            symbols=symbols,
        )
        return await RpcClient(client, Publisher(broker, KitMetrics())).request(
            request, catalogue.PORTFOLIO_REPLIES, timeout_s
        )
    finally:
        await client.aclose()
        await broker.stop()


def emulator_positions(emulator: Any, account: str) -> dict[str, Decimal]:
    """The emulator's positions of an account: symbol -> quantity."""
    state = emulator.state()
    for acct in state["accounts"]:
        if acct["id"] == account:
            return {p["symbol"]: Decimal(p["quantity"]) for p in acct["positions"]}
    raise KeyError(account)


def fills_by_exec(url: str, client_order_id: str) -> dict[str, int]:
    """How many times each exec_id of an order was published."""
    counts: dict[str, int] = {}
    for event in order_events(url, client_order_id):
        if event.type == "OrderFilled":  # type: ignore[attr-defined]
            exec_id = event.exec_id  # type: ignore[attr-defined]
            counts[exec_id] = counts.get(exec_id, 0) + 1
    return counts


def emulator_exec_ids(emulator: Any, order_ref: str) -> set[str]:
    """Exec ids the emulator booked for an orderRef."""
    ids = set()
    for order in emulator_orders(emulator, order_ref):
        for fill in order.get("fills", []):
            ids.add(fill["exec_id"])
    return ids


TRADABLE = {"DU1000001": "auto", "DU1000002": "manual", "DU9999999": "auto"}
"""The tests' accounts file: the emulator's two accounts, and one IB does not serve."""


def write_accounts_file(path: Path, approvals: dict[str, str] | None = None) -> Path:
    """Write an accounts file giving each account its approval mode."""
    approvals = TRADABLE if approvals is None else approvals
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump({"accounts": [{"id": a, "approval": m} for a, m in approvals.items()]})
    )
    return path
