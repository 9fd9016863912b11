"""The real `ib-emulator` console script, started as a process, serves ib_async."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from ib_async import IB, MarketOrder, Stock

from rebalancer_cli.embedded_redis import free_port

from .conftest import wait_for


def script() -> str:
    found = shutil.which("ib-emulator") or str(Path(sys.executable).parent / "ib-emulator")
    assert Path(found).exists(), "ib-emulator console script is not installed"
    return found


async def test_console_script_serves_a_plain_ib_async_session() -> None:
    port, admin = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        script(), "--port", str(port), "--admin-port", str(admin), "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(15):
            line = await proc.stdout.readline()
        assert b"ready" in line
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=5)
        assert ib.positions()
        [spy] = await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD"))
        trade = ib.placeOrder(spy, MarketOrder("BUY", 1, account="DU1000001"))
        await wait_for(lambda: trade.orderStatus.status == "Filled", message="fill")
        ib.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await proc.wait()
    assert code == 0


async def test_bad_scenario_file_stops_the_script_with_the_field_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts: []\ninstruments: []\nprices: {start: {}}\n")
    proc = await asyncio.create_subprocess_exec(
        script(), "--scenario", str(bad), "--port", str(free_port()),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ},
    )  # fmt: skip
    async with asyncio.timeout(15):
        _out, err = await proc.communicate()
    assert proc.returncode == 2
    assert str(bad).encode() in err
    assert b"accounts" in err


pytestmark = pytest.mark.timeout(60)
