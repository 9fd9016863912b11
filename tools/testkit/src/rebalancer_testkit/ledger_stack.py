"""A bridge stand-in that publishes events, the ledger service, and an rpc.ledger.v1 requester."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from ledger.main import create_app
from rebalancer_testkit.ledger_dbs import Database
from rebalancer_testkit.ledger_events import at
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import Message
from shared.contracts.ledger import GetPnl, GetTrades, Trade, TradesPage
from shared.kit.rpc import RpcClient
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings


class BridgeSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "gateway-bridge"


class Stack:
    """A bridge stand-in that publishes events, the ledger, and a requester."""

    def __init__(self, redis_url: str, database: Database, **settings: Any) -> None:
        self.redis_url = redis_url
        self.database = database
        self.settings = settings
        self.bridge = Service(BridgeSettings(redis_url=redis_url, consumer_name="bridge-1"))
        self.ledger: Service | None = None
        self.rpc = RpcClient(self.bridge.redis, self.bridge.publisher)
        # The ledger's clock: half an hour after the events, on their trading day.
        self.clock: Callable[[], datetime] = lambda: at(30)

    def valid_until(self, seconds: float = 10) -> datetime:
        return self.clock() + timedelta(seconds=seconds)

    async def start(self) -> None:
        await self.bridge.start()
        await self.start_ledger()

    async def start_ledger(self, database: Database | None = None, **settings: Any) -> Service:
        db = database or self.database
        self.ledger = create_app(
            db.settings(self.redis_url, **(self.settings | settings)), clock=self.clock
        )
        await self.ledger.start()
        return self.ledger

    async def stop_ledger(self) -> None:
        if self.ledger is not None:
            await self.ledger.stop()
            self.ledger = None

    async def stop(self) -> None:
        await self.stop_ledger()
        await self.rpc.close()
        await self.bridge.stop()

    async def publish(self, *events: Message) -> None:
        for event in events:
            await self.bridge.publish(event)

    async def ask(self, request: Message) -> Message:
        return await self.rpc.request(request, catalogue.LEDGER_REPLIES, timeout_s=5)  # type: ignore[arg-type]

    async def trades(self, **kw: Any) -> TradesPage:
        reply = await self.ask(GetTrades(source="test", valid_until=self.valid_until(), **kw))
        assert isinstance(reply, TradesPage), reply
        return reply

    async def all_trades(self, **kw: Any) -> list[Trade]:
        found: list[Trade] = []
        cursor = None
        while True:
            page = await self.trades(cursor=cursor, **kw)
            found += page.trades
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    async def pnl(self, account_id: str | None = None) -> Message:
        return await self.ask(
            GetPnl(source="test", valid_until=self.valid_until(), account_id=account_id)
        )

    async def trades_once_committed(self, count: int, with_commission: int = 0) -> list[Trade]:
        async def probe() -> list[Trade] | None:
            trades = await self.all_trades(order="oldest_first")
            done = sum(1 for t in trades if t.commission is not None)
            return trades if len(trades) >= count and done >= with_commission else None

        found: list[Trade] = await eventually(
            probe, within=20, what=f"{count} trades in the ledger"
        )
        return found
