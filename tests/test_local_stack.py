"""`rebalancer up` as a user runs it: every process starts, `status` shows them, a second `up`
is refused, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from rebalancer_cli.embedded_redis import free_port

BIN = Path(sys.executable).parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purpose once reaped or defunct.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(proc.name))
    return found


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    ports = {
        "REBALANCER_REDIS_PORT": free_port(),
        "REBALANCER_IB_PORT": free_port(),
        "REBALANCER_IB_ADMIN_PORT": free_port(),
        "REBALANCER_BRIDGE_OPS_PORT": free_port(),
        "REBALANCER_PLANNER_OPS_PORT": free_port(),
        "REBALANCER_EXECUTOR_OPS_PORT": free_port(),
        "REBALANCER_NOTIFIER_OPS_PORT": free_port(),
        "REBALANCER_LEDGER_OPS_PORT": free_port(),
        "REBALANCER_API_PORT": free_port(),
        "REBALANCER_CONSOLE_OPS_PORT": free_port(),
        "REBALANCER_CONSOLE_PORT": free_port(),
    }
    return {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        "REBALANCER_HOME": str(tmp_path / "home"),
    }


def test_up_starts_every_service_status_shows_them_and_ctrl_c_leaves_nothing(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    up = subprocess.Popen(
        [str(BIN / "rebalancer"), "up"],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    home = tmp_path / "home"
    try:
        deadline = time.monotonic() + 120
        lines: list[str] = []
        assert up.stdout is not None
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "stack ready" in line:
                break
        assert any("stack ready" in line for line in lines), "".join(lines[-40:])
        children = _children(up.pid)
        assert len(children) == 8  # redis, emulator, four services, the ledger and the console

        status = subprocess.run(
            [str(BIN / "rebalancer"), "status"], env=stack_env, capture_output=True, text=True
        )
        assert status.returncode == 0, status.stdout + status.stderr
        for name in (
            "gateway-bridge",
            "planner",
            "executor",
            "notifier",
            "ledger",
            "console",
            "redis",
        ):
            assert name in status.stdout
        assert "NOT READY" not in status.stdout
        assert "commands.orders.v1" in status.stdout  # streams and their groups are listed

        second = subprocess.run(
            [str(BIN / "rebalancer"), "up"],
            env=stack_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert str(up.pid) in second.stderr

        state = json.loads((home / "stack.json").read_text())
        ops = state["ops_ports"]
        assert httpx.get(f"http://127.0.0.1:{ops['planner']}/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ops['ledger']}/health").status_code == 200

        up.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest = up.communicate(timeout=90)[0]
        assert up.returncode == 0, rest[-2000:]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        assert not [pid for pid in children if _alive(pid)]
        assert not (home / "stack.json").exists()
        logs = {p.name for p in (home / "logs").iterdir()}
        assert {"gateway-bridge.log", "planner.log", "executor.log", "notifier.log"} <= logs
        assert "ledger.log" in logs
        assert (home / "data" / "ledger" / "ledger.sqlite3").exists()
        assert (home / "redis" / "appendonlydir").exists() or list((home / "redis").glob("*.aof"))
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def _wait_ready(up: subprocess.Popen[str]) -> list[str]:
    deadline = time.monotonic() + 120
    lines: list[str] = []
    assert up.stdout is not None
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "stack ready" in line:
            return lines
    raise AssertionError("".join(lines[-40:]))


def _healthy(ops: dict[str, int]) -> bool:
    try:
        return all(
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            for port in ops.values()
        )
    except httpx.HTTPError:
        return False


def _poll(probe: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.2)
    return probe()


def test_redis_needs_the_stack_password_is_restarted_when_killed_and_kill_9_of_up_leaves_nothing(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    up = subprocess.Popen(
        [str(BIN / "rebalancer"), "up"],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: set[int] = set()
    try:
        _wait_ready(up)
        # Keep draining the supervisor's console so it never blocks on a full pipe.
        assert up.stdout is not None
        drain = threading.Thread(target=up.stdout.read, daemon=True)
        drain.start()
        state = json.loads((home / "stack.json").read_text())
        port = int(stack_env["REBALANCER_REDIS_PORT"])
        password_file = home / "redis.password"
        assert password_file.stat().st_mode & 0o077 == 0  # readable by its owner only
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()
        assert password_file.read_text().strip() not in (home / "stack.json").read_text()
        assert redis.Redis(port=port, password=password_file.read_text().strip()).ping()

        old_redis = state["children"]["redis"]
        os.kill(old_redis, signal.SIGKILL)
        assert _poll(
            lambda: json.loads((home / "stack.json").read_text())["children"]["redis"] != old_redis,
            within_s=30,
        ), "Redis was not restarted"
        assert _poll(lambda: _healthy(state["ops_ports"]), within_s=60)

        children = _children(up.pid)
        assert len(children) == 8
        up.kill()  # kill -9 of the supervisor
        up.wait()
        assert _poll(lambda: not any(_alive(pid) for pid in children), within_s=30), [
            pid for pid in children if _alive(pid)
        ]
        down = subprocess.run(
            [str(BIN / "rebalancer"), "down"], env=stack_env, capture_output=True, text=True
        )
        assert "left nothing running" in down.stderr
        assert not (home / "stack.json").exists()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
