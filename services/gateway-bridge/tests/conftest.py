"""Fixtures: the IB emulator in-process on an ephemeral port, the bridge in-process or as a
real subprocess, and a publisher of commands on a real Redis."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faststream.redis import RedisBroker

from gateway_bridge.main import create_app
from gateway_bridge.settings import GatewayBridgeSettings
from ib_emulator import Emulator
from rebalancer_cli.embedded_redis import free_port
from rebalancer_cli.processes import die_with_parent
from rebalancer_testkit.bridge_commands import write_accounts_file
from shared.contracts.base import Message
from shared.contracts.catalogue import stream_of
from shared.kit.service import Service

_consumers = itertools.count(1)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator with the default scenario (accounts DU1000001 and DU1000002)."""
    emu = Emulator(admin_port=0, seed=7)
    await emu.start()
    yield emu
    await asyncio.wait_for(emu.stop(), 20)


def bridge_settings(
    redis_url: str, emulator: Emulator, data_dir: Path, **overrides: Any
) -> GatewayBridgeSettings:
    """Settings for a bridge under test: fast timings, trading allowed."""
    values: dict[str, Any] = {
        "accounts_file": write_accounts_file(data_dir.parent / "accounts.yaml")
        if "accounts_file" not in overrides
        else overrides["accounts_file"],
        "redis_url": redis_url,
        "ib_port": emulator.port,
        "ib_client_id": 17,
        "data_dir": data_dir,
        "read_only": False,
        "ops_port": 0,
        "consumer_name": f"bridge-test-{next(_consumers)}",
        "reclaim_idle_ms": 500,
        "heartbeat_interval_s": 1.0,
        "heartbeat_timeout_s": 1.0,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 1.0,
        "connect_timeout_s": 3.0,
        "request_timeout_s": 5.0,
        "command_wait_s": 2.0,
        "ack_timeout_s": 5.0,
        "quote_timeout_s": 1.0,
        "price_throttle_ms": 0,
        "account_throttle_ms": 100,
        "subscriptions_per_s": 50.0,
        # No restart window in tests unless a test sets one.
        "restart_window_start": "03:00",
        "restart_window_end": "03:00",
    }
    values.update(overrides)
    return GatewayBridgeSettings(**values)


BridgeFactory = Callable[..., Any]


@pytest.fixture
async def start_bridge(
    redis_url: str, emulator: Emulator, tmp_path: Path
) -> AsyncIterator[BridgeFactory]:
    """Start in-process bridges (stopped afterwards); returns the Service."""
    services: list[Service] = []

    async def _start(**overrides: Any) -> Service:
        settings = bridge_settings(redis_url, emulator, tmp_path / "bridge", **overrides)
        service = create_app(settings)
        await service.start()
        services.append(service)
        return service

    yield _start
    for service in services:
        # Bounded, so a shutdown that hangs fails here with its name instead of at the timeout.
        await asyncio.wait_for(service.stop(), 20)


@pytest.fixture
async def publish(redis_url: str) -> AsyncIterator[Callable[[Message], Any]]:
    """Publish contract messages on their streams, as the executor would."""
    broker = RedisBroker(redis_url)
    await broker.connect()

    async def _publish(message: Message) -> None:
        await broker.publish(
            message.model_dump(mode="json"),
            stream=stream_of(message),
            correlation_id=message.message_id,
        )

    yield _publish
    await broker.stop()


class BridgeProcess:
    """The bridge as a real process (``python -m gateway_bridge``) that a test may SIGKILL."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._env = env
        self._log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.ops_port = int(env["BRIDGE_OPS_PORT"])

    def start(self) -> BridgeProcess:
        log = self._log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway_bridge"],
            env=self._env,
            stdout=log,
            stderr=log,
            preexec_fn=die_with_parent(os.getpid()),  # never outlives a killed test run
        )
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def bridge_process(
    redis_url: str, emulator: Emulator, tmp_path: Path
) -> Iterator[Callable[..., BridgeProcess]]:
    """Build bridge processes sharing one data folder (so a restart finds the journal)."""
    made: list[BridgeProcess] = []

    def _make(**env_overrides: str) -> BridgeProcess:
        env = {
            **os.environ,
            "BRIDGE_REDIS_URL": redis_url,
            "BRIDGE_IB_PORT": str(emulator.port),
            "BRIDGE_IB_CLIENT_ID": "17",
            "BRIDGE_DATA_DIR": str(tmp_path / "bridge-data"),
            "BRIDGE_OPS_PORT": str(free_port()),
            "BRIDGE_READ_ONLY": "false",
            "REBALANCER_ACCOUNTS_FILE": str(write_accounts_file(tmp_path / "accounts.yaml")),
            "BRIDGE_CONSUMER_NAME": "bridge-proc",
            "BRIDGE_RECLAIM_IDLE_MS": "500",
            "BRIDGE_BACKOFF_INITIAL_S": "0.1",
            "BRIDGE_BACKOFF_MAX_S": "1",
            "BRIDGE_HEARTBEAT_INTERVAL_S": "1",
            "BRIDGE_RESTART_WINDOW_START": "03:00",
            "BRIDGE_RESTART_WINDOW_END": "03:00",
            "BRIDGE_LOG_LEVEL": "INFO",
            **env_overrides,
        }
        process = BridgeProcess(env, tmp_path / "bridge.log").start()
        made.append(process)
        return process

    yield _make
    for process in made:
        process.stop()
