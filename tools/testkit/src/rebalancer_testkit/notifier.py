"""Test support of the notifier: the API token, accounts built from dicts, metrics, ports."""

from __future__ import annotations

import socket
from typing import Any

from notifier.main import Notifier
from shared.accounts import Accounts, parse_accounts

TOKEN = "test-token-123"


def make_accounts(*accounts: dict[str, Any], **extra: Any) -> Accounts:
    """Build Accounts from plain dicts (the YAML's shape)."""
    return parse_accounts({"accounts": list(accounts), **extra})


DEFAULT_ACCOUNTS = (
    {"id": "DU111", "groups": ["family"], "approval": "auto"},
    {"id": "DU222", "groups": ["family"]},
    {"id": "DU333", "triggers": {"redis": False, "http": False}},
)


def closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(notifier: Notifier, name: str, **labels: str) -> float:
    """Return a sample of the notifier's registry (0 when absent)."""
    value = notifier.service.metrics.registry.get_sample_value(name, labels)
    return value or 0.0
