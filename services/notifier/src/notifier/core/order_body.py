"""Read the body of ``POST /api/v1/orders`` into a :class:`ManualOrder`, or a Refusal.

The PnL tracker's body (``{"symbol": "AAPL", "qty": 1, "side": "buy", "order_type": "MKT"}``)
is accepted as is: ``qty`` for ``quantity``, ``tif`` for ``time_in_force``, sides and order
types in any case (``Adaptive``). Unknown fields are refused: a typo must not silently
become another order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from notifier.core.errors import Refusal
from shared.contracts.order_commands import ManualOrder
from shared.rebalancing.ids import order_request_id as request_id_for

__all__ = ["OrderRequest", "check_idempotency_key", "parse_order_body", "request_id_for"]

ALIASES = {"qty": "quantity", "tif": "time_in_force", "cash": "cash_amount"}
ORDER_FIELDS = frozenset(ManualOrder.model_fields)
FIELDS = ORDER_FIELDS | {"account", "dry_run"}
UPPER = ("side", "order_type", "time_in_force")
KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")
MAX_KEY = 128


@dataclass(frozen=True)
class OrderRequest:
    """What the body asks for: the order, the account (None: the default) and a dry run."""

    order: ManualOrder
    account: str | None
    dry_run: bool
    fingerprint: str
    """A hash of what was asked, to tell a retry from another order under the same key."""


def parse_order_body(payload: Any) -> OrderRequest:
    """Validate the body; raise Refusal (400 ``invalid_order``) saying every problem."""
    if not isinstance(payload, dict):
        raise Refusal(
            "invalid_order",
            'the body must be a JSON object such as {"symbol": "SPY", "side": "BUY", '
            '"quantity": 10}',
        )
    fields: dict[str, Any] = {ALIASES.get(str(k), str(k)): v for k, v in payload.items()}
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise Refusal(
            "invalid_order",
            f"unknown field(s) {', '.join(map(str, unknown))}; known fields: "
            f"{', '.join(sorted(FIELDS))}",
        )
    for name in UPPER:
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].upper()
    account = fields.pop("account", None)
    dry_run = fields.pop("dry_run", False)
    if account is not None and (not isinstance(account, str) or not account.strip()):
        raise Refusal("invalid_order", f"account must be an account id, got {account!r}")
    if not isinstance(dry_run, bool):
        raise Refusal("invalid_order", f"dry_run must be true or false, got {dry_run!r}")
    try:
        order = ManualOrder.model_validate(_numbers_as_text(fields))
    except ValidationError as error:
        raise Refusal("invalid_order", _problems(error)) from None
    asked = {"order": order.model_dump(mode="json"), "account": account, "dry_run": dry_run}
    digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
    return OrderRequest(order, account.strip() if account else None, dry_run, digest)


def _numbers_as_text(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON numbers become Decimal through their text (0.1 stays 0.1); bools stay refused."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        out[key] = repr(value) if is_number and key in ORDER_FIELDS else value
    return out


def _problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "order"
        parts.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def check_idempotency_key(key: str | None) -> str | None:
    """Return the key, or raise Refusal when it is not 1-128 letters, digits or ``-_.:``."""
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY or not set(key) <= KEY_CHARS:
        raise Refusal(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_KEY} letters, digits or - _ . : (a UUID "
            f"works); got {key!r:.40}",
        )
    return key
