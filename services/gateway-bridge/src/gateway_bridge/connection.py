"""The one IB connection: connect with backoff and jitter, reconcile, heartbeat, react to codes.

Lifecycle: connect (``connectAsync``) -> ``GatewayConnected`` -> reconcile (the gate stays
closed; ``ReconciliationCompleted`` opens it) -> heartbeat every ``heartbeat_interval_s``
until the connection drops or the gateway stops answering -> ``GatewayDisconnected`` ->
back off and connect again. Connectivity codes: 1100 closes the gate (IB itself is
unreachable, orders would go nowhere); 1102 reconciles again; 1101 also re-subscribes market
data. 326 (client id in use) backs off like any failure and never takes another client id:
a second bridge on the same login could place orders twice. Inside the daily restart window
a reconnect waits at least ``restart_window_retry_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ib_async import IB
from ib_async.ib import StartupFetch, StartupFetchALL

from gateway_bridge.backoff import Backoff, in_restart_window
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.orders import Gate
from gateway_bridge.parsing.orders import is_warning
from gateway_bridge.serial import SerialPublisher
from gateway_bridge.settings import GatewayBridgeSettings
from shared.contracts.base import Message, utc_now
from shared.contracts.gateway import (
    GatewayConnected,
    GatewayDisconnected,
    GatewayError,
    GatewayStatus,
    ReconciliationCompleted,
)
from shared.ib_gateway import WeeklyWindow, live_accounts

log = logging.getLogger(__name__)

Publish = Callable[[Message], Awaitable[None]]
Reconcile = Callable[[], Awaitable[ReconciliationCompleted]]

INFO_CODES = frozenset({2104, 2106, 2107, 2108, 2119, 2158, 1102})
CONNECTIVITY_CODES = frozenset({1100, 1101, 1102})
CLIENT_ID_IN_USE = 326
COMPETING_SESSION = 10197
STABLE_AFTER_S = 60.0
# The startup sync without per-account updates: ib_async sends them only up to 50 accounts and
# silently skips them beyond; AccountSubscriptions subscribes them for any number (accounts.py).
STARTUP_FETCH = StartupFetchALL & ~StartupFetch.SUB_ACCOUNT_UPDATES


class GatewayConnection:
    """Keep one ib_async connection up, reconciled and watched."""

    def __init__(
        self,
        ib: IB,
        settings: GatewayBridgeSettings,
        publish: Publish,
        metrics: BridgeMetrics,
        gate: Gate,
        *,
        reconcile: Reconcile,
        on_lost: Callable[[], None],
        on_data_lost: Callable[[], Awaitable[None]],
        source: str = "gateway-bridge",
    ) -> None:
        self._ib = ib
        self._s = settings
        self._publish = publish
        self._metrics = metrics
        self._gate = gate
        self._reconcile = reconcile
        self._on_lost = on_lost
        self._on_data_lost = on_data_lost
        self._source = source
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._down = asyncio.Event()
        self._down.set()
        self._announced_down = False
        self._reconciling: asyncio.Task[None] | None = None
        self.last_heartbeat = 0.0
        self.last_received = 0.0
        self.last_error: tuple[int, str] | None = None
        self.reconciled_once = asyncio.Event()
        self.since: datetime | None = None
        self.last_connectivity: tuple[int, datetime] | None = None
        self._window = WeeklyWindow.parse(settings.gateway_window, settings.gateway_window_tz)
        self._status_wake = asyncio.Event()
        self._events = SerialPublisher(publish, "gateway")
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error
        # Any bytes from IB prove the gateway is alive (the socket object outlives reconnects).
        ib.client.conn.hasData += self._on_data
        metrics.heartbeat_age.set_function(self.heartbeat_age)

    # ------------------------------------------------------------------ public

    @property
    def connected(self) -> bool:
        """Whether the API connection is up."""
        return self._ib.isConnected()

    def heartbeat_age(self) -> float:
        """Seconds since IB last answered (0 before the first answer)."""
        return time.monotonic() - self.last_heartbeat if self.last_heartbeat else 0.0

    async def health(self) -> bool | str:
        """Health check 'ib': connected and reconciled, or a sentence saying what is wrong."""
        if not self.connected:
            detail = (
                f" (last error {self.last_error[0]}: {self.last_error[1]})"
                if self.last_error
                else ""
            )
            return f"not connected to IB at {self._s.ib_host}:{self._s.ib_port}{detail}"
        if not self._gate.is_open:
            return "connected to IB but not reconciled yet; order commands wait"
        return True

    def start(self) -> None:
        """Run the connect/supervise loop in the background."""
        self._events.start()
        self._runner = asyncio.create_task(self._run(), name="ib-connection")
        self._spawn(self._status_loop())

    async def stop(self) -> None:
        """Stop the loop and disconnect."""
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._ib.disconnectedEvent -= self._on_disconnected
        self._ib.disconnect()
        await self._events.stop()

    def reconcile_soon(self) -> None:
        """Reconcile again (single flight), closing the gate meanwhile."""
        if self._reconciling and not self._reconciling.done():
            return
        self._reconciling = self._spawn(self._reconcile_now())

    def expected_until(self, now: datetime) -> datetime | None:
        """The end of an outage expected now (daily restart, weekly window closed), or None."""
        s = self._s
        if self._window is not None and not self._window.is_open(now):
            return self._window.next_open(now)
        if in_restart_window(
            now, s.restart_window_start, s.restart_window_end, s.restart_window_tz
        ):
            local = now.astimezone(ZoneInfo(s.restart_window_tz))
            end = local.replace(
                hour=s.restart_window_end.hour,
                minute=s.restart_window_end.minute,
                second=0,
                microsecond=0,
            )
            if end <= local:
                end += timedelta(days=1)
            return end
        return None

    def status(self) -> GatewayStatus:
        """The connection as the bridge knows it now."""
        s = self._s
        connected = self.connected
        accounts = tuple(self._ib.managedAccounts()) if connected else ()
        code = self.last_connectivity
        error = f"{self.last_error[0]}: {self.last_error[1]}" if self.last_error else None
        return GatewayStatus(
            source=self._source,
            host=s.ib_host,
            port=s.ib_port,
            client_id=s.ib_client_id,
            connected=connected,
            reconciled=connected and self._gate.is_open,
            since=self.since,
            server_version=self._ib.client.serverVersion() if connected else None,
            accounts=accounts,
            live_accounts=live_accounts(accounts),
            last_connectivity_code=code[0] if code else None,
            last_connectivity_at=code[1] if code else None,
            heartbeat_age_s=Decimal(f"{self.heartbeat_age():.3f}") if connected else None,
            last_error=error,
            read_only=s.read_only,
            allow_live=s.allow_live,
            expected_until=None if connected else self.expected_until(utc_now()),
        )

    def _changed(self, *, at: datetime | None = None) -> None:
        """The state changed: note since when, and publish a GatewayStatus now."""
        self.since = at or utc_now()
        self._status_wake.set()

    async def _status_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_wake.wait(), self._s.status_interval_s)
            self._status_wake.clear()
            try:
                self._events.put(self.status())
            except Exception:
                log.exception("could not build the gateway status")

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        while True:
            if not await self._connect_once():
                await asyncio.sleep(self._next_delay())
                continue
            started = time.monotonic()
            await self._reconcile_now()
            if self.connected:
                await self._supervise()
            # Only a connection that lived a while resets the backoff: a gateway that drops
            # us right after each handshake must not be hammered (no restart storm).
            if time.monotonic() - started > STABLE_AFTER_S:
                self._backoff.reset()
            await asyncio.sleep(self._next_delay())

    def _next_delay(self) -> float:
        delay = self._backoff.next_delay()
        if self.last_error and self.last_error[0] == CLIENT_ID_IN_USE:
            delay = max(delay, self._s.backoff_max_s / 2)
        if in_restart_window(
            utc_now(),
            self._s.restart_window_start,
            self._s.restart_window_end,
            self._s.restart_window_tz,
        ):
            delay = max(delay, self._s.restart_window_retry_s)
        return delay

    async def _connect_once(self) -> bool:
        s = self._s
        try:
            await self._ib.connectAsync(
                s.ib_host,
                s.ib_port,
                clientId=s.ib_client_id,
                timeout=s.connect_timeout_s,
                fetchFields=STARTUP_FETCH,
            )
        except Exception as error:
            self._metrics.connect_attempts.labels("failed").inc()
            reason = f"cannot connect to IB at {s.ib_host}:{s.ib_port} as client {s.ib_client_id}: {error!r}"
            if self.last_error and self.last_error[0] == CLIENT_ID_IN_USE:
                reason = (
                    f"client id {s.ib_client_id} is in use at {s.ib_host}:{s.ib_port} (326): is "
                    "another bridge running? stop it, or give this one another BRIDGE_IB_CLIENT_ID"
                )
            log.warning("%s", reason)
            if not self._announced_down:
                self._announced_down = True
                self._changed()
                self._events.put(
                    GatewayDisconnected(
                        source=self._source,
                        reason=reason,
                        expected_until=self.expected_until(utc_now()),
                    )
                )
            return False
        self._metrics.connect_attempts.labels("ok").inc()
        self._metrics.connected.set(1)
        self.last_error = None
        self._down.clear()
        self._announced_down = False
        self.last_heartbeat = time.monotonic()
        self._ib.reqMarketDataType(s.market_data_type)
        self._events.put(
            GatewayConnected(
                source=self._source,
                host=s.ib_host,
                port=s.ib_port,
                client_id=s.ib_client_id,
                server_version=self._ib.client.serverVersion(),
                accounts=tuple(self._ib.managedAccounts()),
            )
        )
        log.info("connected to IB at %s:%s as client %s", s.ib_host, s.ib_port, s.ib_client_id)
        self._changed()
        return True

    async def _reconcile_now(self) -> None:
        self._gate.close()
        self._metrics.reconciliation_state.set(1)
        try:
            done = await self._reconcile()
        except Exception as error:
            log.exception("reconciliation failed; reconnecting")
            self.last_error = (0, f"reconciliation failed: {error!r}")
            self._metrics.reconciliation_state.set(0)
            self._ib.disconnect()
            return
        if not self.connected:
            return
        self._metrics.reconciliation_state.set(2)
        self._gate.open()
        self.reconciled_once.set()
        self._events.put(done)
        self._changed()

    async def _supervise(self) -> None:
        """Heartbeat until the connection drops; a silent gateway is disconnected."""
        while self.connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._down.wait(), self._s.heartbeat_interval_s)
            if not self.connected:
                break
            asked = time.monotonic()
            try:
                await asyncio.wait_for(self._ib.reqCurrentTimeAsync(), self._s.heartbeat_timeout_s)
                self.last_heartbeat = time.monotonic()
            except TimeoutError:
                # The heartbeat goes ahead of everything in the pacer; still, IB busy with a
                # burst may answer late. Anything IB sent since we asked is proof of life.
                if self.last_received >= asked:
                    log.warning("heartbeat answered late, but IB is sending: still connected")
                    self.last_heartbeat = self.last_received
                    continue
                log.error("IB did not answer the heartbeat nor send anything; reconnecting")
                self.last_error = (0, "heartbeat not answered")
                self._ib.disconnect()
                break
            except ConnectionError as error:
                log.error("IB did not answer the heartbeat (%r); reconnecting", error)
                self.last_error = (0, "heartbeat not answered")
                self._ib.disconnect()
                break
        await self._down.wait()

    # ------------------------------------------------------------------ ib_async events

    def _on_data(self, _data: bytes) -> None:
        self.last_received = time.monotonic()

    def _on_disconnected(self) -> None:
        if self._down.is_set():
            return
        self._down.set()
        self._gate.close()
        self._metrics.connected.set(0)
        self._metrics.reconciliation_state.set(0)
        now = utc_now()
        expected = self.expected_until(now)
        window = in_restart_window(
            now,
            self._s.restart_window_start,
            self._s.restart_window_end,
            self._s.restart_window_tz,
        )
        reason = "IB connection closed" + (" (daily restart window)" if window else "")
        if expected and not window:
            reason += " (weekly gateway window closed)"
        if self.last_error:
            reason += f"; last error {self.last_error[0]}: {self.last_error[1]}"
        if expected:
            log.info("%s; expected until %s", reason, expected.isoformat())
        else:
            log.warning("%s", reason)
        self._on_lost()
        self._announced_down = True
        self._changed(at=now)
        self._events.put(
            GatewayDisconnected(source=self._source, reason=reason, expected_until=expected)
        )

    def _on_error(self, req_id: int, code: int, message: str, _contract: object) -> None:
        self._metrics.errors.labels(str(code)).inc()
        severity = "info" if code in INFO_CODES else "warning" if is_warning(code) else "error"
        if code in (1100, COMPETING_SESSION):
            severity = "warning"
        if code in CONNECTIVITY_CODES:
            self.last_connectivity = (code, utc_now())
            self._status_wake.set()
            if self.expected_until(utc_now()) is not None:
                severity = "info"  # IB's own nightly restart: expected, told quietly
        if severity == "error":
            self.last_error = (code, message)
        trade = self._ib.wrapper.trades.get((self._ib.wrapper.clientId, req_id))
        client_order_id = trade.order.orderRef if trade and trade.order.orderRef else None
        self._events.put(
            GatewayError(
                source=self._source,
                code=code,
                message=message,
                request_id=req_id if req_id >= 0 else None,
                client_order_id=client_order_id,
                severity=severity,
            )
        )
        if code == CLIENT_ID_IN_USE:
            self.last_error = (code, message)
        elif code == 1100:
            # IB Gateway lost IB: nothing sent now would arrive. Hold commands.
            self._gate.close()
            self._metrics.reconciliation_state.set(0)
        elif code == 1101:
            self._spawn(self._on_data_lost())
            self.reconcile_soon()
        elif code == 1102:
            self.reconcile_soon()

    # ------------------------------------------------------------------ helpers

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
