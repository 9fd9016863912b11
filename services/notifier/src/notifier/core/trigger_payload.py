"""Parse a trigger as the Redis channel and the HTTP API receive it.

Accepted shapes (JSON):

* ``{"account_id": "DU1", "execution": "rebalance"}`` (or ``"account_ids": [...]``,
  or ``"group": "..."``), with optional ``"targets": [{"symbol": "QQQ", "allocation": 0.6}]``
  and an optional ``"id"`` (the sender's own trigger id);
* for HTTP only, a bare list of allocations (the REST reference's body), the accounts then
  come from the query string.

Only the exact string ``"rebalance"`` asks to trade; anything else, or nothing, is a dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifier.core.errors import Refusal
from notifier.core.signing import SIGNATURE_FIELDS
from notifier.core.targets import rows_or_refuse
from shared.contracts.base import ExecutionMode, TargetWeight

KNOWN_FIELDS = frozenset(
    {"account_id", "account_ids", "group", "execution", "targets", "id", *SIGNATURE_FIELDS}
)


def execution_of(value: Any) -> ExecutionMode:
    """Return REBALANCE only for the exact string ``"rebalance"``; DRY_RUN for anything else."""
    return ExecutionMode.REBALANCE if value == "rebalance" else ExecutionMode.DRY_RUN


@dataclass(frozen=True)
class TriggerInput:
    """What an edge asks for, before the accounts are checked."""

    account_ids: tuple[str, ...]
    group: str | None
    execution: ExecutionMode
    targets: tuple[TargetWeight, ...] | None
    trigger_id: str | None = None


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refusal("invalid_trigger", f"{field} must be a non-empty string, got {value!r}")
    return value.strip()


def parse_trigger_object(payload: Any) -> TriggerInput:
    """Parse a trigger object; raise Refusal naming the first problem."""
    if not isinstance(payload, dict):
        raise Refusal(
            "invalid_trigger",
            'a trigger must be a JSON object such as {"account_id": "DU123", '
            '"execution": "rebalance"}',
        )
    unknown = sorted(set(payload) - KNOWN_FIELDS)
    if unknown:
        raise Refusal(
            "invalid_trigger",
            f"unknown field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(KNOWN_FIELDS))}",
        )
    accounts: list[str] = []
    if payload.get("account_id") is not None:
        accounts.append(_text(payload["account_id"], "account_id"))
    if payload.get("account_ids") is not None:
        ids = payload["account_ids"]
        if not isinstance(ids, list):
            raise Refusal("invalid_trigger", "account_ids must be a list of account ids")
        accounts.extend(_text(i, "account_ids[]") for i in ids)
    group = _text(payload["group"], "group") if payload.get("group") is not None else None
    if not accounts and group is None:
        raise Refusal("invalid_trigger", "name an account_id (or account_ids) or a group")
    if accounts and group is not None:
        raise Refusal("invalid_trigger", "give either accounts or a group, not both")
    targets = None
    if payload.get("targets") is not None:
        targets = rows_or_refuse(payload["targets"], "targets")
    trigger_id = payload.get("id")
    if trigger_id is not None:
        trigger_id = _text(trigger_id, "id")[:128]
    return TriggerInput(
        account_ids=tuple(dict.fromkeys(accounts)),
        group=group,
        execution=execution_of(payload.get("execution")),
        targets=targets,
        trigger_id=trigger_id,
    )
