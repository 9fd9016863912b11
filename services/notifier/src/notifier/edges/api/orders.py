"""``/api/v1/orders``: one order, as a one-leg plan through the path of every plan.

``POST`` publishes a ``RequestRebalance`` carrying the order; the notifier's resolver, the
planner (which prices it), the executor (risk gate, kill switch, approval mode, journal) and
the bridge then treat it as any plan. Exactly once per ``Idempotency-Key``: the request id is
derived from the account and the key, so the allocation, the plan and the client order id are
too (each layer already refuses a second of those); a record in Redis (shared by replicas)
keeps what was asked, so a repeat answers the first order's state without publishing, and the
same key with another order is refused (409). The order's id is its plan id.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations.

import json
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from notifier.core.errors import Refusal
from notifier.core.json_limits import load_json
from notifier.core.order_body import check_idempotency_key, parse_order_body, request_id_for
from notifier.edges.api.context import ApiContext, ApiError, flag, read_body
from notifier.edges.api.schemas import ORDER, answer, errors
from notifier.resolver import allocation_id_of
from shared.contracts.base import utc_now
from shared.contracts.order_commands import ManualOrder
from shared.plans.view import PlanView
from shared.rebalancing.ids import plan_id_for

KEY_PREFIX = "notifier:order-key:"
ORDER_PREFIX = "notifier:order:"

ORDER_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["symbol", "side"],
    "additionalProperties": False,
    "properties": {
        "account": {"type": "string", "description": "Account id (default: the default one)."},
        "symbol": {"type": "string", "minLength": 1, "maxLength": 24},
        "side": {"type": "string", "enum": ["BUY", "SELL", "buy", "sell"]},
        "quantity": {"type": "number", "exclusiveMinimum": 0, "description": "Or `qty`."},
        "qty": {"type": "number", "exclusiveMinimum": 0},
        "cash_amount": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Money to spend or raise instead of a quantity.",
        },
        "order_type": {
            "type": "string",
            "enum": ["MKT", "LMT", "MIDPRICE", "ADAPTIVE", "Adaptive"],
            "default": "MKT",
        },
        "limit_price": {"type": "number", "exclusiveMinimum": 0, "description": "LMT only."},
        "adaptive_priority": {"type": "string", "enum": ["Patient", "Normal", "Urgent"]},
        "time_in_force": {"type": "string", "enum": ["DAY", "GTC"], "default": "DAY"},
        "tif": {"type": "string", "enum": ["DAY", "GTC"]},
        "outside_rth": {"type": "boolean", "default": False},
        "dry_run": {"type": "boolean", "default": False, "description": "Plan it, never trade."},
    },
    "example": {"symbol": "SPY", "side": "BUY", "quantity": 10, "order_type": "MKT"},
}


def orders_router(ctx: ApiContext) -> APIRouter:
    """The orders' routes."""
    router = APIRouter(tags=["orders"])

    @router.post(
        "/orders",
        status_code=201,
        responses={
            201: answer(ORDER, "The new order's state (after wait=true, its outcome)."),
            200: answer(ORDER, "A repeat of an Idempotency-Key: the first order's state."),
            **errors(403, 404, 409, 413),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ORDER_BODY_SCHEMA}},
            }
        },
    )
    async def post_order(
        request: Request,
        idempotency_key: Annotated[
            str | None,
            Header(
                description="The same key (with the same order) is the same order: a retry "
                "returns its state and never trades twice. 1-128 of A-Z a-z 0-9 - _ . :"
            ),
        ] = None,
        wait: Annotated[
            str | None,
            Query(
                description="`true` (default): wait (bounded) for the order to end.",
                json_schema_extra={"enum": ["true", "false"]},
            ),
        ] = None,
        timeout_s: Annotated[float, Query(gt=0, le=3600)] = 10.0,
    ) -> JSONResponse:
        """Place one order (a one-leg plan: risk gate, kill switch, approval mode, journal)."""
        waiting = flag(wait, "wait") is not False
        body = await read_body(request, ctx.settings.api_max_body_bytes)
        await ctx.signed(request, body)
        try:
            key = check_idempotency_key(idempotency_key) or uuid.uuid4().hex
            asked = parse_order_body(load_json(body, ctx.settings.api_max_json_depth))
            account_id = ctx.single_account(asked.account)
            request_id = request_id_for(account_id, key)
            record = {
                "request_id": request_id,
                "account_id": account_id,
                "idempotency_key": key,
                "fingerprint": asked.fingerprint,
                "order": asked.order.model_dump(mode="json"),
                "dry_run": asked.dry_run,
                "accepted_at": utc_now().isoformat(),
            }
            first = await _claim(ctx, record)
            if first is not None and first["fingerprint"] != asked.fingerprint:
                raise ApiError(
                    409,
                    "idempotency_key_reused",
                    f"Idempotency-Key {key!r} was used for another order on {account_id}; "
                    "use a new key for a new order",
                )
            if first is None:
                await _submit(ctx, asked.order, record, execute=not asked.dry_run)
        except Refusal as refusal:
            await ctx.intake.refused("http", refusal)
            raise
        state = first or record
        if waiting:
            await _settle(ctx, state, min(timeout_s, ctx.settings.api_wait_max_s))
        answer = _answer(ctx, state) | {"replayed": first is not None}
        return JSONResponse(answer, status_code=200 if first is not None else 201)

    @router.get("/orders/{order_id}", responses={200: answer(ORDER, "One order."), **errors(404)})
    async def get_order(
        order_id: Annotated[str, Path(max_length=64, description="The order's id.")],
    ) -> JSONResponse:
        """One order: its status, the plan it is, and its fills once it ended."""
        raw = await ctx.service.redis.get(ORDER_PREFIX + order_id)
        if raw is None:
            raise ApiError(404, "unknown_order", f"no order {order_id!r} is known")
        return JSONResponse(_answer(ctx, json.loads(raw)))

    return router


def _ids(record: dict[str, Any]) -> tuple[str, str]:
    allocation = allocation_id_of(record["request_id"], record["account_id"])
    return allocation, plan_id_for(allocation, record["account_id"])


async def _claim(ctx: ApiContext, record: dict[str, Any]) -> dict[str, Any] | None:
    """Keep ``record`` under its key (SET NX), or return the record kept there first."""
    ttl = ctx.settings.api_idempotency_ttl_s
    _, order_id = _ids(record)
    record["order_id"] = order_id
    data = json.dumps(record)
    redis = ctx.service.redis
    if await redis.set(KEY_PREFIX + record["request_id"], data, nx=True, ex=ttl):
        await redis.set(ORDER_PREFIX + order_id, data, ex=ttl)
        return None
    kept = await redis.get(KEY_PREFIX + record["request_id"])
    return json.loads(kept) if kept else None


async def _submit(
    ctx: ApiContext, order: ManualOrder, record: dict[str, Any], *, execute: bool
) -> None:
    """Publish the order's request; if it is refused, forget the key (nothing was sent)."""
    try:
        await ctx.intake.submit_order(
            order, record["account_id"], record["request_id"], execute=execute,
            requested_by="http-api",
        )  # fmt: skip
    except BaseException:
        await ctx.service.redis.delete(
            KEY_PREFIX + record["request_id"], ORDER_PREFIX + record["order_id"]
        )
        raise


def _view(ctx: ApiContext, record: dict[str, Any]) -> PlanView | None:
    allocation, plan_id = _ids(record)
    return ctx.plans.get(plan_id) or ctx.plans.by_allocation({allocation}).get(allocation)


async def _settle(ctx: ApiContext, record: dict[str, Any], timeout_s: float) -> None:
    """Wait until the order's plan ended, or waits on an approval, or ``timeout_s`` passes."""
    deadline = utc_now() + timedelta(seconds=timeout_s)
    while utc_now() < deadline:
        view = _view(ctx, record)
        if view is not None and (view.terminal or view.status.value == "awaiting_approval"):
            return
        await ctx.plans.wait_changed((deadline - utc_now()).total_seconds())


def _answer(ctx: ApiContext, record: dict[str, Any]) -> dict[str, Any]:
    """The order's state: what was asked, its status, its plan and its fills."""
    view = _view(ctx, record)
    _, order_id = _ids(record)
    fills = [
        {
            "client_order_id": r.client_order_id,
            "status": r.status,
            "ordered_quantity": str(r.ordered_quantity),
            "filled_quantity": str(r.filled_quantity),
            "average_price": str(r.average_price) if r.average_price is not None else None,
            "commission": str(r.commission),
        }
        for r in (view.results if view else ())
    ]
    return {
        "order_id": order_id,
        "request_id": record["request_id"],
        "account_id": record["account_id"],
        "idempotency_key": record["idempotency_key"],
        "order": record["order"],
        "dry_run": record["dry_run"],
        "accepted_at": record["accepted_at"],
        "status": view.status.value if view else "accepted",
        "why": view.why if view else None,
        "reasons": [r.model_dump(mode="json") for r in view.reasons] if view else [],
        "fills": fills,
        "plan": view.as_json() if view else None,
    }
