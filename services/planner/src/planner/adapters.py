"""The planner's one outside dependency: the bridge's portfolio view, behind a Protocol."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis
from pydantic import ValidationError
from shared.contracts import catalogue
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable, PortfolioView
from shared.kit.broker import Publisher
from shared.kit.rpc import RpcClient, RpcTimeout


class PortfolioNotAnswered(Exception):
    """The bridge did not answer in time, or answered something unreadable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PortfolioSource(Protocol):
    """Where the planner gets an account's positions, cash and quotes."""

    async def get_portfolio(
        self, account_id: str, symbols: tuple[str, ...], correlation_id: str | None, now: datetime
    ) -> PortfolioView | PortfolioUnavailable:
        """Return the account's view (or why there is none); raise PortfolioNotAnswered."""
        ...


class RpcPortfolioSource:
    """Ask the gateway-bridge over ``rpc.portfolio.v1`` (request on the stream, reply on a list)."""

    def __init__(self, client: aioredis.Redis, publisher: Publisher, timeout_s: float) -> None:
        self._rpc = RpcClient(client, publisher)
        self._timeout_s = timeout_s

    async def get_portfolio(
        self, account_id: str, symbols: tuple[str, ...], correlation_id: str | None, now: datetime
    ) -> PortfolioView | PortfolioUnavailable:
        request = GetPortfolio(
            source="planner",
            correlation_id=correlation_id,
            account_id=account_id,
            symbols=symbols,
            valid_until=now + timedelta(seconds=self._timeout_s),
        )
        try:
            reply = await self._rpc.request(request, catalogue.PORTFOLIO_REPLIES, self._timeout_s)
        except RpcTimeout:
            raise PortfolioNotAnswered(
                "portfolio_unavailable",
                f"The gateway-bridge did not answer within {self._timeout_s:g} s with the "
                f"portfolio of {account_id}; check that it is running and connected "
                "(`rebalancer status`), then send the allocation again.",
            ) from None
        except ValidationError as error:
            raise PortfolioNotAnswered(
                "portfolio_invalid",
                f"The gateway-bridge answered with a portfolio of {account_id} that cannot be "
                f"read ({error.error_count()} invalid fields, e.g. a NaN price); nothing was "
                "planned. Check the bridge's logs.",
            ) from None
        if not isinstance(reply, PortfolioView | PortfolioUnavailable):
            raise PortfolioNotAnswered(
                "portfolio_invalid",
                f"The gateway-bridge answered with {type(reply).__name__}, not a portfolio.",
            )
        return reply
