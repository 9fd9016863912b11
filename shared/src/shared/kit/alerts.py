"""One way to build a SendAlert: for what is not an event on a stream (a dead letter, a
refused trigger, a source that failed). Plan outcomes are events; the notifier alone decides
which of them a human hears about."""

from __future__ import annotations

from datetime import timedelta

from shared.contracts.alerts import SendAlert, Severity
from shared.contracts.base import utc_now

ALERT_VALID_FOR = timedelta(hours=1)


def send_alert(
    source: str,
    title: str,
    text: str,
    *,
    dedupe_key: str,
    severity: Severity = "warning",
    correlation_id: str | None = None,
    account_id: str | None = None,
    plan_id: str | None = None,
) -> SendAlert:
    """A SendAlert valid for an hour; ``dedupe_key`` collapses a burst of the same alert."""
    return SendAlert(
        source=source,
        correlation_id=correlation_id,
        valid_until=utc_now() + ALERT_VALID_FOR,
        severity=severity,
        title=title,
        text=text,
        account_id=account_id,
        plan_id=plan_id,
        dedupe_key=dedupe_key,
    )
