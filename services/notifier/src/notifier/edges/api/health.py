"""The IB connection as the bridge reports it (``GatewayStatus``), for ``/health`` and
``GET /api/v1/health``; and the gateway's weekly window."""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from notifier.edges.api.context import ApiContext
from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.contracts.gateway import GatewayStatus
from shared.ib_gateway import status_view
from shared.kit.streams import newest_of

log = logging.getLogger(__name__)

HealthFn = Callable[[], Awaitable[tuple[bool, dict[str, str]]]]


async def ib_view(ctx: ApiContext, *, public: bool) -> dict[str, Any]:
    """The newest GatewayStatus on ``events.gateway.v1`` as JSON, and the window."""
    now = utc_now()
    try:
        status = await newest_of(ctx.service.redis, catalogue.GATEWAY, GatewayStatus)
    except Exception as error:  # Redis down: the notifier's own checks say so
        log.warning("cannot read the gateway's status: %r", error)
        return {"state": "unknown", "detail": "cannot read events.gateway.v1 from Redis"}
    view = status_view(status, now, public=public)
    window = ctx.window
    if window is not None:
        view["window"] = {
            "schedule": window.text,
            "open": window.is_open(now),
            "next_open": window.next_open(now).isoformat(),
            "next_close": window.next_close(now).isoformat(),
        }
    return view


def health_router(ctx: ApiContext, health: HealthFn) -> APIRouter:
    """``GET /api/v1/health``: the notifier's checks and the IB connection in full."""
    router = APIRouter(tags=["ops"])

    @router.get("/health")
    async def get_full_health() -> JSONResponse:
        """The notifier's readiness and the IB connection (account ids in full)."""
        ready, checks = await health()
        body = {
            "service": "notifier",
            "ready": ready,
            "checks": checks,
            "ib": await ib_view(ctx, public=False),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return router
