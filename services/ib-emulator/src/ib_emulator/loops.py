"""The emulator's background loops: prices, matching, trade prints, account update period."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from . import account_data, delivery
from .context import EmulatorContext

MATCH_INTERVAL = 0.05  # how often working orders are re-checked (fill delays, partial slices)
PERIOD_TICK = 0.05  # how often a changed account update period is noticed


async def prices(ctx: EmulatorContext) -> None:
    """Step the price model; send ticks and re-match when quotes change."""
    while True:
        await asyncio.sleep(ctx.scenario.prices.step_seconds)
        changed = ctx.market.step()
        if changed:
            delivery.quotes(ctx, changed)
            ctx.deliver(ctx.broker.match())


async def matching(ctx: EmulatorContext) -> None:
    """Re-check working orders (fill delays, partial slices, released holds)."""
    while True:
        await asyncio.sleep(MATCH_INTERVAL)
        if ctx.broker.open_orders():
            ctx.deliver(ctx.broker.match())


async def trade_prints(ctx: EmulatorContext, every: float) -> None:
    """Print a trade at the last price on subscribed symbols while a session is on."""
    while True:
        await asyncio.sleep(every)
        delivery.trade_prints(ctx, ctx.clock())


async def account_updates(ctx: EmulatorContext, period: Callable[[], float]) -> None:
    """Every ``period()`` seconds, re-send what changed in account summaries and values."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(min(PERIOD_TICK, period()))
        now = time.monotonic()
        if now - last >= period():
            last = now
            for s in list(ctx.clients()):
                account_data.refresh(ctx, s)
