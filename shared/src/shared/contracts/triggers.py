"""``commands.triggers.v1``: requests to rebalance, from the notifier's edges and the CLI."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Command, ExecutionMode, TargetWeight
from shared.contracts.order_commands import ManualOrder

STREAM = "commands.triggers.v1"

TriggerSource = Literal["redis", "ably", "http", "schedule", "cli"]


class RequestRebalance(Command):
    """Rebalance the named accounts (or a group) to their targets.

    ``targets`` inline overrides the accounts' configured allocation source. Only
    ``execution == "rebalance"`` may lead to orders; anything else is a dry run.
    """

    type: Literal["RequestRebalance"] = "RequestRebalance"
    account_ids: tuple[str, ...] = ()
    group: str | None = None
    execution: ExecutionMode = ExecutionMode.DRY_RUN
    targets: tuple[TargetWeight, ...] | None = None
    trigger_source: TriggerSource = "cli"
    trigger_id: str | None = Field(
        default=None, description="Id given by the edge (Ably message id, HTTP request id)."
    )
    requested_by: str | None = None
    hold_for_approval: bool = Field(
        default=False,
        description="Hold the plan for an ApprovePlan even when the account's approval is auto "
        "(the CLI's prompt before any account trades).",
    )
    order: ManualOrder | None = Field(
        default=None,
        description="One order instead of targets: a one-leg plan for one account.",
    )


TriggerCommand = Annotated[RequestRebalance, Field(discriminator="type")]
MESSAGES: tuple[type[Command], ...] = (RequestRebalance,)
