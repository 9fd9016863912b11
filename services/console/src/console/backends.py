"""The console's peers: the notifier's HTTP API (with the token) and the ledger's RPC."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.ledger import GetPnl, GetTrades, LedgerQueryRefused, PnlView, TradesPage
from shared.kit.rpc import RpcClient, RpcTimeout

Json = dict[str, Any]


class BackendError(Exception):
    """A peer said no or did not answer; ``message`` is a sentence for the page."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class NotifierApi:
    """The notifier's ``/api/v1``, called with the bearer token (never by the browser)."""

    def __init__(self, base_url: str, token: SecretStr | None, timeout_s: float) -> None:
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout_s
        )

    async def call(
        self,
        method: str,
        path: str,
        params: Any = None,
        body: Any = None,
        timeout_s: float | None = None,
    ) -> tuple[int, Json]:
        """One call; return (status, JSON) for 2xx, raise BackendError otherwise."""
        extra: dict[str, Any] = {} if timeout_s is None else {"timeout": timeout_s}
        try:
            response = await self._http.request(method, path, params=params, json=body, **extra)
        except httpx.HTTPError as error:
            raise BackendError(
                503,
                "api_unreachable",
                f"the notifier's API did not answer ({type(error).__name__}); is the notifier "
                "running, and is CONSOLE_API_URL right?",
            ) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            raise BackendError(
                response.status_code,
                str(data.get("error", "api_error")),
                str(data.get("message", f"the API answered {response.status_code}")),
            )
        return response.status_code, data

    async def plans(
        self, account: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Json]:
        params = {
            k: v for k, v in {"account": account, "status": status, "limit": limit}.items() if v
        }
        _, data = await self.call("GET", "/plans", params=params)
        return list(data.get("plans", []))

    async def plan(self, plan_id: str) -> Json:
        return (await self.call("GET", f"/plans/{plan_id}"))[1]

    async def positions(self, account: str) -> Json:
        return (await self.call("GET", "/positions", params={"account": account}))[1]

    async def rebalance(
        self,
        accounts: list[str],
        group: str | None,
        targets: list[dict[str, str]] | None,
        *,
        execute: bool,
    ) -> Json:
        """Ask for plans and wait (bounded) for them: the notifier's ``wait=true``."""
        params: list[tuple[str, str]] = [
            ("execute", "true" if execute else "false"),
            ("wait", "true"),
            ("timeout_s", "20"),
        ]
        params += [("group", group)] if group else [("account", a) for a in accounts]
        return (await self.call("POST", "/rebalance", params=params, body=targets, timeout_s=30))[1]

    async def approve(self, plan_id: str) -> Json:
        return (await self.call("POST", f"/plans/{plan_id}/approve"))[1]

    async def cancel(self, plan_id: str) -> Json:
        return (await self.call("POST", f"/plans/{plan_id}/cancel"))[1]

    async def halt(self, reason: str) -> Json:
        return (await self.call("POST", "/halt", params={"reason": reason}))[1]

    async def resume(self) -> Json:
        return (await self.call("POST", "/resume"))[1]

    async def close(self) -> None:
        await self._http.aclose()


class Ledger:
    """Trades and PnL over ``rpc.ledger.v1``."""

    def __init__(self, rpc: RpcClient, timeout_s: float) -> None:
        self._rpc = rpc
        self._timeout_s = timeout_s

    def _valid_until(self) -> datetime:
        now: datetime = utc_now()
        return now + timedelta(seconds=self._timeout_s)

    async def _ask(self, request: GetTrades | GetPnl) -> Any:
        try:
            reply = await self._rpc.request(request, catalogue.LEDGER_REPLIES, self._timeout_s)
        except RpcTimeout as error:
            raise BackendError(
                504, "ledger_timeout", f"the ledger did not answer: {error}"
            ) from None
        if isinstance(reply, LedgerQueryRefused):
            raise BackendError(400, reply.code, reply.reason)
        return reply

    async def trades(self, **filters: Any) -> TradesPage:
        """One page of trades (GetTrades's filters, cursor and limit)."""
        reply = await self._ask(
            GetTrades(source="console", valid_until=self._valid_until(), **filters)
        )
        assert isinstance(reply, TradesPage)
        return reply

    async def pnl(self, account_id: str | None = None) -> PnlView:
        """PnL of one account, or of every account the ledger knows."""
        reply = await self._ask(
            GetPnl(source="console", valid_until=self._valid_until(), account_id=account_id)
        )
        assert isinstance(reply, PnlView)
        return reply
