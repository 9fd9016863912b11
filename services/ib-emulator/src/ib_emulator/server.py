"""The emulator: TCP server, sessions, background market and matching loops, control API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import encoders as enc
from .broker import Broker, BrokerEvent, OrderFilled, OrderRejected, OrderUpdated
from .faults import Faults, FaultState
from .market import Market, Quote
from .scenario import Scenario, default_scenario
from .session import Session

log = logging.getLogger("ib_emulator.server")

MATCH_INTERVAL = 0.05  # how often working orders are re-checked (fill delays, partial slices)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Emulator:
    """A paper IB Gateway speaking the TWS API; start it, point ib_async at ``port``."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_port: int | None = None,
        seed: int | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        scenario = scenario or default_scenario()
        if seed is not None:
            scenario = scenario.model_copy(
                update={"prices": scenario.prices.model_copy(update={"seed": seed})}
            )
        self.scenario = scenario
        self.host = host
        self._requested_port = port
        self._requested_admin_port = admin_port
        self.clock = clock
        self.fault_state = FaultState()
        self.market = Market(scenario.prices, scenario.instruments)
        self.broker = Broker(scenario, self.market, self.fault_state, clock)
        self.faults = Faults(self.fault_state, self)
        self.sessions: set[Session] = set()
        # Every error/warning code sent to clients, counted (benchmarks read it from /state).
        self.errors_sent: dict[int, int] = {}
        self._by_client_id: dict[int, Session] = {}
        self._server: asyncio.base_events.Server | None = None
        self._admin: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.port = 0
        self.admin_port: int | None = None

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Listen for API clients (and the admin API when an admin port was given)."""
        await self._listen(self._requested_port)
        if self._requested_admin_port is not None:
            from .admin import AdminServer

            self._admin = AdminServer(self, self.host, self._requested_admin_port)
            self.admin_port = await self._admin.start()
        self._loops = [
            asyncio.create_task(self._price_loop(), name="emulator-prices"),
            asyncio.create_task(self._match_loop(), name="emulator-matching"),
        ]
        log.info(
            "IB emulator listening on %s:%s (server version %s)",
            self.host,
            self.port,
            enc.SERVER_VERSION,
        )

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.drop_connections()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        if self._admin is not None:
            await self._admin.stop()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.sessions.add(session)
        log.info("client connected from %s", session.peer)
        await session.run()

    def session_closed(self, session: Session) -> None:
        """Forget a closed session and free its client id."""
        self.sessions.discard(session)
        if session.client_id is not None and self._by_client_id.get(session.client_id) is session:
            del self._by_client_id[session.client_id]
        log.info("client %s (%s) disconnected", session.client_id, session.peer)

    def claim_client_id(self, client_id: int, session: Session) -> bool:
        """Reserve a client id for a session; False if another live session holds it."""
        holder = self._by_client_id.get(client_id)
        if holder is not None and holder is not session and not holder.writer.is_closing():
            return False
        self._by_client_id[client_id] = session
        return True

    # ------------------------------------------------------------ background
    async def _price_loop(self) -> None:
        while True:
            await asyncio.sleep(self.scenario.prices.step_seconds)
            changed = self.market.step()
            if changed:
                self._on_quotes(changed)

    async def _match_loop(self) -> None:
        while True:
            await asyncio.sleep(MATCH_INTERVAL)
            if self.broker.open_orders():
                self.dispatch(self.broker.match())

    # --------------------------------------------------------------- routing
    def dispatch(self, events: list[BrokerEvent], ack: bool = False) -> None:
        """Turn broker events into messages for the clients that should see them."""
        delay = self.fault_state.ack_delay_seconds if ack else 0.0
        if delay > 0:

            async def later() -> None:
                await asyncio.sleep(delay)
                self._deliver(events)
                self.dispatch(self.broker.match())

            self._spawn(later())
            return
        self._deliver(events)
        if ack:
            self._deliver(self.broker.match())

    def _owner(self, client_id: int) -> Session | None:
        return self._by_client_id.get(client_id)

    def _deliver(self, events: list[BrokerEvent]) -> None:
        touched: set[tuple[str, str]] = set()
        for ev in events:
            s = self._owner(ev.order.client_id)
            if isinstance(ev, OrderUpdated):
                if s:
                    s.send(enc.open_order(ev.order))
                    s.send(enc.order_status(ev.order))
            elif isinstance(ev, OrderFilled):
                o, e = ev.order, ev.execution
                if s:
                    # execDetails before commissionReport, and after the openOrder that
                    # carried the permId: ib_async attaches reports only in that order.
                    s.send(enc.exec_details(-1, o, e))
                    s.send(enc.open_order(o))
                    s.send(enc.order_status(o))
                    s.send(enc.commission_report(e))
                touched.add((o.account, o.instrument.symbol))
            elif isinstance(ev, OrderRejected) and s:
                s.error(ev.order.order_id, ev.code, ev.message)
        for account, symbol in touched:
            self._on_account_changed(account, symbol)

    def _on_account_changed(self, account: str, symbol: str) -> None:
        b = self.broker
        inst = b.scenario.instrument(symbol)
        assert inst is not None
        pos = b.accounts[account].position(symbol)
        for s in list(self.sessions):
            if not s.is_api_ready:
                continue
            if s.subs.positions:
                s.send(enc.position(account, inst, pos.quantity, pos.average_cost))
            if s.subs.account_updates == account:
                self.send_account_update(s, account, full=False, symbols=[symbol])
            for req_id, (accounts, _model) in s.subs.account_multi.items():
                if account in accounts:
                    self.send_account_multi(s, req_id)
            for req_id, (acct, _m) in s.subs.pnl.items():
                if acct == account:
                    self.send_pnl(s, req_id)
            for req_id, (acct, _m, _c) in s.subs.pnl_single.items():
                if acct == account:
                    self.send_pnl_single(s, req_id)

    def _on_quotes(self, quotes: list[Quote]) -> None:
        by_symbol = {q.symbol: q for q in quotes}
        delayed = self.scenario.market_data_type == "delayed"
        nan = self.fault_state.nan_prices
        for s in list(self.sessions):
            for req_id, symbol in s.subs.market_data.items():
                q = by_symbol.get(symbol)
                if q is not None:
                    for msg in enc.quote_ticks(req_id, q, delayed, nan)[:3]:
                        s.send(msg)
            for req_id in s.subs.pnl:
                self.send_pnl(s, req_id)
            for req_id in s.subs.pnl_single:
                self.send_pnl_single(s, req_id)
        self.dispatch(self.broker.match())

    # ---------------------------------------------------------- account data
    def send_account_update(
        self, s: Session, account: str, full: bool, symbols: list[str] | None = None
    ) -> None:
        """updateAccountValue for every tag, updatePortfolio rows, and the account time."""
        b = self.broker
        acct = b.accounts[account]
        for tag, value, ccy in acct.values(b.mark):
            s.send(enc.account_value(tag, value, ccy, account))
        for sym, p in acct.positions.items():
            if symbols is not None and sym not in symbols:
                continue
            if p.quantity == 0 and full:
                continue
            inst = b.scenario.instrument(sym)
            assert inst is not None
            mark = b.mark(sym)
            s.send(
                enc.portfolio_value(
                    inst, p.quantity, mark, p.average_cost,
                    p.quantity * (mark - p.average_cost), p.realized_pnl, account,
                )
            )  # fmt: skip
        s.send(enc.account_time(self.clock()))

    def send_account_multi(self, s: Session, req_id: int) -> None:
        """accountUpdateMulti rows for a subscription."""
        accounts, model = s.subs.account_multi[req_id]
        b = self.broker
        for account in accounts:
            for tag, value, ccy in b.accounts[account].values(b.mark):
                s.send(enc.account_update_multi(req_id, account, model, tag, value, ccy))

    def send_pnl(self, s: Session, req_id: int) -> None:
        """One pnl message for a subscription."""
        account, _model = s.subs.pnl[req_id]
        acct = self.broker.accounts[account]
        mark = self.broker.mark
        s.send(enc.pnl(req_id, acct.daily_pnl(mark), acct.unrealized(mark), acct.realized_pnl))

    def send_pnl_single(self, s: Session, req_id: int) -> None:
        """One pnlSingle message for a subscription."""
        account, _model, con_id = s.subs.pnl_single[req_id]
        inst = next(i for i in self.scenario.instruments if i.con_id == con_id)
        pos = self.broker.accounts[account].position(inst.symbol)
        mark = self.broker.mark(inst.symbol)
        unreal = pos.quantity * (mark - pos.average_cost)
        s.send(
            enc.pnl_single(
                req_id, pos.quantity, unreal + pos.realized_pnl, unreal, pos.realized_pnl,
                pos.quantity * mark,
            )
        )  # fmt: skip

    # --------------------------------------------------------- control API
    def set_price(
        self,
        symbol: str,
        *,
        last: Decimal | float | str | None = None,
        bid: Decimal | float | str | None = None,
        ask: Decimal | float | str | None = None,
        move_pct: Decimal | float | str | None = None,
    ) -> Quote:
        """Set or move a price; subscribers get ticks and working orders re-match."""
        if self.scenario.instrument(symbol) is None:
            raise KeyError(f"unknown symbol {symbol!r}")

        def d(v: Decimal | float | str | None) -> Decimal | None:
            return None if v is None else Decimal(str(v))

        q = self.market.set_price(
            symbol, last=d(last), bid=d(bid), ask=d(ask), move_pct=d(move_pct)
        )
        self._on_quotes([q])
        return q

    def orders(self) -> list[dict[str, object]]:
        """Every order ever received, oldest first, refusals included."""
        rows = [o.to_json() for o in self.broker.orders] + [
            r.to_json() for r in self.broker.refused
        ]
        return sorted(rows, key=lambda r: str(r["received_at"]))

    def state(self) -> dict[str, object]:
        """Accounts with cash, positions, PnL and account values."""
        b = self.broker
        accounts = []
        for acct in b.accounts.values():
            accounts.append(
                {
                    "id": acct.id,
                    "base_currency": acct.base_currency,
                    "cash": str(acct.cash),
                    "net_liquidation": f"{acct.net_liquidation(b.mark):.2f}",
                    "realized_pnl": f"{acct.realized_pnl:.2f}",
                    "unrealized_pnl": f"{acct.unrealized(b.mark):.2f}",
                    "positions": [
                        {
                            "symbol": sym,
                            "quantity": str(p.quantity),
                            "average_cost": str(round(p.average_cost, 6)),
                            "market_price": str(b.mark(sym)),
                            "realized_pnl": f"{p.realized_pnl:.2f}",
                        }
                        for sym, p in acct.positions.items()
                        if p.quantity != 0
                    ],
                }
            )
        return {
            "accounts": accounts,
            "connections": sorted(s.client_id for s in self.sessions if s.client_id is not None),
            "prices": {
                sym: {
                    "bid": str(self.market.quote(sym).bid),
                    "ask": str(self.market.quote(sym).ask),
                    "last": str(self.market.quote(sym).last),
                }
                for sym in self.market.symbols()
            },
            "faults": self.faults.snapshot(),
            "errors_sent": {str(code): n for code, n in sorted(self.errors_sent.items())},
        }

    # ------------------------------------------------- FaultActions protocol
    def drop_connections(self) -> int:
        """Close every client connection now."""
        sessions = list(self.sessions)
        for s in sessions:
            s.close()
        return len(sessions)

    def connectivity_blip(self, lost_seconds: float, restore_code: int) -> None:
        """1100 now; 1101 or 1102 later (1101 also drops market data subscriptions)."""
        for s in self._ready_sessions():
            s.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")

        async def restore() -> None:
            await asyncio.sleep(lost_seconds)
            for s in self._ready_sessions():
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
        """Drop everyone and stop listening, then listen again on the same port."""
        port = self.port
        if self._server is not None:
            self._server.close()
        self.drop_connections()

        async def reopen() -> None:
            await asyncio.sleep(seconds)
            for _ in range(50):
                try:
                    await self._listen(port)
                    log.info("listening again on port %s", port)
                    return
                except OSError:
                    await asyncio.sleep(0.1)
            log.error("could not listen again on port %s", port)

        self._spawn(reopen())

    def competing_session(self) -> int:
        """10197 on every market data subscription."""
        n = 0
        for s in self._ready_sessions():
            for req_id in list(s.subs.market_data):
                s.error(req_id, 10197, "No market data during competing live session")
                n += 1
        return n

    def prices_changed(self) -> None:
        """Re-send current quotes to every subscriber (after NaN mode flips)."""
        self._on_quotes([self.market.quote(s) for s in self.market.symbols()])

    def fills_may_proceed(self) -> None:
        """Re-run matching (after fills were released)."""
        with contextlib.suppress(RuntimeError):
            self.dispatch(self.broker.match())

    def _ready_sessions(self) -> list[Session]:
        return [s for s in self.sessions if s.is_api_ready]
