"""Alerts as values: which events are worth telling, how bursts collapse, how text reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from shared.contracts.alerts import SendAlert
from shared.contracts.base import Message
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.contracts.plans import (
    PlanAwaitingApproval,
    PlanCompleted,
    PlanDryRunReported,
    PlanExpired,
    PlanFailed,
    PlanRejected,
)

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
ICON = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}  # noqa: RUF001 (chat apps show them)


@dataclass(frozen=True)
class Alert:
    """One thing to tell the humans; ``count`` > 1 after a burst collapsed into it."""

    severity: Severity
    title: str
    text: str
    at: datetime
    account_id: str | None = None
    plan_id: str | None = None
    correlation_id: str | None = None
    dedupe_key: str | None = None
    count: int = 1
    skip: frozenset[str] = field(default=frozenset())
    """Destinations not to send to (an alert about a failing destination skips that one)."""

    def as_json(self) -> dict[str, Any]:
        """Return the alert as a JSON-ready dict."""
        return {
            "severity": self.severity,
            "title": self.title,
            "text": self.text,
            "at": self.at.isoformat(),
            "account_id": self.account_id,
            "plan_id": self.plan_id,
            "correlation_id": self.correlation_id,
            "dedupe_key": self.dedupe_key,
            "count": self.count,
        }


def from_send_alert(command: SendAlert) -> Alert:
    """Turn a SendAlert command into an Alert."""
    return Alert(
        severity=command.severity,
        title=command.title,
        text=command.text,
        at=command.ts_event,
        account_id=command.account_id,
        plan_id=command.plan_id,
        correlation_id=command.correlation_id,
        dedupe_key=command.dedupe_key,
    )


def _reasons(reasons: Any) -> str:
    return "; ".join(f"{r.message} ({r.code})" for r in reasons) or "no reason given"


def from_event(event: Message) -> Alert | None:
    """Return the alert an event is worth, or None: one alert per plan outcome.

    The notifier is the one place that decides what a human hears about; the executor only
    publishes its decisions as events. A proposal is not an outcome (the executor's decision
    on it is), and a PlanRejected from the notifier itself is skipped: it sent its own
    SendAlert, saying which source failed.
    """
    base: dict[str, Any] = {
        "at": event.ts_event,
        "correlation_id": event.correlation_id,
        "account_id": getattr(event, "account_id", None),
        "plan_id": getattr(event, "plan_id", None),
    }
    if isinstance(event, PlanAwaitingApproval):
        return Alert(
            severity="warning",
            title=f"Plan for {event.account_id} awaits approval",
            text=f"Plan {event.plan_id}: {event.leg_count} order(s); approve with `rebalancer "
            f"approve {event.plan_id}` or POST /api/v1/plans/{event.plan_id}/approve before "
            f"{event.valid_until.isoformat()}.",
            dedupe_key=f"plan:{event.plan_id}",
            **base,
        )
    if isinstance(event, PlanDryRunReported):
        return Alert(
            severity="info",
            title=f"Plan for {event.account_id} reported (dry run)",
            text=f"Plan {event.plan_id} was reported and will not trade: {event.why}.",
            dedupe_key=f"plan:{event.plan_id}",
            **base,
        )
    if isinstance(event, PlanRejected):
        if event.source == "notifier":
            return None
        return Alert(
            severity="warning",
            title=f"Plan for {event.account_id} rejected ({event.stage})",
            text=_reasons(event.reasons),
            dedupe_key=f"rejected:{event.account_id}:{event.stage}",
            **base,
        )
    if isinstance(event, PlanCompleted):
        filled = sum(1 for leg in event.legs if leg.status == "filled")
        return Alert(
            severity="info",
            title=f"Plan for {event.account_id} completed",
            text=f"Plan {event.plan_id}: {filled}/{len(event.legs)} order(s) filled."
            + (f" Report: {event.report_path}" if event.report_path else ""),
            **base,
        )
    if isinstance(event, PlanFailed):
        return Alert(
            severity="critical",
            title=f"Plan for {event.account_id} failed",
            text=f"Plan {event.plan_id}: {_reasons(event.reasons)}",
            **base,
        )
    if isinstance(event, PlanExpired):
        return Alert(
            severity="warning",
            title=f"Plan for {event.account_id} expired",
            text=f"Plan {event.plan_id} was not approved in time and will not execute.",
            **base,
        )
    if isinstance(event, HaltTrading):
        return Alert(
            severity="critical",
            title="Trading halted",
            text=f"{event.reason} (by {event.requested_by or event.source}); open orders are "
            "cancelled and no plan executes until ResumeTrading.",
            dedupe_key="halt",
            **base,
        )
    if isinstance(event, ResumeTrading):
        return Alert(
            severity="warning",
            title="Trading resumed",
            text=f"Resumed by {event.requested_by or event.source}.",
            dedupe_key="halt",
            **base,
        )
    return None


def collapse(alerts: list[Alert]) -> list[Alert]:
    """Merge alerts sharing a dedupe key (keeping the first, counting the rest)."""
    merged: dict[str, Alert] = {}
    order: list[str] = []
    for index, alert in enumerate(alerts):
        key = alert.dedupe_key or f"#{index}"
        if key in merged:
            first = merged[key]
            worst = max(first.severity, alert.severity, key=SEVERITY_RANK.__getitem__)
            merged[key] = replace(
                first, count=first.count + alert.count, severity=worst, text=alert.text
            )
        else:
            merged[key] = alert
            order.append(key)
    return [merged[k] for k in order]


def render(batch: list[Alert]) -> str:
    """Plain text of a batch, one paragraph per alert."""
    parts = []
    for alert in batch:
        repeat = f" (x{alert.count})" if alert.count > 1 else ""
        parts.append(f"{ICON[alert.severity]} {alert.title}{repeat}\n{alert.text}")
    return "\n\n".join(parts)


def headline(batch: list[Alert]) -> str:
    """A one-line title for a batch."""
    if len(batch) == 1:
        return batch[0].title
    return f"{len(batch)} rebalancer alerts"


def worst(batch: list[Alert]) -> Severity:
    """The most severe level in a batch."""
    return max((a.severity for a in batch), key=SEVERITY_RANK.__getitem__)
