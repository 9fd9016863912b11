"""deploy/redis/redis.conf on a real redis-server, started the way the container starts it: AOF
on, the password from the secret required, the commands that would wipe the streams gone."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from rebalancer_cli.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def configured_redis(tool: Callable[[str], str], tmp_path: Path) -> Iterator[tuple[int, str]]:
    server = tool("redis-server")
    password = "0123abcd" * 8
    auth = tmp_path / "auth.conf"
    # What the compose command writes from /run/secrets/redis_password.
    auth.write_text(f'requirepass "{password}"\n')
    conf = (ROOT / "deploy" / "redis" / "redis.conf").read_text()
    conf = conf.replace("include /tmp/auth.conf", f"include {auth}")
    (tmp_path / "redis.conf").write_text(conf)
    port = free_port()
    process = subprocess.Popen(
        [server, str(tmp_path / "redis.conf"), "--port", str(port), "--dir", str(tmp_path),
         "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, password=password).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start with redis.conf"
                time.sleep(0.05)
        yield port, password
    finally:
        process.terminate()
        process.wait(10)


def test_redis_refuses_clients_without_the_password(configured_redis: tuple[int, str]) -> None:
    port, _ = configured_redis
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()


def test_redis_persists_streams_in_an_aof_fsynced_on_every_write(
    configured_redis: tuple[int, str],
) -> None:
    port, password = configured_redis
    client = redis.Redis(port=port, password=password, decode_responses=True)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    client.xgroup_create("commands.orders.v1", "gateway-bridge", id="0", mkstream=True)
    client.xadd("commands.orders.v1", {"data": "{}"})
    assert client.xlen("commands.orders.v1") == 1


def test_redis_has_no_flushall_or_flushdb(configured_redis: tuple[int, str]) -> None:
    port, password = configured_redis
    client = redis.Redis(port=port, password=password)
    for command in ("FLUSHALL", "FLUSHDB"):
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command(command)
