"""The JSON schemas of the API's answers and errors, for the OpenAPI document.

Written next to what the routes return (``PlanView.as_json``, the orders' answer, the
errors), and held to it by the property-based test (``test_http_api_openapi.py``), which
validates every answer against the schema of its status code.
"""

from __future__ import annotations

from typing import Any

from shared.contracts.portfolio import PortfolioView

STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
TEXT_LIST = {"type": "array", "items": STRING}

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable code, e.g. `unknown_plan`."},
        "message": {"type": "string", "description": "What was wrong and what to do."},
    },
}

LEG: dict[str, Any] = {
    "type": "object",
    "required": ["leg", "symbol", "side", "quantity", "estimated_price", "estimated_value"],
    "properties": {
        "leg": {"type": "integer"},
        "symbol": STRING,
        "side": {"type": "string", "enum": ["BUY", "SELL"]},
        "quantity": {"type": "string", "description": "Decimal, as text."},
        "estimated_price": STRING,
        "estimated_value": STRING,
        "note": NULLABLE_STRING,
        "order": {"type": ["object", "null"], "description": "A manual order's terms."},
    },
}

PLAN: dict[str, Any] = {
    "type": "object",
    "required": ["plan_id", "account_id", "status", "legs", "drift", "warnings", "history"],
    "properties": {
        "plan_id": STRING,
        "account_id": STRING,
        "status": {
            "type": "string",
            "enum": [
                "proposed",
                "dry_run",
                "awaiting_approval",
                "approved",
                "executing",
                "completed",
                "failed",
                "rejected",
                "expired",
            ],
        },
        "updated_at": STRING,
        "proposed_at": NULLABLE_STRING,
        "allocation_id": NULLABLE_STRING,
        "correlation_id": NULLABLE_STRING,
        "execution": NULLABLE_STRING,
        "valid_until": NULLABLE_STRING,
        "leg_count": {"type": ["integer", "null"]},
        "legs": {"type": "array", "items": LEG},
        "drift": {"type": "array", "items": {"type": "object"}},
        "warnings": TEXT_LIST,
        "summary": {"type": ["object", "null"]},
        "reasons": {"type": "array", "items": {"type": "object"}},
        "results": {"type": "array", "items": {"type": "object"}},
        "approved_by": NULLABLE_STRING,
        "why": NULLABLE_STRING,
        "report_path": NULLABLE_STRING,
        "report_paths": TEXT_LIST,
        "history": TEXT_LIST,
    },
}

PLANS: dict[str, Any] = {
    "type": "object",
    "required": ["plans"],
    "properties": {"plans": {"type": "array", "items": PLAN}},
}

NOT_EXECUTED: dict[str, Any] = {
    "type": "object",
    "required": ["account_id", "status", "reason", "setting"],
    "properties": {
        "account_id": STRING,
        "status": {"const": "dry_run"},
        "reason": STRING,
        "setting": STRING,
    },
}

REBALANCE: dict[str, Any] = {
    "type": "object",
    "required": ["status", "request_id", "correlation_id", "accounts", "execution"],
    "properties": {
        "status": {"type": "string", "enum": ["accepted", "planned", "pending", "dry_run"]},
        "request_id": STRING,
        "correlation_id": STRING,
        "accounts": TEXT_LIST,
        "group": NULLABLE_STRING,
        "execution": {"type": "string", "enum": ["rebalance", "dry_run"]},
        "valid_until": STRING,
        "plans": {"type": "array", "items": PLAN},
        "not_executed": {"type": "array", "items": NOT_EXECUTED},
        "reason": STRING,
        "setting": STRING,
    },
}

ORDER: dict[str, Any] = {
    "type": "object",
    "required": ["order_id", "request_id", "account_id", "status", "order", "fills"],
    "properties": {
        "order_id": STRING,
        "request_id": STRING,
        "account_id": STRING,
        "idempotency_key": STRING,
        "order": {"type": "object"},
        "dry_run": {"type": "boolean"},
        "accepted_at": STRING,
        "status": STRING,
        "why": NULLABLE_STRING,
        "reasons": {"type": "array", "items": {"type": "object"}},
        "fills": {"type": "array", "items": {"type": "object"}},
        "plan": {"oneOf": [PLAN, {"type": "null"}]},
        "replayed": {"type": "boolean"},
    },
}

SENT: dict[str, Any] = {
    "type": "object",
    "required": ["status", "command_id"],
    "properties": {"status": {"const": "sent"}, "command_id": STRING},
}

HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["service", "ready", "checks"],
    "properties": {"service": STRING, "ready": {"type": "boolean"}, "checks": {"type": "object"}},
}


def portfolio_schema() -> dict[str, Any]:
    """The PortfolioView contract's schema, with its definitions inlined under ``$defs``."""
    return PortfolioView.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")


def answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """One OpenAPI response object with a JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS: dict[int, str] = {
    400: "Bad input: the message says what was wrong and what to do.",
    401: "Missing or wrong bearer token, or (with a signing secret) a missing, wrong or "
    "stale signature.",
    403: "The account does not accept HTTP triggers.",
    404: "Unknown account, group, plan or order.",
    409: "Not possible now (the message says why): a replayed signature, a plan not awaiting "
    "approval or ended, an idempotency key used for another order.",
    413: "The body is over NOTIFIER_API_MAX_BODY_BYTES.",
    429: "Over the rate limit: retry after the Retry-After header's seconds.",
    503: "The API is locked (no NOTIFIER_API_TOKEN), or the bridge cannot answer.",
    504: "The bridge did not answer in time.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Response objects for error ``codes``, each with the error schema."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = answer(ERROR, ERRORS[code])
        if code == 429:
            out[code]["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
    return out


COMMON = (400, 401, 429, 503)
"""What every ``/api/v1`` route may answer."""
