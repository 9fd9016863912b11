"""deploy/ib-gateway/window.sh, the compose gateway's entrypoint: the weekly window agrees with
the services' rule (shared.ib_gateway) minute for minute, across DST; outside it the gateway is
not started and the status says when it opens; IBC's 2FA prompts and logins reach the status
file the bridge reads, in the format it reads."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway_bridge.login_watch import prompt_of
from shared.ib_gateway import WeeklyWindow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "ib-gateway" / "window.sh"
WINDOW = "Sun 12:00-Fri 18:00"
TZ = "America/New_York"


def _check(at: datetime, window: str = WINDOW, tz: str = TZ) -> str:
    env = {
        **os.environ,
        "REBALANCER_GATEWAY_WINDOW": window,
        "REBALANCER_GATEWAY_WINDOW_TZ": tz,
        "WINDOW_NOW": str(int(at.timestamp())),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), "--check"], env=env, capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 12, 4, 17, 0, tzinfo=UTC),  # an ordinary week
        datetime(2026, 3, 6, 12, 0, tzinfo=UTC),  # the week New York springs forward
        datetime(2026, 10, 30, 12, 0, tzinfo=UTC),  # the week it falls back
    ],
)
def test_the_script_and_the_services_agree_on_the_window_and_the_next_opening(
    start: datetime,
) -> None:
    rule = WeeklyWindow.parse(WINDOW, TZ)
    assert rule is not None
    for step in range(0, 7 * 24 * 60, 7 * 24 * 60 // 24 + 7):  # 24 instants over the week
        at = start + timedelta(minutes=step)
        said = _check(at)
        if rule.is_open(at):
            assert said == "open", at
        else:
            assert said.startswith("closed "), (at, said)
            minutes = int(said.split()[1])
            expected = rule.next_open(at) - at.replace(second=0, microsecond=0)
            assert abs(minutes * 60 - expected.total_seconds()) <= 3600, (at, said, expected)
            if start.month == 12:  # no DST change in between: to the minute
                assert minutes * 60 == expected.total_seconds(), (at, said)


def test_an_empty_window_is_always_open_and_a_bad_one_is_refused() -> None:
    assert _check(datetime(2026, 12, 5, tzinfo=UTC), window="") == "open"
    env = {**os.environ, "REBALANCER_GATEWAY_WINDOW": "Someday 12:00-Fri 18:00"}
    done = subprocess.run(["bash", str(SCRIPT), "--check"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "is not a day and a time" in done.stderr


def _run(tmp_path: Path, fake: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(SCRIPT), "bash", "-c", fake],
        env={**os.environ, "GATEWAY_STATUS_FILE": str(tmp_path / "status.json"),
             "GATEWAY_WINDOW_POLL_S": "1", **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _status(tmp_path: Path, state: str, within_s: float = 15) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            status = json.loads((tmp_path / "status.json").read_text())
            if status["state"] == state:
                return status
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no status {state!r} within {within_s} s")


def test_outside_the_window_the_gateway_is_not_started_and_the_status_says_when_it_opens(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    window = f"{now - timedelta(hours=2):%a %H:%M}-{now - timedelta(hours=1):%a %H:%M}"
    marker = tmp_path / "started"
    run = _run(tmp_path, f"touch {marker}", REBALANCER_GATEWAY_WINDOW=window,
               REBALANCER_GATEWAY_WINDOW_TZ="UTC")  # fmt: skip
    try:
        status = _status(tmp_path, "window_closed")
        rule = WeeklyWindow.parse(window, "UTC")
        assert rule is not None
        opens = datetime.fromisoformat(status["next_open"].replace("Z", "+00:00"))
        assert abs((opens - rule.next_open(now)).total_seconds()) <= 60
        time.sleep(1.5)
        assert not marker.exists()
        assert run.poll() is None  # waiting for the opening
    finally:
        run.terminate()
        run.wait(10)
    assert run.returncode == 0  # `docker stop` while waiting is a clean exit


def test_2fa_prompts_and_the_login_reach_the_status_file_in_the_bridges_format(
    tmp_path: Path,
) -> None:
    fake = (
        "echo 'IBC: Starting Gateway'; "
        "echo 'IBC: detected dialog entitled: Second Factor Authentication; event=Opened'; "
        "echo 'IBC: Second Factor Authentication initiated'; "  # the same prompt, not a retry
        "sleep 2; "
        "echo 'IBC: detected dialog entitled: Second Factor Authentication; event=Opened'; "
        "sleep 2; echo 'IBC: Login has completed'; sleep 1; exit 3"
    )
    run = _run(tmp_path, fake, REBALANCER_GATEWAY_WINDOW="", GATEWAY_2FA_PROMPT_GAP_S="1")
    first = _status(tmp_path, "awaiting_2fa")
    assert first["attempt"] == 1
    prompt = prompt_of(json.dumps(first), datetime.now(UTC))
    assert prompt is not None
    assert prompt.attempt == 1
    retry = _status(tmp_path, "awaiting_2fa", within_s=15)
    deadline = time.monotonic() + 15
    while retry["attempt"] != 2 and time.monotonic() < deadline:
        retry = _status(tmp_path, "awaiting_2fa")
    assert retry["attempt"] == 2
    _status(tmp_path, "logged_in")
    out = run.communicate(timeout=30)[0]
    assert run.returncode == 3  # the gateway's own exit: compose restarts the container
    assert _status(tmp_path, "stopped")["exit_code"] == 3
    assert "IBC: Starting Gateway" in out  # the gateway's log is kept
    assert "waits for the IB Key approval (attempt 2)" in out
