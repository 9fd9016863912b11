"""`rebalancer up --gateway HOST:PORT` as a user with their own TWS or IB Gateway runs it.

The user's gateway is an emulator started separately, on a port of its own. `up` starts Redis
and the services (the four, the ledger and the console) and no emulator, says which accounts
are paper before anything can trade, a paper account is rebalanced to its targets through that gateway, and the notifier's
public /health shows IB's state. Nothing answering the TWS API: one sentence, exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from rebalancer_cli.embedded_redis import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "DU1000001"
TARGETS = {
    "VTI": Decimal("0.40"),
    "VXUS": Decimal("0.20"),
    "BND": Decimal("0.30"),
    "GLD": Decimal("0.10"),
}


def _children(pid: int) -> dict[int, str]:
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(proc.name)] = (
                    (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
        except OSError:
            continue
    return found


@pytest.fixture
def own_gateway(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An emulator standing in for the user's TWS / IB Gateway, started on its own."""
    port, admin = free_port(), free_port()
    log = open(tmp_path / "gateway.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [str(BIN / "ib-emulator"), "--host", "127.0.0.1", "--port", str(port),
         "--admin-port", str(admin)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{admin}/state", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield port, admin
    process.send_signal(signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    ports = {
        "REBALANCER_REDIS_PORT": free_port(),
        "REBALANCER_IB_PORT": free_port(),  # must stay unused: no emulator child
        "REBALANCER_BRIDGE_OPS_PORT": free_port(),
        "REBALANCER_PLANNER_OPS_PORT": free_port(),
        "REBALANCER_EXECUTOR_OPS_PORT": free_port(),
        "REBALANCER_NOTIFIER_OPS_PORT": free_port(),
        "REBALANCER_API_PORT": free_port(),
        "REBALANCER_LEDGER_OPS_PORT": free_port(),
        "REBALANCER_CONSOLE_OPS_PORT": free_port(),
        "REBALANCER_CONSOLE_PORT": free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REBALANCER_", "BRIDGE_"))}
    return {
        **env,
        **{k: str(v) for k, v in ports.items()},
        "REBALANCER_HOME": str(tmp_path / "home"),
    }


def _weights(state: dict, account: str) -> dict[str, Decimal]:
    entry = next(a for a in state["accounts"] if a["id"] == account)
    values = {
        p["symbol"]: Decimal(p["quantity"]) * Decimal(p["market_price"])
        for p in entry["positions"]
        if Decimal(p["quantity"])
    }
    net = Decimal(str(entry["net_liquidation"]))
    return {symbol: value / net for symbol, value in values.items()}


def test_up_against_your_own_gateway_trades_a_paper_account_to_target_without_an_emulator(
    own_gateway: tuple[int, int], stack_env: dict[str, str], tmp_path: Path
) -> None:
    port, admin = own_gateway
    for name in ("accounts.yaml", "model.csv"):
        shutil.copy(ROOT / "deploy" / "demo" / name, tmp_path / name)
    up = subprocess.Popen(
        [str(BIN / "rebalancer"), "up", "--gateway", f"127.0.0.1:{port}", "--allow-orders",
         "--accounts-file", str(tmp_path / "accounts.yaml")],
        env=stack_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 240  # a loaded CI machine starts services slowly
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "stack ready" in line:
                break
        shown = "".join(lines)
        assert "stack ready" in shown, shown[-4000:]
        threading.Thread(target=up.stdout.read, daemon=True).start()  # keep the pipe drained

        # The paper/live summary comes before any service is started.
        summary = shown.index(f"{ACCOUNT} (paper)")
        assert summary < shown.index("started gateway-bridge")
        assert "orders allowed for the paper accounts" in shown
        children = _children(up.pid)
        assert len(children) == 7, children  # redis, four services, the ledger, the console
        assert not [c for c in children.values() if "ib-emulator" in c]

        home = Path(stack_env["REBALANCER_HOME"])
        state = json.loads((home / "stack.json").read_text())
        assert state["gateway"] == f"127.0.0.1:{port}"
        before = httpx.get(f"http://127.0.0.1:{admin}/state").json()
        assert "SPY" in _weights(before, ACCOUNT)  # held, not in the targets: to be sold

        rebalance = subprocess.run(
            [str(BIN / "rebalancer"), "rebalance", "--account", ACCOUNT, "--targets",
             str(tmp_path / "model.csv"), "--execute", "--yes", "--timeout", "60"],
            env=stack_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert rebalance.returncode == 0, rebalance.stdout[-3000:] + rebalance.stderr
        after = _weights(httpx.get(f"http://127.0.0.1:{admin}/state").json(), ACCOUNT)
        assert set(after) == set(TARGETS), after
        for symbol, target in TARGETS.items():
            assert abs(after[symbol] - target) < Decimal("0.02"), (symbol, after)

        api = stack_env["REBALANCER_API_PORT"]
        health = httpx.get(f"http://127.0.0.1:{api}/health", timeout=5).json()
        ib = health["ib"]
        assert ib["state"] == "ready", ib
        assert ib["connected"] is True
        assert ib["reconciled"] is True
        assert ib["gateway"] == f"127.0.0.1:{port}"
        assert ib["read_only"] is False
        assert ib["server_version"] >= 157
        assert len(ib["accounts"]) == 2
        assert ACCOUNT not in json.dumps(ib)  # masked without the token

        bad = tmp_path / "bad.csv"
        bad.write_text("symbol,weight\nVTI,0.5\nZZZZQ,0.5\n")
        validate = subprocess.run(
            [str(BIN / "rebalancer"), "validate", "--accounts-file",
             str(tmp_path / "accounts.yaml"), "--targets", str(bad)],
            env=stack_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        said = " ".join(validate.stdout.split())
        assert validate.returncode == 1, validate.stdout + validate.stderr
        assert f"{bad}: ZZZZQ: IB knows no such stock (200:" in said
        assert "1 problem(s)" in said
        assert "qualified at IB" in said

        accounts = subprocess.run(
            [str(BIN / "rebalancer"), "accounts", "--accounts-file",
             str(tmp_path / "accounts.yaml")],
            env=stack_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert accounts.returncode == 0, accounts.stdout + accounts.stderr
        assert "IB's view" in accounts.stdout
        assert "paper" in accounts.stdout
        assert "VTI" in accounts.stdout  # the positions IB reports after the rebalance

        status = subprocess.run(
            [str(BIN / "rebalancer"), "status"], env=stack_env, capture_output=True, text=True
        )
        assert "IB connection" in status.stdout
        assert "ready" in status.stdout
        assert ACCOUNT in status.stdout
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(90)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()


def test_up_says_in_one_sentence_when_nothing_answers_the_tws_api_and_exits_2(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    dead = free_port()
    done = subprocess.run(
        [str(BIN / "rebalancer"), "up", "--gateway", f"127.0.0.1:{dead}"],
        env=stack_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert f"nothing answers the TWS API at 127.0.0.1:{dead}" in said
    assert "is the API enabled" in said
    assert "7497" in said
    assert "4002" in said
    assert "Traceback" not in done.stdout + done.stderr
    assert "started redis" not in done.stdout  # nothing was started
