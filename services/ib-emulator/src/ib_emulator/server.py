"""The emulator: the TCP server and its sessions, the background loops, the control API.

``Emulator`` is the ``EmulatorContext`` its handlers see. Message routing lives in
``delivery``, account data in ``account_data``, faults and reports in ``operations``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import delivery, loops
from . import encoders as enc
from .admin import AdminServer
from .faults import Faults, FaultState
from .handlers import dispatch_request
from .limits import Limits
from .market import Market, Quote
from .matching import MatchingEngine, OrderEvent
from .operations import Operations, orders_report, state_report
from .scenario import Scenario, default_scenario
from .session import Session

log = logging.getLogger("ib_emulator.server")

SHUTDOWN_GRACE = 2.0  # seconds a closed session gets to finish before it is cancelled


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Emulator:
    """A paper IB Gateway speaking the TWS API; start it, point a TWS client at ``port``."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_port: int | None = None,
        admin_host: str = "127.0.0.1",
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
        self.admin_host = admin_host
        self._requested_port = port
        self._requested_admin_port = admin_port
        self.clock = clock
        self.fault_state = FaultState()
        self.limits = Limits(**scenario.limits.model_dump())
        self.account_update_period = scenario.account_updates.period_seconds
        self.market = Market(scenario.prices, scenario.instruments)
        self.broker = MatchingEngine(scenario, self.market, self.fault_state, clock, self.limits)
        self.operations = Operations(self, self._spawn, self._refuse_connections)
        self.faults = Faults(self.fault_state, self.operations)
        self.sessions: set[Session] = set()
        # Every error/warning code sent to clients, counted (benchmarks read it from /state).
        self.errors_sent: dict[int, int] = {}
        self._by_client_id: dict[int, Session] = {}
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.base_events.Server | None = None
        self._admin: AdminServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.port = 0
        self.admin_port: int | None = None

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Listen for API clients (and the admin API when an admin port was given)."""
        await self._listen(self._requested_port)
        if self._requested_admin_port is not None:
            self._admin = AdminServer(self, self.admin_host, self._requested_admin_port)
            self.admin_port = await self._admin.start()
        self._loops = [
            asyncio.create_task(loops.prices(self), name="emulator-prices"),
            asyncio.create_task(loops.matching(self), name="emulator-matching"),
            asyncio.create_task(
                loops.account_updates(self, lambda: self.account_update_period),
                name="emulator-account-updates",
            ),
        ]
        every = self.scenario.prices.trade_print_seconds
        if every is not None:
            self._loops.append(
                asyncio.create_task(loops.trade_prints(self, every), name="emulator-prints")
            )
        log.info(
            "IB emulator listening on %s:%s (server version %s)",
            self.host,
            self.port,
            enc.SERVER_VERSION,
        )

    @property
    def admin_address(self) -> tuple[str, int] | None:
        """Where the admin API listens, or None when it is off."""
        return self._admin.address if self._admin is not None else None

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop the loops, close every connection and let each session finish."""
        tasks = [*self._loops, *self._tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        await self._finish_sessions()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        if self._admin is not None:
            await self._admin.stop()

    async def _finish_sessions(self) -> None:
        # A session task cancelled by the loop's teardown ends in a traceback; closed
        # sockets make every session return on its own, so wait for them to do so.
        pending = [t for t in self._session_tasks if not t.done()]
        if not pending:
            return
        _done, late = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._session_tasks.add(task)
            task.add_done_callback(self._session_tasks.discard)
        session = Session(
            reader,
            writer,
            dispatch=functools.partial(dispatch_request, self),
            clock=self.clock,
            pacing=self.fault_state,
            on_closed=self._session_closed,
            errors_sent=self.errors_sent,
        )
        self.sessions.add(session)
        log.info("client connected from %s", session.peer)
        await session.run()

    def _session_closed(self, session: Session) -> None:
        self.sessions.discard(session)
        if session.client_id is not None and self._by_client_id.get(session.client_id) is session:
            del self._by_client_id[session.client_id]
        log.info("client %s (%s) disconnected", session.client_id, session.peer)

    # ------------------------------------------------------ EmulatorContext
    def clients(self) -> Iterable[Session]:
        """Every open client connection."""
        return self.sessions

    def claim_client_id(self, client_id: int, session: Session) -> bool:
        """Reserve a client id for a session; False if another live session holds it."""
        holder = self._by_client_id.get(client_id)
        if holder is not None and holder is not session and not holder.writer.is_closing():
            return False
        self._by_client_id[client_id] = session
        return True

    def deliver(self, events: list[OrderEvent], ack: bool = False) -> None:
        """Turn order events into messages for the clients that should see them."""
        delay = self.fault_state.ack_delay_seconds if ack else 0.0
        if delay > 0:

            async def later() -> None:
                await asyncio.sleep(delay)
                delivery.order_events(self, self._by_client_id, events)
                self.deliver(self.broker.match())

            self._spawn(later())
            return
        delivery.order_events(self, self._by_client_id, events)
        if ack:
            delivery.order_events(self, self._by_client_id, self.broker.match())

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
        delivery.quotes(self, [q])
        self.deliver(self.broker.match())
        return q

    def set_account_update_period(self, seconds: float) -> None:
        """How often changed account summary and account values are re-sent (IB: 180 s)."""
        if not seconds > 0:
            raise ValueError(f"period must be a positive number of seconds, got {seconds!r}")
        self.account_update_period = seconds

    def orders(self) -> list[dict[str, object]]:
        """Every order ever received, oldest first, refusals included."""
        return orders_report(self)

    def state(self) -> dict[str, object]:
        """Accounts with cash, positions, PnL and account values."""
        return state_report(self, self.faults.snapshot())

    def drop_connections(self) -> int:
        """Close every client connection now."""
        return self.operations.drop_connections()

    def _refuse_connections(self, seconds: float) -> None:
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
