"""One client of the ledger's RPC (``rpc.ledger.v1``): trades (paged) and PnL, with one error.

The notifier's HTTP API and the CLI ask the ledger the same way. Whatever keeps the answer from
them (no answer in time, the ledger's own ``LedgerQueryRefused``) raises
:class:`LedgerUnavailableError` with a ``code`` (the ledger's ``invalid_request``,
``unknown_account``, ``expired``, ``error``, or ``timeout``), the ledger's sentence and the field
it names; each caller words it for its own audience (HTTP 400/404/503/504, CLI exit codes).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import redis.asyncio as aioredis

from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.ledger import (
    GetPnl,
    GetTrades,
    LedgerQueryRefused,
    PnlView,
    TradeOrder,
    TradesPage,
)
from shared.kit.broker import Publisher
from shared.kit.rpc import RpcClient, RpcTimeout


class LedgerUnavailableError(Exception):
    """The ledger did not answer, or refused; ``code``, ``message`` and ``field`` say why."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def parse_time(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date (midnight UTC) or time (UTC when it has no offset) given for ``name``;
    None for none; ValueError with a sentence naming ``name`` and an example otherwise."""
    if not text:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{name}: {text!r} is not a date or time; give e.g. 2026-12-01 or 2026-12-01T14:30:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class LedgerClient:
    """Ask the ledger for trades and PnL."""

    def __init__(
        self, client: aioredis.Redis, publisher: Publisher, *, source: str, timeout_s: float
    ) -> None:
        self._rpc = RpcClient(client, publisher)
        self._source = source
        self.timeout_s = timeout_s

    async def trades(
        self,
        *,
        account_id: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
        order: TradeOrder = "newest_first",
    ) -> TradesPage:
        """One page of trades (``next_cursor`` on it for the next), or raise."""
        request = GetTrades(
            source=self._source,
            valid_until=self._valid_until(self.timeout_s),
            account_id=account_id,
            symbol=symbol,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
            order=order,
        )
        reply = await self._ask(request, self.timeout_s)
        if not isinstance(reply, TradesPage):
            raise _unexpected(reply)
        return reply

    async def pnl(
        self, account_id: str | None = None, *, timeout_s: float | None = None
    ) -> PnlView:
        """PnL of one account (every account the ledger knows when None), or raise;
        ``timeout_s`` instead of the client's for a caller that cannot wait as long."""
        wait = self.timeout_s if timeout_s is None else timeout_s
        request = GetPnl(
            source=self._source, valid_until=self._valid_until(wait), account_id=account_id
        )
        reply = await self._ask(request, wait)
        if not isinstance(reply, PnlView):
            raise _unexpected(reply)
        return reply

    async def close(self) -> None:
        """Release the RPC client's resources."""
        await self._rpc.close()

    @staticmethod
    def _valid_until(seconds: float) -> datetime:
        return utc_now() + timedelta(seconds=seconds)

    async def _ask(self, request: GetTrades | GetPnl, timeout_s: float) -> object:
        try:
            reply = await self._rpc.request(request, catalogue.LEDGER_REPLIES, timeout_s)
        except RpcTimeout:
            raise LedgerUnavailableError(
                "timeout",
                f"the ledger did not answer within {timeout_s:g} s; is it running? "
                "(`rebalancer status`, or its /health on port 9105)",
            ) from None
        if isinstance(reply, LedgerQueryRefused):
            raise LedgerUnavailableError(reply.code, reply.reason, reply.field)
        return reply


def _unexpected(reply: object) -> LedgerUnavailableError:
    return LedgerUnavailableError(
        "error", f"the ledger answered with {type(reply).__name__}, not what was asked"
    )
