"""What every router of the HTTP API shares: its dependencies, its errors, body reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from notifier.authn import TriggerAuthenticator
from notifier.core.errors import Refusal
from notifier.core.json_limits import load_json
from notifier.core.signing import http_message
from notifier.intake import TriggerIntake
from notifier.plan_store import PlanStore
from notifier.settings import NotifierSettings
from shared.accounts import Accounts
from shared.ib_gateway import WeeklyWindow
from shared.kit.ledger import LedgerClient
from shared.kit.portfolio import PortfolioClient
from shared.kit.service import Service
from shared.topology import Topology


@dataclass
class ApiContext:
    """The notifier's parts the routes use (built once in ``create_api``)."""

    settings: NotifierSettings
    service: Service
    accounts: Accounts
    intake: TriggerIntake
    auth: TriggerAuthenticator
    plans: PlanStore
    window: WeeklyWindow | None = None
    portfolio: PortfolioClient = field(init=False)
    ledger: LedgerClient = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = LedgerClient(
            self.service.redis,
            self.service.publisher,
            source="notifier",
            timeout_s=self.settings.ledger_timeout_s,
        )
        self.portfolio = PortfolioClient(
            self.service.redis,
            self.service.publisher,
            source="notifier",
            timeout_s=self.settings.positions_timeout_s,
            route=Topology.of(self.accounts).portfolio_stream_of,
        )

    @property
    def ttl(self) -> timedelta:
        """How long the commands the API sends stay valid."""
        return timedelta(seconds=self.settings.trigger_ttl_s)

    def single_account(self, account: str | None) -> str:
        """The account named, or the default one (marked ``default: true``, or the only one
        configured); else ask for it (400)."""
        if account:
            return account
        default = self.accounts.default
        if default is not None:
            return default.id
        raise ApiError(
            400,
            "account_required",
            f"name the account with ?account=...; {len(self.accounts)} accounts are configured "
            "and none is marked default: true in the accounts file",
        )

    def single_default(self) -> str | None:
        """The default account's id (marked ``default: true``, or the only one), if any."""
        default = self.accounts.default
        return default.id if default is not None else None

    async def signed(self, request: Request, body: bytes) -> None:
        """Refuse (401, 409 replayed) a request whose signature does not cover its method,
        path, query and body, when a signing secret is set; count and alert the refusal."""
        message = http_message(request.method, request.url.path, request.url.query, body)
        try:
            await self.auth.check(
                request.headers.get("x-rebalancer-timestamp"),
                request.headers.get("x-rebalancer-signature"),
                message,
            )
        except Refusal as refusal:
            await self.intake.refused("http", refusal)
            raise

    async def read_json(self, request: Request) -> tuple[bytes, Any]:
        """Read and parse the body within the size and depth limits (413, 400)."""
        body = await read_body(request, self.settings.api_max_body_bytes)
        return body, load_json(body, self.settings.api_max_json_depth)


def flag(value: str | None, name: str) -> bool | None:
    """Read a true/false query flag strictly: ``yes``, ``1`` or ``on`` are refused (400)."""
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise ApiError(
        400,
        f"invalid_{name}",
        f"{name} must be true or false, got {value!r}; only {name}=true trades",
    )


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class ApiError(Exception):
    """An HTTP error with a code and a sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def read_body(request: Request, limit: int) -> bytes:
    """Read the request body, refusing more than ``limit`` bytes (413) before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
