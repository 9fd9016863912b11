"""Fixtures: an in-process emulator on ephemeral ports, and real ib_async clients."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from ib_async import IB

from ib_emulator import Emulator
from ib_emulator.scenario import builtin_scenario

_client_ids = itertools.count(11)


async def wait_for(
    condition: Callable[[], Any], within: float = 5.0, message: str = "condition"
) -> Any:
    """Poll until condition() is truthy; fail with message after the deadline."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {message}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator with the default scenario, API and admin on ephemeral ports."""
    emu = Emulator(admin_port=0)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def fx_emulator() -> AsyncIterator[Emulator]:
    """A fresh emulator with the built-in multi_currency scenario (EUR, CAD, GBP bases)."""
    emu = Emulator(builtin_scenario("multi_currency"), admin_port=0)
    await emu.start()
    yield emu
    await emu.stop()


Connect = Callable[..., Awaitable[IB]]


@pytest.fixture
async def connect(emulator: Emulator) -> AsyncIterator[Connect]:
    """Connect real ib_async clients to the emulator; all are disconnected afterwards."""
    clients: list[IB] = []

    async def _connect(client_id: int | None = None, **kwargs: Any) -> IB:
        ib = IB()
        ib.RaiseRequestErrors = True
        cid = next(_client_ids) if client_id is None else client_id
        await ib.connectAsync("127.0.0.1", emulator.port, clientId=cid, timeout=5, **kwargs)
        clients.append(ib)
        return ib

    yield _connect
    for ib in clients:
        ib.disconnect()


@pytest.fixture
async def ib(connect: Connect) -> IB:
    """One connected client."""
    return await connect()


async def stock(ib: IB, symbol: str) -> Any:
    """A qualified stock contract (ib_async needs conId for tickers and trades)."""
    from ib_async import Stock

    [contract] = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
    assert contract is not None
    return contract
