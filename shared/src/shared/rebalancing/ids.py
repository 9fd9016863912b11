"""Plan ids and client order ids: made here, parsed here, nowhere else.

A client order id is ``<plan_id>.<leg>.<attempt>`` and travels to IB as ``orderRef``. Plan ids
never contain a dot, so the id splits one way only (the executor and the bridge used to split
it at different dots).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


class InvalidPlanId(ValueError):
    """A plan id that cannot be part of a client order id."""


def check_plan_id(plan_id: str) -> str:
    """Return ``plan_id`` if it can make client order ids, else raise InvalidPlanId."""
    if not plan_id or "." in plan_id or any(c.isspace() for c in plan_id):
        raise InvalidPlanId(
            f"plan id {plan_id!r} must be non-empty, without dots or spaces, because it is the "
            "first part of every client order id (<plan_id>.<leg>.<attempt>)"
        )
    return plan_id


def order_request_id(account_id: str, idempotency_key: str) -> str:
    """The request id of an operator's order: the same for the same account and key, so a
    repeat is recognised all the way down (allocation, plan, client order id)."""
    return hashlib.sha256(f"order\x1f{account_id}\x1f{idempotency_key}".encode()).hexdigest()[:32]


def plan_id_for(allocation_id: str, account_id: str) -> str:
    """Return the plan id of an allocation for an account: the same on every redelivery.

    ``pl-`` and 12 hex digits, so ``<plan_id>.<leg>.<attempt>`` stays parseable.
    """
    digest = hashlib.sha256(f"{allocation_id}\x1f{account_id}".encode()).hexdigest()
    return f"pl-{digest[:12]}"


@dataclass(frozen=True, order=True)
class ClientOrderId:
    """The id of one attempt at one leg of one plan."""

    plan_id: str
    leg: int
    attempt: int

    def __post_init__(self) -> None:
        check_plan_id(self.plan_id)
        if self.leg < 0 or self.attempt < 0:
            raise ValueError(f"leg and attempt must be 0 or more, got {self.leg}, {self.attempt}")

    def __str__(self) -> str:
        return f"{self.plan_id}.{self.leg}.{self.attempt}"

    @classmethod
    def parse(cls, value: str) -> ClientOrderId | None:
        """Read ``<plan_id>.<leg>.<attempt>``; None for an id that is not one of ours."""
        parts = value.split(".")
        if len(parts) != 3:
            return None
        plan_id, leg, attempt = parts
        if not plan_id or not leg.isdigit() or not attempt.isdigit():
            return None
        if any(c.isspace() for c in plan_id):
            return None
        return cls(plan_id, int(leg), int(attempt))

    def next_attempt(self) -> ClientOrderId:
        """The id of the next attempt at the same leg."""
        return ClientOrderId(self.plan_id, self.leg, self.attempt + 1)


def plan_id_of(client_order_id: str) -> str | None:
    """Return the plan id of a client order id, or None if it is not one of ours."""
    parsed = ClientOrderId.parse(client_order_id)
    return parsed.plan_id if parsed else None
