"""A plan as the executor knows it: a frozen record, and one ``apply`` of the plan's events.

``apply`` is the only way a plan's status changes. Live, the executor publishes each event its
decisions produce and applies it to the record; after a restart, :func:`replay` folds the
same events, read back from ``events.plans.v1``, through the same ``apply``. There is no
second implementation of recovery. The transitions are the public table of
:mod:`shared.plans.view`, applied strictly here: an unlisted move is a broken invariant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from shared.contracts.base import Message, Side
from shared.contracts.plans import PlanLeg, PlanProposed
from shared.plans.view import (
    ACTIVE,
    OPEN,
    TERMINAL,
    TRANSITIONS,
    PlanStatus,
    PlanView,
    fold,
    next_status,
)

__all__ = [
    "ACTIVE",
    "OPEN",
    "TERMINAL",
    "IllegalTransition",
    "PlanRecord",
    "PlanStatus",
    "apply",
    "can",
    "replay",
]


class IllegalTransition(ValueError):
    """An event that the transitions table does not list for the plan's status."""


@dataclass(frozen=True)
class PlanRecord:
    """One plan: its proposal and the view of its life so far."""

    proposal: PlanProposed
    view: PlanView

    @property
    def plan_id(self) -> str:
        return self.proposal.plan_id

    @property
    def account_id(self) -> str:
        return self.proposal.account_id

    @property
    def status(self) -> PlanStatus:
        return self.view.status

    def legs(self, side: Side) -> list[PlanLeg]:
        """The plan's stock legs of one side, in plan order (FX legs: :meth:`fx_legs`)."""
        return [leg for leg in self.proposal.legs if leg.side == side and leg.sec_type != "CASH"]

    def fx_legs(self) -> list[PlanLeg]:
        """The plan's FX legs (run after the sells, before the buys), in plan order."""
        return [leg for leg in self.proposal.legs if leg.sec_type == "CASH"]

    def leg(self, number: int) -> PlanLeg:
        """The leg numbered ``number``."""
        return next(leg for leg in self.proposal.legs if leg.leg == number)


def can(record: PlanRecord, event_type: type[Message]) -> bool:
    """Whether an event of ``event_type`` may follow the record's status."""
    return (record.status, event_type) in TRANSITIONS


def apply(record: PlanRecord | None, event: Message) -> PlanRecord:
    """Return the record after ``event``; raise IllegalTransition for an unlisted move."""
    before = record.status if record else None
    if next_status(before, event) is None:
        what = before.value if before else "unknown"
        raise IllegalTransition(f"a {what} plan cannot take {type(event).__name__}")
    if record is None:
        if not isinstance(event, PlanProposed):
            raise IllegalTransition(f"{type(event).__name__} for a plan never proposed")
        view = fold(None, event)
        assert view is not None
        return PlanRecord(event, view)
    view = fold(record.view, event)
    assert view is not None
    return replace(record, view=view)


def replay(events: Iterable[Message]) -> dict[str, PlanRecord]:
    """The records of every plan proposed in ``events`` (stream order), through ``apply``.

    Events about plans never proposed (a planner's rejection) and moves the table does not
    list (a redelivery published twice) are skipped: the first one counted.
    """
    records: dict[str, PlanRecord] = {}
    for event in events:
        plan_id = getattr(event, "plan_id", None)
        if not plan_id:
            continue
        record = records.get(plan_id)
        if record is None and not isinstance(event, PlanProposed):
            continue
        try:
            records[plan_id] = apply(record, event)
        except IllegalTransition:
            continue
    return records
