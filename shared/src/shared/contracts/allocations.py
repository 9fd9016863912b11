"""``events.allocations.v1``: resolved target allocations, one event per account or group."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import ExecutionMode, Message, TargetWeight
from shared.contracts.order_commands import ManualOrder

STREAM = "events.allocations.v1"

AllocationSourceKind = Literal["inline", "url", "csv", "config", "order"]


class TargetAllocationSet(Message):
    """Targets resolved for one account, or for every account of a group (one plan each)."""

    type: Literal["TargetAllocationSet"] = "TargetAllocationSet"
    allocation_id: str
    request_id: str | None = Field(default=None, description="message_id of the RequestRebalance.")
    account_ids: tuple[str, ...]
    group: str | None = None
    targets: tuple[TargetWeight, ...]
    execution: ExecutionMode = ExecutionMode.DRY_RUN
    source_kind: AllocationSourceKind = "inline"
    strategy_name: str | None = None
    as_of: datetime | None = Field(default=None, description="As-of time given by the source.")
    hold_for_approval: bool = Field(
        default=False, description="From the request: hold the plan for approval even if auto."
    )
    order: ManualOrder | None = Field(
        default=None, description="One order instead of targets (``targets`` is then empty)."
    )


AllocationEvent = Annotated[TargetAllocationSet, Field(discriminator="type")]
MESSAGES: tuple[type[Message], ...] = (TargetAllocationSet,)
