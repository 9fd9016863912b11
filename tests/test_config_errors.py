"""A bad configuration stops at once, in sentences, with exit code 2: each service given an
invalid accounts file, `rebalancer up` before starting anything, and the supervisor, which
does not restart a service that exited 2 (it used to loop, printing tracebacks)."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rebalancer_cli.embedded_redis import free_port
from rebalancer_cli.stack import ConsoleView, ProcessSpec, Stack
from rebalancer_cli.stackconfig import StackSettings

BIN = Path(sys.executable).parent
BAD = "accounts:\n  - {id: DU1, aproval: auto}\n  - {id: DU2, approval: always}\n"
SENTENCES = ("account DU1: aproval: unknown key", "account DU2: approval: Input should be")


@pytest.mark.parametrize(
    ("module", "prefix"),
    [
        ("gateway_bridge", "BRIDGE_"),
        ("planner", "PLANNER_"),
        ("executor", "EXECUTOR_"),
        ("notifier", "NOTIFIER_"),
    ],
)
def test_a_service_given_an_invalid_accounts_file_exits_2_with_every_problem(
    tmp_path: Path, module: str, prefix: str
) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(BAD)
    env = {
        **os.environ,
        "REBALANCER_ACCOUNTS_FILE": str(accounts),
        f"{prefix}REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing there
        f"{prefix}OPS_PORT": str(free_port()),
        f"{prefix}DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    for sentence in SENTENCES:
        assert sentence in done.stderr
    assert "Traceback" not in done.stderr
    assert "not started: fix the configuration" in done.stderr


def test_up_given_an_invalid_accounts_file_starts_nothing_and_exits_2(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(BAD)
    env = {
        **os.environ,
        "REBALANCER_HOME": str(tmp_path / "home"),
        "REBALANCER_REDIS_PORT": str(free_port()),
    }
    done = subprocess.run(
        [str(BIN / "rebalancer"), "up", "--accounts-file", str(accounts)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    for sentence in SENTENCES:
        assert sentence in said
    assert "started" not in done.stdout
    assert not (tmp_path / "home" / "stack.json").exists()


def test_up_refuses_a_gateway_address_it_cannot_read(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "rebalancer"), "up", "--gateway", "localhost:paper"],
        env={**os.environ, "REBALANCER_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "write HOST:PORT" in " ".join(done.stderr.split())


async def test_the_supervisor_does_not_restart_a_service_that_exited_2_it_stops(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    said: list[str] = []
    stack = Stack(
        StackSettings(home=tmp_path / "home"),
        view=ConsoleView(out=out, colour=False),
        echo=said.append,
    )
    (stack.home / "logs").mkdir(parents=True)
    code = "import sys; print('planner: account DU1: aproval: unknown key'); sys.exit(2)"
    await stack.spawn(ProcessSpec("planner", [sys.executable, "-c", code], {}))
    await asyncio.wait_for(stack.failed.wait(), 20)
    first = stack.running["planner"].process.pid
    await asyncio.sleep(1.5)  # a restart would have come within the first backoff (1 s)
    assert stack.failed.is_set()
    assert stack.running["planner"].process.pid == first
    assert stack.running["planner"].restarts == 0
    assert stack.failure is not None
    assert "refused its configuration" in stack.failure
    assert "account DU1: aproval: unknown key" in out.getvalue()
    assert not [line for line in said if "restarting" in line]
    await stack.stop()
