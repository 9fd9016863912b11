"""``/api/v1/halt`` and ``/api/v1/resume``: the kill switch."""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from notifier.edges.api.context import ApiContext, read_body
from notifier.edges.api.schemas import SENT, answer, errors
from shared import operator


def kill_switch_router(ctx: ApiContext) -> APIRouter:
    """The kill switch's routes."""
    router = APIRouter(tags=["kill switch"])

    @router.post(
        "/halt",
        status_code=202,
        responses={202: answer(SENT, "HaltTrading sent."), **errors(409, 413)},
    )
    async def halt(
        request: Request,
        reason: Annotated[str, Query(max_length=500)] = "halted through the HTTP API",
    ) -> JSONResponse:
        """Kill switch: cancel open orders and refuse new plans until /resume (signed when a
        signing secret is set)."""
        await ctx.signed(request, await read_body(request, ctx.settings.api_max_body_bytes))
        command = operator.halt(reason, source="notifier", by="http-api", ttl=ctx.ttl)
        await ctx.service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    @router.post(
        "/resume",
        status_code=202,
        responses={202: answer(SENT, "ResumeTrading sent."), **errors(409, 413)},
    )
    async def resume(request: Request) -> JSONResponse:
        """Lift a halt (signed when a signing secret is set)."""
        await ctx.signed(request, await read_body(request, ctx.settings.api_max_body_bytes))
        command = operator.resume(source="notifier", by="http-api", ttl=ctx.ttl)
        await ctx.service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    return router
