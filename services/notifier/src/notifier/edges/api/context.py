"""What every router of the HTTP API shares: its dependencies, its errors, body reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request
from fastapi.responses import JSONResponse

from notifier.authn import TriggerAuthenticator
from notifier.intake import TriggerIntake
from notifier.plan_store import PlanStore
from notifier.settings import NotifierSettings
from shared.accounts import Accounts
from shared.ib_gateway import WeeklyWindow
from shared.kit.portfolio import PortfolioClient
from shared.kit.service import Service


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

    def __post_init__(self) -> None:
        self.portfolio = PortfolioClient(
            self.service.redis,
            self.service.publisher,
            source="notifier",
            timeout_s=self.settings.positions_timeout_s,
        )

    @property
    def ttl(self) -> timedelta:
        """How long the commands the API sends stay valid."""
        return timedelta(seconds=self.settings.trigger_ttl_s)

    def single_account(self, account: str | None) -> str:
        """The account named, or the only one configured; else ask for it (400)."""
        if account:
            return account
        if len(self.accounts) == 1:
            return next(iter(self.accounts)).id
        raise ApiError(
            400,
            "account_required",
            f"name the account with ?account=...; {len(self.accounts)} accounts are configured",
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
