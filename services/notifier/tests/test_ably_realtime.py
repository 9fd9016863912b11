"""Ably through real components: the notifier as a process, the real SDK, a local Ably.

The notifier runs as a user runs it (``python -m notifier`` with ``NOTIFIER_*`` settings and an
accounts file) against a real Redis and the local Ably stand-in (``ably_standin.py``), which
the notifier's unmodified ``ably`` SDK reaches over TLS (``SSL_CERT_FILE`` trusts the
stand-in's throwaway CA). The test's own publishers and subscribers are real SDK clients too.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from notifier.main import run
from rebalancer_testkit.ably_standin import AblyStandin, realtime_client
from rebalancer_testkit.notifier import closed_port
from rebalancer_testkit.streams import read_stream
from shared.contracts import catalogue
from shared.contracts.base import ExecutionMode

CHANNEL = "rebalance-DU111"
FAILING_CHANNEL = "rebalance-DU222"


def accounts_yaml(path: Path) -> Path:
    """DU111 takes inline targets from its Ably channel; DU222's allocation URL is dead."""
    accounts = {
        "accounts": [
            {
                "id": "DU111",
                "approval": "auto",
                "allocation": {"targets": [{"symbol": "VTI", "weight": 1}]},
                "triggers": {"ably_channel": CHANNEL},
            },
            {
                "id": "DU222",
                "allocation": {"url": f"http://127.0.0.1:{closed_port()}/alloc", "retries": 0},
                "triggers": {"ably_channel": FAILING_CHANNEL},
            },
        ]
    }
    path.write_text(json.dumps(accounts))  # JSON is YAML
    return path


async def poll(probe: Callable[[], Awaitable[Any]], timeout_s: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout_s} s: {value!r}")
        await asyncio.sleep(0.05)


class NotifierProcess:
    """``python -m notifier`` with the given environment, its output kept in a file."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.ops_port = closed_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / f"notifier-{self.ops_port}.log"

    def start(self) -> NotifierProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env["NOTIFIER_OPS_PORT"] = str(self.ops_port)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def health(self) -> tuple[int, dict[str, Any]] | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"the notifier exited with {self.proc.returncode}:\n{self.output()[-4000:]}"
            )
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                answer = await http.get(f"http://127.0.0.1:{self.ops_port}/health")
        except httpx.HTTPError:
            return None
        return answer.status_code, answer.json()

    async def ready(self, timeout_s: float = 60) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            found = await self.health()
            return found[1] if found and found[0] == 200 else None

        return await poll(probe, timeout_s, "notifier /health 200")

    async def stop(self) -> int:
        """SIGTERM (a clean stop), then the exit code.

        Waits without blocking the event loop: the stand-in runs in it and must answer the
        notifier's CLOSE while it shuts down.
        """
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
        return self.proc.returncode


@pytest.fixture
def notifier_env(tmp_path: Path, redis_url: str, standin: AblyStandin) -> dict[str, str]:
    return {
        "REBALANCER_ACCOUNTS_FILE": str(accounts_yaml(tmp_path / "accounts.yaml")),
        "NOTIFIER_REDIS_URL": redis_url,
        "NOTIFIER_API_ENABLED": "false",
        "NOTIFIER_SCHEDULES_ENABLED": "false",
        "NOTIFIER_CONSUMER_NAME": "notifier-ably-test",
        "NOTIFIER_LOG_LEVEL": "DEBUG",
        "NOTIFIER_ABLY_API_KEY": standin.key,
        "NOTIFIER_ABLY_ENDPOINT": standin.host,
        "NOTIFIER_ABLY_PORT": str(standin.port),
        "NOTIFIER_ABLY_DISCONNECTED_RETRY_S": "0.5",
        "NOTIFIER_ABLY_REQUEST_TIMEOUT_S": "5",  # generous: CI machines are loaded
        "NOTIFIER_ALERT_ABLY_ACCOUNT_CHANNEL": "rebalancer-alerts:{account_id}",
        "NOTIFIER_ALERT_BATCH_WINDOW_S": "0.05",
        "NOTIFIER_ALERT_RETRY_BACKOFF_S": "0.05",
        "NOTIFIER_ALLOCATION_BACKOFF_S": "0.01",
        "SSL_CERT_FILE": str(standin.ca_file),
    }


@pytest.fixture
async def run_notifier(
    tmp_path: Path, notifier_env: dict[str, str]
) -> AsyncIterator[Callable[..., NotifierProcess]]:
    started: list[NotifierProcess] = []

    def factory(**overrides: str) -> NotifierProcess:
        process = NotifierProcess(tmp_path, {**notifier_env, **overrides}).start()
        started.append(process)
        return process

    yield factory
    for process in started:
        await process.stop()


async def triggers(client: aioredis.Redis) -> list[Any]:
    return await read_stream(client, catalogue.TRIGGERS)


async def trigger_ids(client: aioredis.Redis, n: int) -> list[str] | None:
    found = [t.trigger_id for t in await triggers(client)]
    return found if len(found) >= n else None


# ---------------------------------------------------------------------- (a) start, health


async def test_notifier_with_an_ably_key_starts_and_reports_the_ably_connection(
    run_notifier, standin: AblyStandin
) -> None:
    notifier = run_notifier()
    health = await notifier.ready()
    assert health["checks"]["ably"] == "ok"
    assert health["checks"]["redis"] == "ok"
    # Connected as the SDK does (RTN2: key, v, format) with protocol heartbeats, and attached
    # to each account's channel.
    assert standin.connects
    for connect in standin.connects:
        assert connect["key"] == "***"  # the stand-in masks what it records
        assert connect["format"] == "msgpack"
        assert connect["heartbeats"] == "true"
        assert connect["v"]
    await poll(lambda: _async(standin.attached(CHANNEL)), what="attached")
    await poll(lambda: _async(standin.attached(FAILING_CHANNEL)), what="attached")
    # The key never reaches the notifier's log, even at DEBUG (the SDK logs its URL).
    secret = standin.key.split(":", 1)[1]
    assert secret not in notifier.output()
    assert await notifier.stop() == 0


async def test_a_wrong_ably_key_fails_the_ably_check_but_the_notifier_keeps_running(
    run_notifier, standin: AblyStandin
) -> None:
    name = standin.key.split(":", 1)[0]
    notifier = run_notifier(NOTIFIER_ABLY_API_KEY=f"{name}:not-the-secret")

    async def ably_check() -> str | None:
        found = await notifier.health()
        check = found[1]["checks"].get("ably") if found else None
        return check if check and "failed" in check else None

    check = await poll(ably_check, timeout_s=60, what="ably check failed")  # incl. the start
    assert "40101" in check  # Ably's "invalid credentials", as Ably reports it
    status, body = await notifier.health()  # type: ignore[misc]
    assert status == 503
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["trigger_channel"] == "ok"


def test_a_malformed_ably_key_stops_the_start_with_a_clear_error(
    notifier_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for name, value in {**notifier_env, "NOTIFIER_ABLY_API_KEY": "not-a-key"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        run()  # the console script, as a user starts it
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "NOTIFIER_ABLY_API_KEY is not an Ably API key" in err
    assert "not-a-key" not in err


# ---------------------------------------------------------------------- (b) trigger in


async def test_an_ably_message_from_a_real_client_becomes_a_request_rebalance(
    run_notifier, standin: AblyStandin, client: aioredis.Redis
) -> None:
    await run_notifier().ready()
    publisher = realtime_client(standin)
    try:
        await publisher.channels.get(CHANNEL).publish("rebalance", {"execution": "rebalance"})
    finally:
        await publisher.close()
    [stored] = standin.history_of(CHANNEL)
    [request] = await poll(lambda: triggers(client), what="RequestRebalance")
    assert request.account_ids == ("DU111",)
    assert request.execution is ExecutionMode.REBALANCE
    assert request.trigger_source == "ably"
    assert request.trigger_id == stored.id  # the Ably message id, for dedupe and tracing
    assert request.requested_by == f"ably:{CHANNEL}"
    [allocation] = await poll(lambda: read_stream(client, catalogue.ALLOCATIONS))
    assert allocation.account_ids == ("DU111",)
    assert allocation.execution is ExecutionMode.REBALANCE


# ---------------------------------------------------------------------- (c) alert out


async def test_an_alert_goes_out_on_the_accounts_ably_channel(
    run_notifier, standin: AblyStandin, client: aioredis.Redis
) -> None:
    await run_notifier().ready()
    received: list[Any] = []
    subscriber = realtime_client(standin)
    try:
        await subscriber.channels.get("rebalancer-alerts:DU222").subscribe(
            lambda message: received.append(message)
        )
        # DU222's allocation URL is dead: the trigger ends in a SendAlert, sent to Ably.
        await standin.publish(FAILING_CHANNEL, "rebalance", {})
        [alert] = await poll(lambda: _async(received), what="alert on Ably")
    finally:
        await subscriber.close()
    assert alert.name == "alert"
    assert isinstance(alert.data, dict)  # JSON-encoded by the SDK, an object for subscribers
    [item] = alert.data["alerts"]
    assert item["account_id"] == "DU222"
    assert item["title"] == "Rebalance of DU222 refused: source_unreachable"
    # Acknowledged by the stand-in (RTN7): the publish went over the realtime connection.
    assert standin.frames_of("MESSAGE", "rebalancer-alerts:DU222")
    assert await triggers(client)  # the trigger itself went through


# ---------------------------------------------------------------------- (d) lost connections


def history_reads(standin: AblyStandin, channel: str) -> list[dict[str, Any]]:
    return [r for r in standin.rest_requests if r["path"] == f"/channels/{channel}/messages"]


async def test_the_notifier_recovers_from_each_kind_of_lost_connection_missing_nothing(
    run_notifier, standin: AblyStandin, client: aioredis.Redis
) -> None:
    """One notifier through three faults in a row; each message triggers exactly once."""
    standin.max_idle_interval_ms = 1000  # sent in CONNECTED: the SDK's idle limit (RTN23a)
    notifier = run_notifier()
    await notifier.ready()
    first = await standin.publish(CHANNEL, "rebalance", {"execution": "rebalance"})
    await poll(lambda: trigger_ids(client, 1), what="first trigger")

    # 1. The socket dies without a close frame (a dead network). The SDK resumes the same
    # connection (RTN15b, RTN15c6) and re-attaches from its channelSerial (RTL4c1): the
    # stand-in replays what was published meanwhile; no history read is needed.
    assert await standin.drop_connections() == 1
    dropped = await standin.publish(CHANNEL, "rebalance", {})
    await poll(lambda: trigger_ids(client, 2), what="trigger published while dropped")
    assert "resume" in standin.connects[-1]
    assert len(standin.connections) == 1
    assert standin.frames_of("ATTACH", CHANNEL)[-1].get("channelSerial")
    assert history_reads(standin, CHANNEL) == []
    await notifier.ready()

    # 2. A half-open socket: open, but nothing comes through. The SDK notices the silence
    # after maxIdleInterval + realtimeRequestTimeout (1 + 5 s) and resumes on a new socket.
    standin.stall_connections()
    stalled = await standin.publish(CHANNEL, "rebalance", {})
    await poll(lambda: trigger_ids(client, 3), timeout_s=40, what="trigger after a stall")
    assert "resume" in standin.connects[-1]
    await notifier.ready()

    # 3. Continuity lost (the connection state expired at Ably): the resume gets a new
    # connection with error 80008 (RTN15c7), the channel re-attaches without RESUMED, and the
    # adapter reads the channel's history since the connection was lost. That history also
    # holds the messages already handled: they do not trigger again.
    await standin.drop_connections()
    standin.forget_connections()
    lost = await standin.publish(CHANNEL, "rebalance", {})
    found = await poll(lambda: trigger_ids(client, 4), what="missed message caught up")
    [read] = history_reads(standin, CHANNEL)
    assert int(read["params"]["start"]) <= stalled.timestamp
    await notifier.ready()

    assert found == [first.id, dropped.id, stalled.id, lost.id]
    assert len(await triggers(client)) == 4


# ---------------------------------------------------------------------- (e) restart catch-up


async def test_messages_published_while_the_notifier_was_down_are_caught_up_once(
    run_notifier, standin: AblyStandin, client: aioredis.Redis
) -> None:
    first = run_notifier()
    await first.ready()
    seen = await standin.publish(CHANNEL, "rebalance", {"execution": "rebalance"})
    await poll(lambda: trigger_ids(client, 1), what="first trigger")
    assert await first.stop() == 0

    missed = await standin.publish(CHANNEL, "rebalance", {})  # nobody is listening
    # The notifier comes back while Ably cannot be reached: it starts anyway (Ably failing in
    # /health), and its catch-up waits for Ably rather than giving up.
    await standin.outage()
    second = run_notifier()

    async def started_without_ably() -> bool:
        found = await second.health()
        return bool(found) and found[1]["checks"].get("redis") == "ok" and found[0] == 503

    await poll(started_without_ably, timeout_s=60, what="started, Ably failing")
    await poll(
        lambda: _async([r for r in history_reads(standin, CHANNEL) if not r["available"]]),
        what="a catch-up attempt during the outage",
    )
    await standin.outage(down=False)
    found = await poll(lambda: trigger_ids(client, 2), what="caught-up trigger")
    await second.ready()

    assert found == [seen.id, missed.id]
    # The catch-up read history from the last message seen (inclusive): `seen` came back
    # and was recognised by its id.
    [read] = [r for r in history_reads(standin, CHANNEL) if r["available"]]
    assert int(read["params"]["start"]) <= seen.timestamp
    assert read["params"]["direction"] == "forwards"
    [request] = [t for t in await triggers(client) if t.trigger_id == missed.id]
    assert request.execution is ExecutionMode.DRY_RUN
    assert len(await triggers(client)) == 2
    assert await second.stop() == 0


async def _async(value: Any) -> Any:
    return value
