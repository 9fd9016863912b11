"""Markers of the cross-service tests (the stack builder is ``rebalancer_testkit.e2e``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "accounts(data): the accounts file of an e2e stack")
    config.addinivalue_line("markers", "executor_env(env): extra EXECUTOR_ environment")
