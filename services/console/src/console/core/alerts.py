"""What the Alerts page lists: the messages the notifier tells the humans about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.contracts.alerts import SendAlert
from shared.contracts.base import Message
from shared.contracts.gateway import GatewayConnected, GatewayDisconnected, GatewayError
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.contracts.plans import (
    PlanAwaitingApproval,
    PlanCompleted,
    PlanExpired,
    PlanFailed,
    PlanRejected,
)

Severity = Literal["info", "warning", "error", "critical"]


@dataclass(frozen=True)
class AlertRow:
    at: datetime
    severity: str
    title: str
    text: str
    account_id: str | None = None
    plan_id: str | None = None


def _reasons(event: PlanRejected | PlanFailed) -> str:
    return "; ".join(r.message for r in event.reasons) or "no reason given"


def alert_of(message: Message) -> AlertRow | None:  # noqa: C901 (one branch per message kind)
    """The alert a message stands for, or None for a message nobody is told about."""
    at = message.ts_event
    account = getattr(message, "account_id", None)
    plan = getattr(message, "plan_id", None)
    if isinstance(message, SendAlert):
        return AlertRow(at, message.severity, message.title, message.text, account, plan)
    if isinstance(message, PlanAwaitingApproval):
        text = f"{message.leg_count} legs; approve before {message.valid_until:%Y-%m-%d %H:%M} UTC"
        return AlertRow(at, "warning", "Plan awaits approval", text, account, plan)
    if isinstance(message, PlanCompleted):
        filled = sum(1 for leg in message.legs if leg.status == "filled")
        text = f"{filled} of {len(message.legs)} legs filled"
        return AlertRow(at, "info", "Plan completed", text, account, plan)
    if isinstance(message, PlanFailed):
        return AlertRow(at, "error", "Plan failed", _reasons(message), account, plan)
    if isinstance(message, PlanRejected):
        return AlertRow(at, "warning", "Plan rejected", _reasons(message), account, plan)
    if isinstance(message, PlanExpired):
        return AlertRow(at, "warning", "Plan expired", "not approved in time", account, plan)
    if isinstance(message, HaltTrading):
        return AlertRow(at, "critical", "Trading halted", message.reason)
    if isinstance(message, ResumeTrading):
        return AlertRow(at, "warning", "Trading resumed", "new plans may execute again")
    if isinstance(message, GatewayDisconnected):
        return AlertRow(at, "error", "Gateway disconnected", message.reason)
    if isinstance(message, GatewayConnected):
        return AlertRow(at, "info", "Gateway connected", f"{message.host}:{message.port}")
    if isinstance(message, GatewayError) and message.severity == "error":
        return AlertRow(at, "error", f"IB error {message.code}", message.message)
    return None
