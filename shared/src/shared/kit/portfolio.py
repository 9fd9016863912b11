"""One client of the bridge's portfolio RPC (``rpc.portfolio.v1``), with one error.

The planner, the executor and the notifier's HTTP API all ask the gateway-bridge for an
account's view the same way. Whatever keeps the view from them (no answer in time, an
unreadable answer, the bridge's own PortfolioUnavailable) raises
:class:`PortfolioUnavailableError` carrying a :class:`~shared.contracts.base.Reason`:
``code`` is the bridge's (``unknown_account``, ``gateway_disconnected``, ``not_reconciled``,
``expired``, ``error``) or ``timeout`` (no answer: is the bridge running?) /
``redis_unavailable`` (the request or its wait could not reach Redis) / ``invalid_reply``; each caller words it for its own
audience.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import redis.asyncio as aioredis
from pydantic import ValidationError

from shared.contracts import catalogue
from shared.contracts.base import Reason, utc_now
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable, PortfolioView
from shared.kit.broker import Publisher
from shared.kit.rpc import RpcClient, RpcTimeout


class PortfolioUnavailableError(Exception):
    """No view of the account could be had; ``reason`` says why (see the module)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.message)
        self.reason = reason

    @property
    def code(self) -> str:
        return self.reason.code


class PortfolioClient:
    """Ask the gateway-bridge for a fresh view of one account."""

    def __init__(
        self,
        client: aioredis.Redis,
        publisher: Publisher,
        *,
        source: str,
        timeout_s: float,
        route: Callable[[str], str] | None = None,
    ) -> None:
        self._rpc = RpcClient(client, publisher)
        self._source = source
        self.timeout_s = timeout_s
        self._route = route
        """account id -> the request stream of the bridge of its login (``Topology``); None:
        every request on ``rpc.portfolio.v1`` (one login)."""

    async def get(
        self, account_id: str, symbols: tuple[str, ...] = (), correlation_id: str | None = None
    ) -> PortfolioView:
        """Return the account's view, or raise PortfolioUnavailableError."""
        request = GetPortfolio(
            source=self._source,
            correlation_id=correlation_id,
            account_id=account_id,
            symbols=symbols,
            valid_until=utc_now() + timedelta(seconds=self.timeout_s),
        )
        try:
            stream = self._route(account_id) if self._route else None
            reply = await self._rpc.request(
                request, catalogue.PORTFOLIO_REPLIES, self.timeout_s, stream=stream
            )
        except RpcTimeout as error:
            code = "redis_unavailable" if error.redis_unavailable else "timeout"
            raise PortfolioUnavailableError(Reason(code=code, message=str(error))) from None
        except ValidationError as error:
            raise PortfolioUnavailableError(
                Reason(
                    code="invalid_reply",
                    message=f"the bridge's answer for {account_id} cannot be read "
                    f"({error.error_count()} invalid fields, e.g. a NaN price)",
                )
            ) from None
        if isinstance(reply, PortfolioUnavailable):
            raise PortfolioUnavailableError(Reason(code=reply.code, message=reply.reason.strip()))
        if not isinstance(reply, PortfolioView):
            message = f"the bridge answered with {type(reply).__name__}, not a portfolio"
            raise PortfolioUnavailableError(Reason(code="invalid_reply", message=message))
        if reply.account_id != account_id:
            raise PortfolioUnavailableError(
                Reason(
                    code="invalid_reply",
                    message=f"the bridge answered for account {reply.account_id} instead of "
                    f"{account_id}",
                )
            )
        return reply

    async def close(self) -> None:
        """Close the RPC waits' connections."""
        await self._rpc.close()
