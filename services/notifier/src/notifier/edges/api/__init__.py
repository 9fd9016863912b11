"""The HTTP API: rebalance, positions, plans, approve, halt/resume, PnL, trades, health; docs
at /docs.

Every route under ``/api/v1`` needs ``Authorization: Bearer <NOTIFIER_API_TOKEN>``; with no
token configured those routes answer 503 saying how to set one (safe default). Errors are
JSON: ``{"error": "<code>", "message": "<what was wrong and what to do>"}``. One router per
tag (triggers, portfolio, plans, kill switch), each over an :class:`ApiContext`.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from notifier.core.errors import Refusal
from notifier.edges.api.context import ApiContext, ApiError, error_response
from notifier.edges.api.health import HealthFn, health_router, ib_view
from notifier.edges.api.kill_switch import kill_switch_router
from notifier.edges.api.ledger import ledger_router
from notifier.edges.api.orders import orders_router
from notifier.edges.api.plans import plans_router
from notifier.edges.api.portfolio import portfolio_router
from notifier.edges.api.rate_limit import RateLimiter, install_rate_limit
from notifier.edges.api.schemas import COMMON, HEALTH, answer, errors
from notifier.edges.api.triggers import triggers_router

__all__ = ["ApiContext", "ApiError", "create_api"]


def create_api(ctx: ApiContext, health: HealthFn) -> FastAPI:
    """Build the FastAPI application of the notifier's HTTP API."""
    app = FastAPI(
        title="IBKR rebalancer API",
        version="1",
        description="Trigger rebalances (dry run unless execute=true), look at positions and "
        "plans, approve plans, halt and resume trading. Authenticate with a bearer token.",
    )
    _errors(app)
    install_rate_limit(
        app, RateLimiter(ctx.settings.api_rate_per_minute, ctx.settings.api_rate_burst)
    )

    @app.get(
        "/health",
        tags=["ops"],
        responses={
            200: answer(HEALTH, "Ready."),
            503: answer(HEALTH, "Not ready: the failing checks say why."),
        },
    )
    async def get_health() -> JSONResponse:
        """Readiness of the notifier and its edges, and the IB connection (no token needed;
        account ids masked)."""
        ready, checks = await health()
        ib = await ib_view(ctx, public=True)
        return JSONResponse(
            {"service": "notifier", "ready": ready, "checks": checks, "ib": ib},
            status_code=200 if ready else 503,
        )

    api = APIRouter(
        prefix="/api/v1",
        dependencies=[Depends(_bearer(ctx.settings.api_token))],
        responses=errors(*COMMON),
    )
    routers = (
        triggers_router,
        portfolio_router,
        plans_router,
        orders_router,
        kill_switch_router,
        ledger_router,
    )
    for router in routers:
        api.include_router(router(ctx))
    api.include_router(health_router(ctx, health))
    app.include_router(api)
    _document(app)
    return app


def _document(app: FastAPI) -> None:
    """Drop FastAPI's 422 answers from the document: bad input answers 400 here."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            for path in schema["paths"].values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _errors(app: FastAPI) -> None:
    """Every error as ``{"error", "message"}``."""

    @app.exception_handler(ApiError)
    async def _on_api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(Refusal)
    async def _on_refusal(_: Request, refusal: Refusal) -> JSONResponse:
        return error_response(refusal.status, refusal.code, refusal.message)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        return error_response(400, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, "http_error", str(error.detail))


def _bearer(token: SecretStr | None) -> Callable[..., Awaitable[None]]:
    """The dependency that checks the bearer token (503 while none is configured)."""
    bearer = HTTPBearer(auto_error=False)

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

    return authenticated
