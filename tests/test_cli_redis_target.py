"""CLI commands reach the Redis of the stack they are meant for: the running stack's, else
the one `REBALANCER_REDIS_PORT` names (with the home's password), never a hard-coded port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from rebalancer_cli.embedded_redis import RedisServer

BIN = Path(sys.executable).parent


def test_halt_without_a_running_stack_publishes_to_the_redis_of_rebalancer_redis_port(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "REBALANCER_HOME": str(tmp_path / "home"),
        "REBALANCER_REDIS_PORT": str(fresh_redis.port),
    }
    halt = subprocess.run(
        [str(BIN / "rebalancer"), "halt", "--reason", "drill"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert halt.returncode == 0, halt.stdout + halt.stderr
    client = redis.Redis.from_url(fresh_redis.url)
    try:
        entries = client.xrange("commands.plans.v1")
    finally:
        client.close()
    assert len(entries) == 1
    assert b"HaltTrading" in b"".join(entries[0][1].values())
