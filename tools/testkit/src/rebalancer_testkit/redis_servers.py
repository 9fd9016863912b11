"""Redis servers for tests: a container when a Docker engine is reachable, else a local binary.

Both kinds offer the same controls (``url``, ``kill()``, ``restart()``, ``stop()``) so a test
can crash Redis and bring it back with its AOF.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from rebalancer_cli.embedded_redis import RedisServer

log = logging.getLogger(__name__)


class TestRedis(Protocol):
    """A Redis server a test controls."""

    @property
    def url(self) -> str: ...

    def kill(self) -> None: ...

    def restart(self) -> object: ...

    def stop(self) -> None: ...


class ContainerRedis:
    """Redis in a container (testcontainers), with AOF on, restartable with its data."""

    def __init__(self) -> None:
        from testcontainers.redis import RedisContainer

        self._container = RedisContainer("redis:7-alpine").with_command(
            "redis-server --appendonly yes --appendfsync everysec"
        )
        self._container.start()

    @property
    def url(self) -> str:
        host = self._container.get_container_host_ip()
        port = self._container.get_exposed_port(6379)
        return f"redis://{host}:{port}/0"

    def kill(self) -> None:
        self._container.get_wrapped_container().kill()

    def restart(self) -> ContainerRedis:
        wrapped = self._container.get_wrapped_container()
        wrapped.start()
        return self

    def stop(self) -> None:
        self._container.stop()


def docker_available() -> bool:
    """Return whether a Docker engine answers (testcontainers raises at construction if not)."""
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


def start_test_redis(data_dir: Path, *, prefer_container: bool = True) -> TestRedis:
    """Start a Redis for tests: a container if Docker answers, else a local redis-server."""
    if prefer_container and docker_available():
        try:
            return ContainerRedis()
        except Exception as error:
            log.warning(
                "Docker answered but the Redis container failed (%s); using a binary", error
            )
    return RedisServer(data_dir).start()
