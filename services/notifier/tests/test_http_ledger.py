"""GET /api/v1/pnl, /api/v1/trades and the PnL in /api/v1/positions, over the real ledger.

The ledger runs as the real service (SQLite) behind the real notifier and a real Redis; the
bridge's events are published as the bridge sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from rebalancer_testkit.ledger_dbs import Database
from rebalancer_testkit.ledger_events import (
    ACCOUNT,
    OTHER,
    account_values,
    at,
    commission,
    external_fill,
    filled,
    position,
    quote,
    snapshot,
)
from rebalancer_testkit.ledger_stack import Stack
from rebalancer_testkit.notifier import TOKEN, make_accounts
from rebalancer_testkit.streams import read_stream
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.base import Side, utc_now
from shared.contracts.portfolio import PortfolioView
from shared.kit.rpc import send_reply

AUTH = {"Authorization": f"Bearer {TOKEN}"}
D = Decimal


@pytest.fixture
async def ledger(redis_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    stack = Stack(redis_url, Database("sqlite", tmp_path / "ledger"), metrics_interval_s=0.2)
    await stack.start()
    await stack.publish(
        account_values(daily="80.00"),
        quote("SPY", bid="504", ask="506", close="495", when=at(2)),
        snapshot(position("SPY", "15", "499"), when=at(1)),
        filled("b1", quantity="5", price="502", when=at(0)),
        commission("b1", "1.00"),
        filled("s1", symbol="QQQ", side=Side.SELL, quantity="4", price="400", when=at(1)),
        commission("s1", "1.00", "19.00", symbol="QQQ"),
        external_fill("x1", symbol="SPY", quantity="2", price="501", when=at(3)),
        commission("x1", "0.50", symbol="SPY", client_order_id="external:555", external=True),
        filled("o1", account=OTHER, when=at(4)),
    )
    await stack.trades_once_committed(4, with_commission=3)
    yield stack
    await stack.stop()


@pytest.fixture
async def http(start_notifier, ledger: Stack) -> AsyncIterator[httpx.AsyncClient]:
    accounts = make_accounts({"id": ACCOUNT}, {"id": OTHER})
    notifier = await start_notifier(accounts)
    url = f"http://127.0.0.1:{notifier.api_server.port}"
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as client:
        yield client


async def test_pnl_per_position_adds_up_to_the_account(http: httpx.AsyncClient) -> None:
    async def priced() -> dict | None:
        response = await http.get("/api/v1/pnl", params={"account": ACCOUNT})
        assert response.status_code == 200, response.text
        (account,) = response.json()["accounts"]
        return account if account["complete"] and account["ib_daily_pnl"] else None

    account = await eventually(priced, 20, "the ledger's PnL of the account")
    by = {p["symbol"]: p for p in account["positions"]}
    assert by["QQQ"]["realized_pnl"] == "19.00"
    assert by["SPY"]["unrealized_pnl"] == "90.00"  # 15 x (505 - 499)
    assert D(account["total_pnl"]) == D(account["realized_pnl"]) + D(account["unrealized_pnl"])
    assert D(account["total_pnl"]) == sum(D(p["total_pnl"]) for p in account["positions"])
    assert D(account["realized_pnl"]) == sum(D(p["realized_pnl"]) for p in account["positions"])

    everyone = (await http.get("/api/v1/pnl")).json()
    assert sorted(a["account_id"] for a in everyone["accounts"]) == [ACCOUNT, OTHER]


async def test_trades_are_filtered_and_paged_with_external_ones_marked(
    http: httpx.AsyncClient,
) -> None:
    first = await http.get(
        "/api/v1/trades", params={"account": ACCOUNT, "limit": 2, "order": "oldest_first"}
    )
    assert first.status_code == 200, first.text
    page = first.json()
    assert [t["exec_id"] for t in page["trades"]] == ["b1", "s1"]
    assert page["next_cursor"]
    rest = (
        await http.get(
            "/api/v1/trades",
            params={
                "account": ACCOUNT,
                "limit": 2,
                "order": "oldest_first",
                "cursor": page["next_cursor"],
            },
        )
    ).json()
    assert [t["exec_id"] for t in rest["trades"]] == ["x1"]
    assert rest["next_cursor"] is None
    (external,) = rest["trades"]
    assert external["external"] is True
    assert external["client_order_id"] == "external:555"
    assert external["commission"] == "0.50"

    spy = (await http.get("/api/v1/trades", params={"symbol": "SPY", "account": ACCOUNT})).json()
    assert [t["exec_id"] for t in spy["trades"]] == ["x1", "b1"]  # newest first
    window = {"since": at(1).isoformat(), "until": at(3).isoformat().replace("+00:00", "Z")}
    ranged = (await http.get("/api/v1/trades", params=window)).json()
    assert [t["exec_id"] for t in ranged["trades"]] == ["s1"]
    day = at(0).date().isoformat()
    everyone = (await http.get("/api/v1/trades", params={"since": day})).json()
    assert {t["account_id"] for t in everyone["trades"]} == {ACCOUNT, OTHER}


BAD_QUERIES = [
    ({"since": "yesterday"}, 400, "invalid_request", "since"),
    ({"until": "2026-13-01"}, 400, "invalid_request", "until"),
    ({"limit": "0"}, 400, "invalid_request", "limit"),
    ({"limit": "5000"}, 400, "invalid_request", "limit"),
    ({"cursor": "not-ours"}, 400, "invalid_request", "cursor"),
    ({"since": "2026-12-02", "until": "2026-12-01"}, 400, "invalid_request", "until"),
    ({"account": "DU999"}, 404, "unknown_account", "DU999"),
]


async def test_bad_trade_queries_say_what_was_wrong(http: httpx.AsyncClient) -> None:
    for params, status, code, says in BAD_QUERIES:
        response = await http.get("/api/v1/trades", params=params)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"] == code, params
        assert says in response.json()["message"], (params, response.text)
    unknown = await http.get("/api/v1/pnl", params={"account": "DU999"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_account")


async def test_pnl_and_trades_need_the_token(http: httpx.AsyncClient) -> None:
    for path in ("/api/v1/pnl", "/api/v1/trades"):
        response = await http.get(path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401
    schema = (await http.get("/openapi.json")).json()
    for path in ("/api/v1/pnl", "/api/v1/trades"):
        responses = schema["paths"][path]["get"]["responses"]
        assert {"200", "400", "401", "404", "503", "504"} <= set(responses)


async def test_positions_carry_the_ledgers_pnl_per_position_and_the_accounts_totals(
    http: httpx.AsyncClient, client
) -> None:
    async def bridge() -> None:
        seen: set[str] = set()
        while True:
            for request in await read_stream(client, catalogue.PORTFOLIO_RPC):
                if request.message_id not in seen:
                    seen.add(request.message_id)
                    view = PortfolioView(
                        source="gateway-bridge",
                        account_id=request.account_id,
                        net_liquidation=D("100000"),
                        total_cash=D("50000"),
                        positions=(position("SPY", "15", "499"),),
                        quotes=(),
                        positions_as_of=utc_now(),
                        account_as_of=utc_now(),
                    )
                    await send_reply(client, request, view)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(bridge())
    try:

        async def with_pnl() -> dict | None:
            body = (await http.get("/api/v1/positions", params={"account": ACCOUNT})).json()
            return body if body["pnl"] and body["pnl"]["complete"] else None

        body = await eventually(with_pnl, 20, "positions with the ledger's PnL")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    (spy,) = body["positions"]
    assert spy["unrealized_pnl"] == "90.00"
    assert spy["unrealized_source"] == "price"
    assert D(spy["total_pnl"]) == D(spy["realized_pnl"]) + D(spy["unrealized_pnl"])
    pnl = body["pnl"]
    assert D(pnl["total_pnl"]) == D(pnl["realized_pnl"]) + D(pnl["unrealized_pnl"])
    assert pnl["realized_pnl"] == "19.00"


async def test_without_a_ledger_pnl_says_so_and_positions_still_answer(
    start_notifier, client
) -> None:
    notifier = await start_notifier(make_accounts({"id": ACCOUNT}), ledger_timeout_s=0.5)
    url = f"http://127.0.0.1:{notifier.api_server.port}"
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as http:
        response = await http.get("/api/v1/pnl")
    assert response.status_code == 504
    assert response.json()["error"] == "ledger_timeout"
    assert "ledger" in response.json()["message"]
