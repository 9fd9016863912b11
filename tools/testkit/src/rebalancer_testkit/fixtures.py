"""pytest fixtures for every service's tests (loaded by the root conftest).

* ``redis_server``: one Redis per test session (container or local binary), AOF on.
* ``redis_url``: the session server's URL, emptied before each test that uses it.
* ``fresh_redis``: a server of the test's own, which it may kill and restart (AOF kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rebalancer_cli.embedded_redis import RedisServer
from rebalancer_testkit.redis_servers import TestRedis, start_test_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRedis]:
    """One Redis server for the whole session."""
    server = start_test_redis(tmp_path_factory.mktemp("redis-session"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: TestRedis) -> str:
    """URL of the session's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own (local binary, AOF on) that it may kill and restart."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
