"""``commands.alerts.v1``: alerts for the humans, sent by the notifier."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import Command

STREAM = "commands.alerts.v1"

Severity = Literal["info", "warning", "critical"]


class SendAlert(Command):
    """Tell the humans something; ``dedupe_key`` lets bursts of the same alert collapse."""

    type: Literal["SendAlert"] = "SendAlert"
    severity: Severity = "warning"
    title: str
    text: str
    account_id: str | None = None
    plan_id: str | None = None
    dedupe_key: str | None = None


AlertCommand = Annotated[SendAlert, Field(discriminator="type")]
MESSAGES: tuple[type[Command], ...] = (SendAlert,)
