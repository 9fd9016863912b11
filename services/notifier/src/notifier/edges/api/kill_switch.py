"""``/api/v1/halt`` and ``/api/v1/resume``: the kill switch."""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from notifier.edges.api.context import ApiContext
from shared import operator


def kill_switch_router(ctx: ApiContext) -> APIRouter:
    """The kill switch's routes."""
    router = APIRouter(tags=["kill switch"])

    @router.post("/halt", status_code=202)
    async def halt(reason: str = "halted through the HTTP API") -> JSONResponse:
        """Kill switch: cancel open orders and refuse new plans until /resume."""
        command = operator.halt(reason, source="notifier", by="http-api", ttl=ctx.ttl)
        await ctx.service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    @router.post("/resume", status_code=202)
    async def resume() -> JSONResponse:
        """Lift a halt."""
        command = operator.resume(source="notifier", by="http-api", ttl=ctx.ttl)
        await ctx.service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    return router
