"""JSON log lines on stdout, with trace fields from a context and secrets redacted.

Each line carries ``ts``, ``level``, ``service``, ``logger``, ``message`` and, when known,
``correlation_id``, ``plan_id``, ``account_id``, ``client_order_id`` (set with
:func:`log_context`) plus any ``extra=`` fields. Every secret registered with
:func:`configure_logging` is replaced by ``***`` in the final line, whatever path it took
to get there (a message, an argument, an exception's text).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

TRACE_FIELDS = ("correlation_id", "plan_id", "account_id", "client_order_id")

_context: ContextVar[dict[str, str]] = ContextVar("log_context", default={})  # noqa: B039

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured duplicate of the message
}


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add trace fields (correlation_id, plan_id, ...) to every log line inside the block."""
    current = _context.get()
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, str]:
    """Return the trace fields in force."""
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    """Format records as one JSON object per line, redacting registered secrets."""

    def __init__(self, service: str, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.service = service
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Redact these values too from now on."""
        self._secrets = sorted(
            set(self._secrets) | {s for s in secrets if s}, key=len, reverse=True
        )

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context.get())
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        text = json.dumps(line, default=str, ensure_ascii=False)
        for secret in self._secrets:
            text = text.replace(secret, "***")
            escaped = json.dumps(secret)[1:-1]
            if escaped != secret:
                text = text.replace(escaped, "***")
        return text


def configure_logging(
    service: str,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> JsonFormatter:
    """Send every log record of the process to ``stream`` (stdout) as JSON lines."""
    formatter = JsonFormatter(service, secrets)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log every request or message at INFO would drown an operator's view.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return formatter
