"""Fixtures of the cross-service tests: the real stack as processes (see ``e2e_stack.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    config.addinivalue_line("markers", "accounts(data): the accounts file of an e2e stack")
    config.addinivalue_line("markers", "executor_env(env): extra EXECUTOR_ environment")
