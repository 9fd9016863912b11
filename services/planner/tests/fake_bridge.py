"""A stand-in for the gateway-bridge's portfolio responder: a real peer over Redis.

It consumes ``rpc.portfolio.v1`` in its own consumer group through the service kit (as the
bridge will) and answers with ``send_reply``. Its state is plain: ``views`` (what to answer
per account, built at request time so quotes are fresh), ``unavailable`` (accounts answered
with PortfolioUnavailable), ``silent`` (accounts never answered) and ``requests`` (every
GetPortfolio received).

``test_service_with_bridge.py`` runs the planner against the real gateway-bridge and the IB
emulator; this stand-in stays for the fast service tests and for answers the real bridge
cannot be made to give on demand (silence, an unreadable reply, stale views).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from shared.contracts import catalogue
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable, PortfolioView
from shared.kit.rpc import reply_key, send_reply
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings

ViewFactory = Callable[[GetPortfolio], PortfolioView]


class FakeBridgeSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "fake-bridge"


class FakeBridge:
    """Answers GetPortfolio requests from its tables."""

    def __init__(self, redis_url: str) -> None:
        self.service = Service(
            FakeBridgeSettings(redis_url=redis_url, consumer_name="fake-bridge-1")
        )
        self.service.subscribe(
            catalogue.PORTFOLIO_RPC, self.on_get_portfolio, polling_interval_ms=10
        )
        self.views: dict[str, ViewFactory] = {}
        self.unavailable: dict[str, str] = {}
        self.silent: set[str] = set()
        self.requests: list[GetPortfolio] = []
        self.raw_replies: dict[str, str] = {}
        """Accounts answered with this raw JSON (e.g. a view holding a NaN price)."""

    async def on_get_portfolio(self, request: GetPortfolio) -> None:
        self.requests.append(request)
        if request.account_id in self.silent:
            return
        if request.account_id in self.raw_replies:
            key = reply_key(request)
            await self.service.redis.rpush(key, self.raw_replies[request.account_id])
            await self.service.redis.expire(key, 60)
            return
        if request.account_id in self.views:
            reply: PortfolioView | PortfolioUnavailable = self.views[request.account_id](request)
        else:
            reply = PortfolioUnavailable(
                source="fake-bridge",
                correlation_id=request.correlation_id,
                account_id=request.account_id,
                code="unknown_account",  # type: ignore[arg-type]
                reason=self.unavailable.get(
                    request.account_id, f"{request.account_id} is not managed by this login"
                ),
            )
        await send_reply(self.service.redis, request, reply)

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()
