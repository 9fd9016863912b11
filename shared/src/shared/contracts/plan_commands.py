"""``commands.plans.v1``: operator commands to the executor (CLI, HTTP API, notifier)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Command

STREAM = "commands.plans.v1"


class ApprovePlan(Command):
    """Approve a plan that waits for manual approval."""

    type: Literal["ApprovePlan"] = "ApprovePlan"
    plan_id: str
    approved_by: str


class CancelPlan(Command):
    """Stop a plan: pending approval is dropped, working orders are cancelled."""

    type: Literal["CancelPlan"] = "CancelPlan"
    plan_id: str
    reason: str = "cancelled by operator"
    requested_by: str | None = None


class HaltTrading(Command):
    """Kill switch: cancel every open order and refuse new plans until ResumeTrading."""

    type: Literal["HaltTrading"] = "HaltTrading"
    reason: str
    requested_by: str | None = None


class ResumeTrading(Command):
    """Lift a HaltTrading."""

    type: Literal["ResumeTrading"] = "ResumeTrading"
    requested_by: str | None = None


PlanCommand = Annotated[
    ApprovePlan | CancelPlan | HaltTrading | ResumeTrading, Field(discriminator="type")
]
MESSAGES: tuple[type[Command], ...] = (ApprovePlan, CancelPlan, HaltTrading, ResumeTrading)
