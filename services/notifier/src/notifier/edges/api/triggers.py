"""``POST /api/v1/rebalance``: a trigger over HTTP, checked and published like any other."""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from notifier.core.errors import Refusal
from notifier.core.targets import rows_or_refuse
from notifier.core.trigger_payload import TriggerInput, execution_of, parse_trigger_object
from notifier.edges.api.context import ApiContext, read_body
from notifier.resolver import allocation_id_of
from shared.accounts import Accounts
from shared.contracts.base import ExecutionMode, utc_now

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


def triggers_router(ctx: ApiContext) -> APIRouter:
    """The triggers' routes."""
    router = APIRouter(tags=["triggers"])

    @router.post(
        "/rebalance",
        status_code=202,
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
            body = await read_body(request, ctx.settings.api_max_body_bytes)
            await ctx.auth.check(
                request.headers.get("x-rebalancer-timestamp"),
                request.headers.get("x-rebalancer-signature"),
                body,
            )
            trigger = _trigger_from(body, execute, account, group, ctx.accounts)
            submitted = await ctx.intake.submit(trigger, "http", requested_by="http-api")
        except Refusal as refusal:
            await ctx.intake.refused("http", refusal)
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
        found = await _planned(ctx, expected, min(timeout_s, ctx.settings.api_wait_max_s))
        answer["status"] = "planned" if len(found) == len(expected) else "pending"
        answer["plans"] = [view.as_json() for view in found]
        return JSONResponse(answer, status_code=200 if answer["status"] == "planned" else 202)

    return router


async def _planned(ctx: ApiContext, allocations: set[str], timeout_s: float) -> list[Any]:
    """The plans (or rejections) of ``allocations`` that arrive within ``timeout_s``."""
    deadline = utc_now() + timedelta(seconds=timeout_s)
    found = ctx.plans.by_allocation(allocations)
    while len(found) < len(allocations) and utc_now() < deadline:
        await ctx.plans.wait_changed((deadline - utc_now()).total_seconds())
        found = ctx.plans.by_allocation(allocations)
    return list(found.values())


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
