"""Fixtures of the notifier's tests: accounts, a running notifier, a local HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from notifier.main import Notifier, create_app
from notifier.settings import NotifierSettings
from rebalancer_testkit.ably_standin import AblyStandin
from rebalancer_testkit.http import LocalHttpServer
from rebalancer_testkit.notifier import DEFAULT_ACCOUNTS, TOKEN, make_accounts
from shared.accounts import Accounts


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


@pytest.fixture
def http_server() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer().start()
    yield server
    server.stop()


NotifierFactory = Callable[..., Any]


@pytest.fixture
async def start_notifier(redis_url: str) -> AsyncIterator[NotifierFactory]:
    """Return an async factory: ``await start_notifier(accounts, **settings)``."""
    started: list[Notifier] = []

    async def factory(
        accounts: Accounts | None = None, ably: Any = None, **overrides: Any
    ) -> Notifier:
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "api_port": 0,
            "api_token": TOKEN,
            "consumer_name": f"test-{len(started)}",
            "reclaim_idle_ms": 1000,
            "allocation_backoff_s": 0.01,
            "alert_batch_window_s": 0.05,
            "alert_retry_backoff_s": 0.01,
            **overrides,
        }
        notifier = create_app(
            NotifierSettings(**values),
            accounts if accounts is not None else make_accounts(*DEFAULT_ACCOUNTS),
            ably,
        )
        await notifier.start()
        started.append(notifier)
        return notifier

    yield factory
    for notifier in reversed(started):
        await notifier.stop()


@pytest.fixture
async def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AblyStandin]:
    """A local Ably (ably_standin.py) over TLS; this process's SDK clients trust its CA."""
    server = await AblyStandin(tmp_path / "ably", max_idle_interval_ms=2000).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
    yield server
    await server.stop()
