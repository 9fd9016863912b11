"""A DEBUG log line per request, structured; and a clean shutdown with clients connected."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from ib_async import IB, MarketOrder

from ib_emulator import Emulator
from ib_emulator.wire import encode_fields, frame

from .conftest import stock, wait_for


async def test_debug_log_has_one_record_per_request_with_id_name_request_and_account(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ib_emulator")
    ib = IB()
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=7, timeout=5)
    trade = ib.placeOrder(
        await stock(ib, "SPY"), MarketOrder("BUY", 1, account="DU1000001", orderRef="secret-ref")
    )
    await wait_for(trade.isDone, message="fill")
    ib.disconnect()
    requests = [r for r in caplog.records if hasattr(r, "msg_id")]
    by_name = {r.msg_name: r for r in requests}
    assert {"startApi", "reqPositions", "reqContractDetails", "placeOrder"} <= set(by_name)
    place = [r for r in requests if r.msg_name == "placeOrder"]
    assert len(place) == 1
    assert (place[0].msg_id, place[0].req_id, place[0].account) == (
        3, trade.order.orderId, "DU1000001"
    )  # fmt: skip
    assert place[0].client_id == 7
    # Only ids and the account are logged, never a request's free text.
    ours = [r for r in caplog.records if r.name.startswith("ib_emulator")]
    assert not any("secret-ref" in r.getMessage() for r in ours)


def test_stopping_with_clients_connected_leaves_no_task_to_cancel() -> None:
    """Stop while a client is connected; asyncio.run must find nothing left to tear down."""
    problems: list[dict[str, Any]] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: problems.append(ctx))
        emu = Emulator()
        await emu.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        writer.write(b"API\0" + frame(b"v157..178") + encode_fields([71, 2, 1, ""]))
        await writer.drain()
        await reader.read(1)  # the server version: the session is up
        await emu.stop()
        writer.close()

    asyncio.run(run())
    assert problems == []
