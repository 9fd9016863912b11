"""The HTTP API: rebalance, positions, plans, approve, halt/resume, health; docs at /docs.

Every route under ``/api/v1`` needs ``Authorization: Bearer <NOTIFIER_API_TOKEN>``; with no
token configured those routes answer 503 saying how to set one (safe default). Errors are
JSON: ``{"error": "<code>", "message": "<what was wrong and what to do>"}``.
"""

# No `from __future__ import annotations`: FastAPI must see the closures' real annotations.

import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from notifier.authn import TriggerAuthenticator
from notifier.core.errors import Refusal
from notifier.core.targets import rows_or_refuse
from notifier.core.trigger_payload import TriggerInput, execution_of, parse_trigger_object
from notifier.intake import TriggerIntake
from notifier.plan_store import PlanStore
from notifier.resolver import allocation_id_of
from notifier.settings import NotifierSettings
from shared import operator
from shared.accounts import Accounts
from shared.contracts.base import ExecutionMode, utc_now
from shared.kit.portfolio import PortfolioClient, PortfolioUnavailableError
from shared.kit.service import Service

HealthFn = Callable[[], Awaitable[tuple[bool, dict[str, str]]]]

REBALANCE_BODY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "array",
            "description": "Allocations (the REST reference's body); accounts from the query.",
            "items": {
                "type": "object",
                "properties": {"symbol": {"type": "string"}, "allocation": {"type": "number"}},
                "required": ["symbol", "allocation"],
            },
            "example": [{"symbol": "QQQ", "allocation": 0.6}, {"symbol": "SPY", "allocation": 0.4}],
        },
        {
            "type": "object",
            "description": "A trigger object, as on the Redis channel.",
            "properties": {
                "account_id": {"type": "string"},
                "account_ids": {"type": "array", "items": {"type": "string"}},
                "group": {"type": "string"},
                "execution": {"type": "string", "enum": ["rebalance", "dry_run"]},
                "targets": {"type": "array", "items": {"type": "object"}},
                "id": {"type": "string"},
            },
        },
    ]
}


def _error(status: int, code: str, message: str) -> JSONResponse:
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


def create_api(
    *,
    settings: NotifierSettings,
    service: Service,
    accounts: Accounts,
    intake: TriggerIntake,
    auth: TriggerAuthenticator,
    plans: PlanStore,
    health: HealthFn,
) -> FastAPI:
    """Build the FastAPI application of the notifier's HTTP API."""
    app = FastAPI(
        title="IBKR rebalancer API",
        version="1",
        description="Trigger rebalances (dry run unless execute=true), look at positions and "
        "plans, approve plans, halt and resume trading. Authenticate with a bearer token.",
    )
    bearer = HTTPBearer(auto_error=False)
    token: SecretStr | None = settings.api_token
    portfolio = PortfolioClient(
        service.redis, service.publisher, source="notifier", timeout_s=settings.positions_timeout_s
    )
    ttl = timedelta(seconds=settings.trigger_ttl_s)

    @app.exception_handler(ApiError)
    async def _on_api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.code, error.message)

    @app.exception_handler(Refusal)
    async def _on_refusal(_: Request, refusal: Refusal) -> JSONResponse:
        return _error(refusal.status, refusal.code, refusal.message)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        return _error(422, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, "http_error", str(error.detail))

    async def authenticated(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if token is None or not token.get_secret_value():
            raise ApiError(
                503,
                "api_token_not_configured",
                "the API is locked because no token is configured; set NOTIFIER_API_TOKEN "
                "(or NOTIFIER_API_TOKEN_FILE) and restart the notifier",
            )
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise ApiError(
                401, "unauthorized", "send the header 'Authorization: Bearer <API token>'"
            )

    @app.get("/health", tags=["ops"])
    async def get_health() -> JSONResponse:
        """Readiness of the notifier and its edges (no token needed)."""
        ready, checks = await health()
        return JSONResponse(
            {"service": "notifier", "ready": ready, "checks": checks},
            status_code=200 if ready else 503,
        )

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticated)])

    def single_account(account: str | None) -> str:
        if account:
            return account
        if len(accounts) == 1:
            return next(iter(accounts)).id
        raise ApiError(
            400,
            "account_required",
            f"name the account with ?account=...; {len(accounts)} accounts are configured",
        )

    @api.post(
        "/rebalance",
        status_code=202,
        tags=["triggers"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": REBALANCE_BODY_SCHEMA}},
            }
        },
    )
    async def post_rebalance(
        request: Request,
        execute: Annotated[
            bool | None, Query(description="true to trade; default false (dry run)")
        ] = None,
        account: Annotated[list[str] | None, Query(description="Account id(s).")] = None,
        group: Annotated[str | None, Query(description="A group of the accounts file.")] = None,
        wait: Annotated[
            bool, Query(description="Wait (bounded) for the plan(s) and return them.")
        ] = False,
        timeout_s: Annotated[float, Query(gt=0, description="Bound of wait=true.")] = 10.0,
    ) -> JSONResponse:
        """Ask for a rebalance; answers 202 with the request id (or the plans with wait=true)."""
        try:
            body = await read_body(request, settings.api_max_body_bytes)
            await auth.check(
                request.headers.get("x-rebalancer-timestamp"),
                request.headers.get("x-rebalancer-signature"),
                body,
            )
            trigger = _trigger_from(body, execute, account, group, accounts)
            submitted = await intake.submit(trigger, "http", requested_by="http-api")
        except Refusal as refusal:
            await intake.refused("http", refusal)
            raise
        answer: dict[str, Any] = {
            "status": "accepted",
            "request_id": submitted.message_id,
            "correlation_id": submitted.correlation_id,
            "accounts": list(submitted.account_ids),
            "group": submitted.group,
            "execution": submitted.execution.value,
            "valid_until": submitted.valid_until.isoformat(),
        }
        if not wait:
            return JSONResponse(answer, status_code=202)
        expected = {allocation_id_of(submitted.message_id, a) for a in submitted.account_ids}
        deadline = utc_now() + timedelta(seconds=min(timeout_s, settings.api_wait_max_s))
        found = plans.by_allocation(expected)
        while len(found) < len(expected) and utc_now() < deadline:
            await plans.wait_changed((deadline - utc_now()).total_seconds())
            found = plans.by_allocation(expected)
        answer["status"] = "planned" if len(found) == len(expected) else "pending"
        answer["plans"] = [row.as_json() for row in found.values()]
        return JSONResponse(answer, status_code=200 if answer["status"] == "planned" else 202)

    @api.get("/positions", tags=["portfolio"])
    async def get_positions(
        account: Annotated[str | None, Query(description="Account id.")] = None,
    ) -> JSONResponse:
        """Positions, cash and net liquidation of an account, from the gateway-bridge."""
        account_id = single_account(account)
        if account_id not in accounts:
            raise ApiError(404, "unknown_account", f"account {account_id!r} is not configured")
        try:
            view = await portfolio.get(account_id)
        except PortfolioUnavailableError as error:
            if error.code == "timeout":
                raise ApiError(504, "bridge_timeout", error.reason.message) from None
            raise ApiError(503, f"portfolio_{error.code}", error.reason.message) from None
        return JSONResponse(view.model_dump(mode="json"))

    @api.get("/plans", tags=["plans"])
    async def list_plans(
        account: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(gt=0, le=500)] = 50,
    ) -> JSONResponse:
        """Recent plans, newest first."""
        rows = plans.rows(account, status)[:limit]
        return JSONResponse({"plans": [r.as_json() for r in rows]})

    @api.get("/plans/{plan_id}", tags=["plans"])
    async def get_plan(plan_id: str) -> JSONResponse:
        """One plan (or the rejection of an allocation id)."""
        row = plans.get(plan_id)
        if row is None:
            raise ApiError(404, "unknown_plan", f"no plan {plan_id!r} in the recent plans")
        return JSONResponse(row.as_json())

    @api.post("/plans/{plan_id}/approve", status_code=202, tags=["plans"])
    async def approve_plan(plan_id: str) -> JSONResponse:
        """Approve a plan that awaits approval (409 with the reason otherwise)."""
        view = plans.get(plan_id)
        if view is None or view.plan_id != plan_id:
            raise ApiError(404, "unknown_plan", f"no plan {plan_id!r} in the recent plans")
        refused = operator.approval_refused(plan_id, view)
        if refused is not None:
            raise ApiError(409, "not_awaiting_approval", refused)
        command = operator.approve(
            plan_id, source="notifier", by="http-api", correlation_id=view.correlation_id, ttl=ttl
        )
        await service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    @api.post("/plans/{plan_id}/cancel", status_code=202, tags=["plans"])
    async def cancel_plan(plan_id: str) -> JSONResponse:
        """Cancel a plan: pending approval dropped, working orders cancelled."""
        view = plans.get(plan_id)
        command = operator.cancel(
            plan_id,
            source="notifier",
            by="http-api",
            correlation_id=view.correlation_id if view else None,
            ttl=ttl,
        )
        await service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    @api.post("/halt", status_code=202, tags=["kill switch"])
    async def halt(reason: str = "halted through the HTTP API") -> JSONResponse:
        """Kill switch: cancel open orders and refuse new plans until /resume."""
        command = operator.halt(reason, source="notifier", by="http-api", ttl=ttl)
        await service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    @api.post("/resume", status_code=202, tags=["kill switch"])
    async def resume() -> JSONResponse:
        """Lift a halt."""
        command = operator.resume(source="notifier", by="http-api", ttl=ttl)
        await service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    app.include_router(api)
    return app


def _trigger_from(
    body: bytes,
    execute: bool | None,
    account: list[str] | None,
    group: str | None,
    accounts: Accounts,
) -> TriggerInput:
    """Build the trigger from the body and the query string; raise Refusal when unclear."""
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError as error:
        raise Refusal("malformed_json", f"the body is not valid JSON: {error}") from None
    if isinstance(payload, dict):
        if account or group:
            raise Refusal(
                "invalid_trigger",
                "name the accounts either in the query string or in the body, not both",
            )
        trigger = parse_trigger_object(payload)
        if execute is not None:
            wanted = ExecutionMode.REBALANCE if execute else ExecutionMode.DRY_RUN
            if "execution" in payload and execution_of(payload["execution"]) != wanted:
                raise Refusal(
                    "invalid_trigger", "execute= in the query contradicts execution in the body"
                )
            trigger = TriggerInput(
                trigger.account_ids, trigger.group, wanted, trigger.targets, trigger.trigger_id
            )
        return trigger
    if payload is not None and not isinstance(payload, list):
        raise Refusal(
            "invalid_trigger",
            'the body must be a list of {"symbol", "allocation"} or a trigger object',
        )
    targets = rows_or_refuse(payload, "body") if payload is not None else None
    if account and group:
        raise Refusal("invalid_trigger", "give either account or group, not both")
    if not account and not group:
        if len(accounts) != 1:
            raise Refusal(
                "account_required",
                f"name the account with ?account=... or ?group=...; {len(accounts)} "
                "accounts are configured",
            )
        account = [next(iter(accounts)).id]
    return TriggerInput(
        account_ids=tuple(dict.fromkeys(account or ())),
        group=group,
        execution=ExecutionMode.REBALANCE if execute else ExecutionMode.DRY_RUN,
        targets=targets,
    )
