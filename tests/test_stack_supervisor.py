"""The local stack's supervisor with real child processes: huge output lines, the restart
backoff, and `rebalancer down` stopping what a killed supervisor left behind."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rebalancer_cli.stack import ConsoleView, ProcessSpec, Stack
from rebalancer_cli.stackconfig import StackSettings, StackState

BIN = Path(sys.executable).parent


def _stack(tmp_path: Path, **kwargs: float) -> tuple[Stack, io.StringIO]:
    out = io.StringIO()
    stack = Stack(
        StackSettings(home=tmp_path / "home"),
        view=ConsoleView(out=out, colour=False),
        echo=lambda _text: None,
        **kwargs,
    )
    (stack.home / "logs").mkdir(parents=True)
    return stack, out


def _python(code: str, name: str = "child") -> ProcessSpec:
    return ProcessSpec(name, [sys.executable, "-c", code], {"PYTHONUNBUFFERED": "1"})


async def test_a_line_longer_than_64_kib_neither_hangs_the_child_nor_loses_the_line(
    tmp_path: Path,
) -> None:
    done = tmp_path / "done"
    # A 300 kB line, then 2 MB more output: a dead reader would block the child on the full pipe.
    code = (
        "import pathlib, sys\n"
        'print(\'{"level": "INFO", "message": "\' + \'x\' * 300_000 + \'"}\')\n'
        "for i in range(2000):\n"
        "    print('line', i, 'y' * 1000)\n"
        f"pathlib.Path({str(done)!r}).write_text('ok')\n"
        "import time; time.sleep(60)\n"
    )
    stack, out = _stack(tmp_path)
    await stack.spawn(_python(code))
    try:
        for _ in range(600):  # up to 30 s
            if done.exists():
                break
            await asyncio.sleep(0.05)
        assert done.exists(), "the child blocked writing its output"
        log = (stack.home / "logs" / "child.log").read_text()
        lines = log.splitlines()
        assert len(lines[0]) == 300_000 + len('{"level": "INFO", "message": ""}')
        assert lines[2000].startswith("line 1999 ")
        shown = out.getvalue().splitlines()
        assert max(len(line) for line in shown) < 3_000  # the console shows a cut version
        assert any(line.endswith("y" * 1000) for line in shown)
    finally:
        await asyncio.wait_for(stack.stop(timeout_s=5), 20)
    assert stack.running["child"].process.returncode is not None


@pytest.mark.parametrize(
    ("stable_after_s", "expected_restarts"),
    [(0.2, 1), (1_000.0, 2)],
    ids=["ran-a-while-backoff-starts-over", "crash-loop-backoff-grows"],
)
async def test_the_restart_backoff_starts_over_once_a_process_ran_a_while(
    tmp_path: Path, stable_after_s: float, expected_restarts: int
) -> None:
    stack, _ = _stack(tmp_path, stable_after_s=stable_after_s)
    await stack.spawn(_python("import time; time.sleep(0.4)"))
    pids = {stack.running["child"].process.pid}
    try:
        deadline = time.monotonic() + 30
        while len(pids) < 3 and time.monotonic() < deadline:  # the first run and two restarts
            pids.add(stack.running["child"].process.pid)
            await asyncio.sleep(0.02)
        assert len(pids) == 3
        assert stack.running["child"].restarts == expected_restarts
    finally:
        await asyncio.wait_for(stack.stop(timeout_s=5), 20)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_down_stops_what_a_killed_supervisor_left_and_never_a_stranger(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    sleeper = "import time; time.sleep(120)"
    orphan = subprocess.Popen(
        [sys.executable, "-c", sleeper, "gateway_bridge"], start_new_session=True
    )
    stranger = subprocess.Popen([sys.executable, "-c", sleeper, "something-else"])
    try:
        StackState(
            pid=_dead_pid(),
            started_at="2026-12-01T00:00:00+00:00",
            redis_url="redis://127.0.0.1:1/0",
            children={"gateway-bridge": orphan.pid, "planner": stranger.pid},
            markers={"gateway-bridge": "gateway_bridge", "planner": "planner"},
        ).write(home / "stack.json")
        down = subprocess.run(
            [str(BIN / "rebalancer"), "down", "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert down.returncode == 0, down.stdout + down.stderr
        deadline = time.monotonic() + 20
        while orphan.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert orphan.poll() is not None
        assert stranger.poll() is None  # its pid was recorded, its command line is not ours
        assert not (home / "stack.json").exists()
    finally:
        for process in (orphan, stranger):
            if process.poll() is None:
                process.kill()
            process.wait()
