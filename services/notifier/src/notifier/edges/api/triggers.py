"""``POST /api/v1/rebalance``: a trigger over HTTP, checked and published like any other."""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from notifier.core.errors import Refusal
from notifier.core.json_limits import load_json
from notifier.core.targets import rows_or_refuse
from notifier.core.trigger_payload import TriggerInput, execution_of, parse_trigger_object
from notifier.edges.api.context import ApiContext, flag, read_body
from notifier.edges.api.schemas import REBALANCE, answer, errors
from notifier.resolver import allocation_id_of
from shared.accounts import Accounts
from shared.contracts.base import ExecutionMode, utc_now
from shared.contracts.triggers import RequestRebalance
from shared.plans.view import PlanStatus, PlanView
from shared.policy import ApprovalMode

MAX_QUERY_ACCOUNTS = 100

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
        responses={
            200: answer(
                REBALANCE,
                "wait=true: the plans (status planned, or dry_run when no "
                "account named will trade).",
            ),
            202: answer(REBALANCE, "Accepted (or wait=true timed out: status pending)."),
            **errors(403, 404, 409, 413),
        },
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
            str | None,
            Query(
                description="`true` to trade, `false` (default) for a dry run; nothing else.",
                json_schema_extra={"enum": ["true", "false"]},
            ),
        ] = None,
        account: Annotated[
            list[str] | None,
            Query(
                description="Account id(s); may be omitted when the accounts file marks one "
                "account `default: true` (or has only one).",
                max_length=MAX_QUERY_ACCOUNTS,
            ),
        ] = None,
        group: Annotated[str | None, Query(description="A group of the accounts file.")] = None,
        wait: Annotated[
            str | None,
            Query(
                description="`true`: wait (bounded) for the plan(s) and return them.",
                json_schema_extra={"enum": ["true", "false"]},
            ),
        ] = None,
        timeout_s: Annotated[float, Query(gt=0, le=3600, description="Bound of wait=true.")] = 10.0,
    ) -> JSONResponse:
        """Ask for a rebalance; answers 202 with the request id (or the plans with wait=true)."""
        execute_flag = flag(execute, "execute")
        waiting = flag(wait, "wait") or False
        body = await read_body(request, ctx.settings.api_max_body_bytes)
        await ctx.signed(request, body)
        try:
            payload = load_json(body, ctx.settings.api_max_json_depth)
            trigger = _trigger_from(payload, execute_flag, account, group, ctx.single_default())
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
        held_back = _not_executed(ctx.accounts, submitted)
        if held_back:
            answer["not_executed"] = held_back
        if not waiting:
            answer |= _dry_run_answer(held_back, submitted)
            return JSONResponse(answer, status_code=202)
        expected = {allocation_id_of(submitted.message_id, a) for a in submitted.account_ids}
        bound = min(timeout_s, ctx.settings.api_wait_max_s)
        found = await planned(ctx, expected, bound, ctx.settings.api_decision_wait_s)
        answer["status"] = "planned" if len(found) == len(expected) else "pending"
        answer["plans"] = [view.as_json() for view in found]
        answer |= _dry_run_answer(held_back, submitted)
        return JSONResponse(answer, status_code=202 if answer["status"] == "pending" else 200)

    return router


def _not_executed(accounts: Accounts, request: RequestRebalance) -> list[dict[str, str]]:
    """The accounts asked to trade whose approval mode will not: each with why and what to set."""
    if request.execution != ExecutionMode.REBALANCE:
        return []
    held: list[dict[str, str]] = []
    for account_id in request.account_ids:
        account = accounts.get(account_id)
        if account is not None and account.execution.approval == ApprovalMode.DRY_RUN:
            held.append(
                {
                    "account_id": account_id,
                    "status": "dry_run",
                    "reason": f"account {account_id} has approval: dry_run in the accounts "
                    "file, so execute=true is reported as a dry run and never trades",
                    "setting": f"accounts[id={account_id}].approval: set it to manual (approve "
                    "each plan) or auto, then restart the executor and the notifier",
                }
            )
    return held


def _dry_run_answer(held: list[dict[str, str]], request: RequestRebalance) -> dict[str, Any]:
    """When no account named will trade, the answer's status says so, with the reason."""
    if not held or len(held) != len(request.account_ids):
        return {}
    return {"status": "dry_run", "reason": held[0]["reason"], "setting": held[0]["setting"]}


async def planned(
    ctx: ApiContext, allocations: set[str], timeout_s: float, decision_s: float
) -> list[PlanView]:
    """The plans (or rejections) of ``allocations`` within ``timeout_s``; once all exist,
    wait up to ``decision_s`` more (within the bound) for the executor's decisions."""
    deadline = utc_now() + timedelta(seconds=timeout_s)
    found = ctx.plans.by_allocation(allocations)
    while len(found) < len(allocations) and utc_now() < deadline:
        await ctx.plans.wait_changed((deadline - utc_now()).total_seconds())
        found = ctx.plans.by_allocation(allocations)
    deadline = min(deadline, utc_now() + timedelta(seconds=decision_s))
    while any(v.status == PlanStatus.PROPOSED for v in found.values()) and utc_now() < deadline:
        await ctx.plans.wait_changed((deadline - utc_now()).total_seconds())
        found = ctx.plans.by_allocation(allocations)
    return list(found.values())


def _trigger_from(
    payload: Any,
    execute: bool | None,
    account: list[str] | None,
    group: str | None,
    default: str | None,
) -> TriggerInput:
    """Build the trigger from the body and the query string; raise Refusal when unclear."""
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
        if default is None:
            raise Refusal(
                "account_required",
                "name the account with ?account=... or ?group=..., or mark one account "
                "default: true in the accounts file",
            )
        account = [default]
    return TriggerInput(
        account_ids=tuple(dict.fromkeys(account or ())),
        group=group,
        execution=ExecutionMode.REBALANCE if execute else ExecutionMode.DRY_RUN,
        targets=targets,
    )
