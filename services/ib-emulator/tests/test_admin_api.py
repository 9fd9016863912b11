"""The admin HTTP API, spoken to with a plain HTTP client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ib_async import IB, MarketOrder

from ib_emulator import Emulator

from .conftest import stock, wait_for


async def http(
    emu: Emulator, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """One HTTP/1.1 request to the admin port; returns (status, json)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.admin_port)
    payload = json.dumps(body).encode() if body is not None else b""
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, data = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(data)


async def test_state_lists_accounts_cash_and_positions(emulator: Emulator) -> None:
    status, state = await http(emulator, "GET", "/state")
    assert status == 200
    acct = state["accounts"][0]
    assert acct["id"] == "DU1000001"
    assert acct["cash"] == "25000.0"
    assert {p["symbol"] for p in acct["positions"]} == {"SPY", "BND", "VXUS", "GLD"}


async def test_orders_lists_every_order_with_fills(emulator: Emulator, ib: IB) -> None:
    trade = ib.placeOrder(
        await stock(ib, "SPY"), MarketOrder("BUY", 2, account="DU1000001", orderRef="adm")
    )
    await wait_for(trade.isDone)
    _, body = await http(emulator, "GET", "/orders")
    [row] = body["orders"]
    assert row["order_ref"] == "adm"
    assert row["perm_id"] == trade.order.permId
    assert row["status"] == "Filled"
    assert row["contract"]["symbol"] == "SPY"
    assert len(row["fills"]) == 1


async def test_post_prices_moves_a_price(emulator: Emulator) -> None:
    status, body = await http(emulator, "POST", "/prices", {"symbol": "GLD", "last": 240})
    assert status == 200
    assert body["prices"]["GLD"]["last"] == "240.00"
    status, body = await http(
        emulator, "POST", "/prices", {"prices": [{"symbol": "GLD", "move_pct": -10}]}
    )
    assert body["prices"]["GLD"]["last"] == "216.00"


async def test_fault_endpoints_set_fault_state(emulator: Emulator) -> None:
    calls = [
        ("/faults/reject-orders", {"count": 2, "code": 201, "reason": "No", "mode": "inactive"}),
        ("/faults/hold-fills", {"enabled": True}),
        ("/faults/partial-fills", {"fraction": 0.5}),
        ("/faults/ack-delay", {"seconds": 0.2}),
        ("/faults/pacing", {"enabled": True, "limit": 50}),
        ("/faults/nan-prices", {"enabled": True}),
        ("/faults/connectivity-lost", {"restore_after": 0.1, "restore_code": 1101}),
        ("/faults/competing-session", {}),
        ("/faults/drop-connections", {}),
    ]
    for path, body in calls:
        status, _ = await http(emulator, "POST", path, body)
        assert status == 200, path
    _, faults = await http(emulator, "GET", "/faults")
    assert faults["reject_remaining"] == 2
    assert faults["hold_fills"] is True
    assert faults["partial_fill_fraction"] == 0.5
    _, faults = await http(emulator, "POST", "/faults/reset", {})
    assert faults["hold_fills"] is False


async def test_bad_admin_requests_get_clear_errors(emulator: Emulator) -> None:
    status, body = await http(emulator, "POST", "/prices", {"symbol": "NOPE", "last": 1})
    assert status == 404
    assert "NOPE" in body["error"]
    status, body = await http(emulator, "POST", "/faults/refuse-connections", {})
    assert status == 400
    assert "seconds" in body["error"]
    status, body = await http(emulator, "GET", "/nothing")
    assert status == 404
    assert "GET /state" in body["routes"]
