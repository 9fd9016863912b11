"""``/api/v1/plans``: the shared view of every recent plan; approve and cancel one."""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from notifier.edges.api.context import ApiContext, ApiError, read_body
from notifier.edges.api.schemas import PLAN, PLANS, SENT, answer, errors
from shared import operator


def plans_router(ctx: ApiContext) -> APIRouter:
    """The plans' routes."""
    router = APIRouter(tags=["plans"])

    @router.get("/plans", responses={200: answer(PLANS, "Recent plans, newest first.")})
    async def list_plans(
        account: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(gt=0, le=500)] = 50,
    ) -> JSONResponse:
        """Recent plans, newest first (status as the executor decided: dry_run,
        awaiting_approval, approved, executing, completed, failed, rejected, expired)."""
        views = ctx.plans.rows(account, status)[:limit]
        return JSONResponse({"plans": [v.as_json() for v in views]})

    @router.get("/plans/{plan_id}", responses={200: answer(PLAN, "One plan."), **errors(404)})
    async def get_plan(plan_id: str) -> JSONResponse:
        """One plan (or the rejection of an allocation id)."""
        view = ctx.plans.get(plan_id)
        if view is None:
            raise ApiError(404, "unknown_plan", f"no plan {plan_id!r} in the recent plans")
        return JSONResponse(view.as_json())

    @router.post(
        "/plans/{plan_id}/approve",
        status_code=202,
        responses={202: answer(SENT, "ApprovePlan sent."), **errors(404, 409, 413)},
    )
    async def approve_plan(plan_id: str, request: Request) -> JSONResponse:
        """Approve a plan that awaits approval (409 saying why for any other); signed when a
        signing secret is set."""
        await ctx.signed(request, await read_body(request, ctx.settings.api_max_body_bytes))
        view = ctx.plans.get(plan_id)
        if view is None or view.plan_id != plan_id:
            raise ApiError(404, "unknown_plan", f"no plan {plan_id!r} in the recent plans")
        refused = operator.approval_refused(plan_id, view)
        if refused is not None:
            raise ApiError(409, "not_awaiting_approval", refused)
        command = operator.approve(
            plan_id,
            source="notifier",
            by="http-api",
            correlation_id=view.correlation_id,
            ttl=ctx.ttl,
        )
        await ctx.service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    @router.post(
        "/plans/{plan_id}/cancel",
        status_code=202,
        responses={202: answer(SENT, "CancelPlan sent."), **errors(404, 409, 413)},
    )
    async def cancel_plan(plan_id: str, request: Request) -> JSONResponse:
        """Cancel a plan: pending approval dropped, working orders cancelled (404 for a plan
        not in the recent plans, 409 for one that has ended); signed when a secret is set."""
        await ctx.signed(request, await read_body(request, ctx.settings.api_max_body_bytes))
        view = ctx.plans.get(plan_id)
        if view is None or view.plan_id != plan_id:
            raise ApiError(404, "unknown_plan", f"no plan {plan_id!r} in the recent plans")
        if view.terminal:
            raise ApiError(
                409,
                "plan_ended",
                f"plan {plan_id} is {view.status.value}; nothing to cancel",
            )
        command = operator.cancel(
            plan_id,
            source="notifier",
            by="http-api",
            correlation_id=view.correlation_id,
            ttl=ctx.ttl,
        )
        await ctx.service.publish(command)
        return JSONResponse({"status": "sent", "command_id": command.message_id}, 202)

    return router
