"""`ib-emulator record` and `compare`: traffic written both ways, redacted; replies compared."""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import replace
from pathlib import Path

import pytest
from ib_async import IB, MarketOrder, Stock

from ib_emulator import Emulator
from ib_emulator.compare import compare, kind, replay
from ib_emulator.main import parse_record_args
from ib_emulator.record import Recorder, cap_versions
from ib_emulator.recording import Message, Redactor, read_recording
from ib_emulator.wire import FrameDecoder, frame

from .conftest import wait_for
from .test_console_script import free_port, script

FIXTURE = Path(__file__).parent / "fixtures" / "emulator-session.jsonl"


async def record_a_session(emu: Emulator, out: Path, redactor: Redactor | None = None) -> None:
    async with Recorder(("127.0.0.1", emu.port), out, redactor=redactor) as rec:
        ib = IB()
        await ib.connectAsync("127.0.0.1", rec.port, clientId=3, timeout=5)
        await ib.accountSummaryAsync()
        [spy] = await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD"))
        trade = ib.placeOrder(spy, MarketOrder("BUY", 1, account="DU1000001", orderRef="r-1"))
        await wait_for(trade.isDone, message="fill")
        ib.disconnect()
        await wait_for(lambda: not emu.sessions, message="the relayed connection closed")


async def test_record_writes_every_message_both_ways_with_accounts_and_amounts_redacted(
    emulator: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    await record_a_session(emulator, out)
    head, messages = read_recording(out)
    assert head["redacted"] == ["accounts", "amounts"]
    names = {(m.dir, m.name) for m in messages}
    assert {("to_server", "handshake"), ("to_server", "startApi"), ("to_server", "placeOrder"),
            ("to_client", "serverVersion"), ("to_client", "execDetails"),
            ("to_client", "commissionReport")} <= names  # fmt: skip
    assert "DU1000001" not in out.read_text()
    [accounts] = [m for m in messages if m.name == "managedAccounts"]
    assert accounts.fields[2] == "DU0000001,DU0000002"
    [place] = [m for m in messages if m.name == "placeOrder"]
    assert "DU0000001" in place.fields
    assert "r-1" in place.fields
    summary = [m for m in messages if m.name == "accountSummary"]
    assert summary
    assert all(m.fields[5] == "0" for m in summary if kind(m.fields[5]) == "number")
    assert [m.t for m in messages] == sorted(m.t for m in messages)


async def test_record_can_keep_accounts_and_amounts(emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "raw.jsonl"
    await record_a_session(emulator, out, Redactor(accounts=False, amounts=False))
    head, messages = read_recording(out)
    assert head["redacted"] == []
    [accounts] = [m for m in messages if m.name == "managedAccounts"]
    assert accounts.fields[2] == "DU1000001,DU1000002"
    nlv = [m for m in messages if m.name == "accountSummary" and m.fields[4] == "NetLiquidation"]
    assert float(nlv[0].fields[5]) > 0


async def test_record_caps_the_version_range_so_a_real_gateway_answers_in_text(
    emulator: Emulator, tmp_path: Path
) -> None:
    assert cap_versions("v100..226 +PACEAPI", 176) == "v100..176 +PACEAPI"
    assert cap_versions("v157..176", 176) == "v157..176"
    out = tmp_path / "cap.jsonl"
    async with Recorder(("127.0.0.1", emulator.port), out) as rec:
        reader, writer = await asyncio.open_connection("127.0.0.1", rec.port)
        writer.write(b"API\0" + frame(b"v100..226"))  # what IB's ibapi 10.50 offers
        dec = FrameDecoder(expect_handshake=False)
        async with asyncio.timeout(3):
            [version] = dec.feed(await reader.read(1024))
        writer.close()
    assert version[0] == "176"
    _head, messages = read_recording(out)
    assert messages[0].fields == ["v100..176"]


def test_record_arguments_redact_by_default() -> None:
    args = parse_record_args(["--upstream", "127.0.0.1:4002", "--listen", "4010", "--out", "x"])
    assert args.no_redact == []
    assert args.version_cap == 176


def altered(messages: list[Message], name: str, change) -> list[Message]:  # type: ignore[no-untyped-def]
    """The recording with the first message called ``name`` changed."""
    out, done = [], False
    for m in messages:
        if m.name == name and not done:
            m, done = replace(m, fields=change(list(m.fields))), True
        out.append(m)
    return out


async def test_compare_finds_no_difference_on_the_shipped_recording_and_spots_changes() -> None:
    _head, recorded = read_recording(FIXTURE)
    replies = await replay(recorded)  # one replay (about 4 s, the recording's own pace)
    reports = compare(recorded, replies)
    by_name = {r.name: r for r in reports}
    assert {"openOrder", "orderStatus", "execDetails", "commissionReport", "completedOrder",
            "contractDetails", "accountSummary", "pnlSingle", "tickPrice"} <= set(by_name)  # fmt: skip
    assert [r.name for r in reports if not r.ok] == []

    def failing(messages: list[Message]) -> dict[str, list[str]]:
        return {
            r.name: [d.what for d in r.differences if d.blocking]
            for r in compare(messages, replies)
            if not r.ok
        }

    def status(f: list[str]) -> list[str]:
        return [*f[:2], "Inactive", *f[3:]]

    def price_as_text(f: list[str]) -> list[str]:
        return [*f[:20], "n/a", *f[21:]]

    assert failing(altered(recorded, "orderStatus", status)) == {"orderStatus": ["value"]}
    assert failing(altered(recorded, "openOrder", lambda f: f[:-1])) == {
        "openOrder": ["field_count"]
    }
    assert failing(altered(recorded, "execDetails", price_as_text)) == {
        "execDetails": ["field_kind"]
    }
    gone = [m for m in recorded if m.name != "completedOrder"]
    assert failing(gone) == {"completedOrder": ["extra"]}


async def test_console_script_records_and_compares(tmp_path: Path) -> None:
    rec_file = tmp_path / "cli.jsonl"
    async with Emulator() as emu:
        port = free_port()
        rec = await asyncio.create_subprocess_exec(
            script(), "record", "--upstream", f"127.0.0.1:{emu.port}", "--listen", str(port),
            "--out", str(rec_file), "--log-level", "WARNING", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert rec.stdout is not None
        async with asyncio.timeout(15):
            await rec.stdout.readline()
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=5, timeout=5)
        ib.disconnect()
        await wait_for(lambda: not emu.sessions, message="the relayed connection closed")
        rec.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await rec.wait() == 0
    _head, messages = read_recording(rec_file)
    assert any(m.name == "managedAccounts" for m in messages)
    proc = await asyncio.create_subprocess_exec(
        script(), "compare", str(rec_file), "--json", stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert all(row["ok"] for row in json.loads(out))


pytestmark = pytest.mark.timeout(120)
