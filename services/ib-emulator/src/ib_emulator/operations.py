"""Operations on the running emulator: faults that act on connections, and state reports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from . import delivery
from .accounts import Position
from .context import EmulatorContext
from .session import Session

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Operations:
    """The ``FaultActions`` of the emulator, over its context (no server needed)."""

    def __init__(self, ctx: EmulatorContext, spawn: Spawn, refuse: Callable[[float], None]) -> None:
        self._ctx = ctx
        self._spawn = spawn
        self._refuse = refuse

    def _ready(self) -> list[Session]:
        return [s for s in self._ctx.clients() if s.is_api_ready]

    def drop_connections(self) -> int:
        """Close every client connection now."""
        sessions = list(self._ctx.clients())
        for s in sessions:
            s.close()
        return len(sessions)

    def connectivity_blip(self, lost_seconds: float, restore_code: int) -> None:
        """1100 now; 1101 or 1102 later (1101 also drops market data subscriptions)."""
        for s in self._ready():
            s.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")

        async def restore() -> None:
            await asyncio.sleep(lost_seconds)
            for s in self._ready():
                if restore_code == 1101:
                    s.subs.market_data.clear()
                    s.error(
                        -1,
                        1101,
                        "Connectivity between IB and Trader Workstation has been restored - "
                        "data lost.",
                    )
                else:
                    s.error(
                        -1,
                        1102,
                        "Connectivity between IB and Trader Workstation has been restored - "
                        "data maintained. All data farms are connected: usfarm; ushmds; "
                        "secdefil.",
                    )

        self._spawn(restore())

    def refuse_connections(self, seconds: float) -> None:
        """Drop everyone and stop listening for a while."""
        self._refuse(seconds)

    def competing_session(self) -> int:
        """10197 on every market data subscription."""
        n = 0
        for s in self._ready():
            for req_id in list(s.subs.market_data):
                s.error(req_id, 10197, "No market data during competing live session")
                n += 1
        return n

    def prices_changed(self) -> None:
        """Re-send current quotes to every subscriber (after NaN mode flips)."""
        market = self._ctx.market
        delivery.quotes(self._ctx, [market.quote(s) for s in market.symbols()])
        self.fills_may_proceed()

    def fills_may_proceed(self) -> None:
        """Re-run matching (after fills were released)."""
        with contextlib.suppress(RuntimeError):
            self._ctx.deliver(self._ctx.broker.match())


def orders_report(ctx: EmulatorContext) -> list[dict[str, object]]:
    """Every order ever received, oldest first, refusals included."""
    b = ctx.broker
    rows = [o.to_json() for o in b.orders] + [r.to_json() for r in b.refused]
    return sorted(rows, key=lambda r: str(r["received_at"]))


def state_report(ctx: EmulatorContext, faults: dict[str, object]) -> dict[str, object]:
    """Accounts with cash, positions and PnL; connections, prices, faults and limits."""
    b, market = ctx.broker, ctx.market
    px = b.prices

    def rows(positions: dict[str, Position]) -> list[dict[str, str]]:
        return [
            {
                "symbol": sym,
                "currency": b.currency_of(sym),
                "quantity": str(p.quantity),
                "average_cost": str(round(p.average_cost, 6)),
                "market_price": str(b.mark(sym)),
                "realized_pnl": f"{p.realized_pnl:.2f}",
                "daily_pnl": f"{p.daily_pnl(b.mark(sym)):.2f}",
            }
            for sym, p in positions.items()
            if p.quantity != 0
        ]

    accounts = [
        {
            "id": acct.id,
            "base_currency": acct.base_currency,
            # The base currency's balance; every currency's in cash_by_currency.
            "cash": str(acct.cash.get(acct.base_currency, 0)),
            "cash_by_currency": {c: str(v) for c, v in acct.cash.items()},
            "total_cash": f"{acct.total_cash(px):.2f}",
            "exchange_rates": {
                c: str(b.rates.rate(c, acct.base_currency)) for c in acct.currencies(px)
            },
            "net_liquidation": f"{acct.net_liquidation(px):.2f}",
            "realized_pnl": f"{acct.realized(px):.2f}",
            "unrealized_pnl": f"{acct.unrealized(px):.2f}",
            "daily_pnl": f"{acct.daily_pnl(px):.2f}",
            "positions": rows(acct.positions),  # stocks and ETFs
            "fx_positions": rows(acct.fx_positions),  # IB's FX portfolio (IDEALPRO trades)
        }
        for acct in b.accounts.values()
    ]
    return {
        "accounts": accounts,
        "connections": sorted(s.client_id for s in ctx.clients() if s.client_id is not None),
        "prices": {
            sym: {
                "bid": str(market.quote(sym).bid),
                "ask": str(market.quote(sym).ask),
                "last": str(market.quote(sym).last),
            }
            for sym in market.symbols()
        },
        "faults": faults,
        "limits": ctx.limits.snapshot(),
        "errors_sent": {str(code): n for code, n in sorted(ctx.errors_sent.items())},
    }
