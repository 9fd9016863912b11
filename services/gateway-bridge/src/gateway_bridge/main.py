"""Entry point of the gateway-bridge service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

from gateway_bridge.accounts import AccountSubscriptions
from gateway_bridge.client import PacedClient, paced_ib
from gateway_bridge.connection import GatewayConnection
from gateway_bridge.instruments import Instruments
from gateway_bridge.journal import SqliteOrderJournal
from gateway_bridge.login_watch import LoginWatch
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.orders import Gate, OrderDesk
from gateway_bridge.outbox import Outbox
from gateway_bridge.permissions import TradingPermissions
from gateway_bridge.portfolio import PortfolioResponder
from gateway_bridge.reconcile import reconcile
from gateway_bridge.settings import GatewayBridgeSettings
from gateway_bridge.state import StateFeed
from shared.accounts import Accounts
from shared.contracts.base import Message
from shared.contracts.catalogue import spec_of, stream_of
from shared.kit.service import Service
from shared.kit.startup import build_or_exit
from shared.topology import label, orders_stream, portfolio_stream

log = logging.getLogger(__name__)


class Bridge:
    """The parts of a running bridge (kept for tests and the benchmark to inspect)."""

    def __init__(
        self, service: Service, settings: GatewayBridgeSettings, accounts: Accounts | None = None
    ) -> None:
        self.service = service
        self.settings = settings
        source = settings.source
        self.ib = paced_ib(
            settings.pacing_rate_per_s,
            settings.pacing_burst,
            background_rate=settings.subscriptions_per_s,
        )
        # Failed requests raise instead of returning empty results silently.
        self.ib.RaiseRequestErrors = True
        self.metrics = BridgeMetrics(service.metrics.registry)
        self.client: PacedClient = self.ib.client
        self.client.on_dropped = self.metrics.messages_dropped.inc
        self.metrics.messages_queued.set_function(self.client.queued)
        self.journal = SqliteOrderJournal(settings.journal_path)
        self.outbox = Outbox(self.journal, service.publish, publish_many=self.publish_many)
        self.gate = Gate()
        self.instruments = Instruments(self.ib, settings.request_timeout_s)
        self.subscriptions = AccountSubscriptions(
            self.ib,
            timeout_s=settings.request_timeout_s,
            subscriptions_per_s=settings.subscriptions_per_s,
        )
        self.state = StateFeed(
            self.ib,
            service.publish,
            self.publish_many,
            self.instruments,
            self.metrics,
            self.subscriptions,
            accounts=self.accounts,
            price_throttle_ms=settings.price_throttle_ms,
            account_throttle_ms=settings.account_throttle_ms,
            subscriptions_per_s=settings.subscriptions_per_s,
            max_market_data_lines=settings.max_market_data_lines,
            keep_used_s=settings.quote_timeout_s,
            source=source,
        )
        self.metrics.market_data_lines.set_function(self.state.lines)
        self.desk = OrderDesk(
            self.ib,
            self.journal,
            self.outbox,
            service.publish,
            self.instruments,
            self.gate,
            self.metrics,
            accounts=self.accounts,
            read_only=settings.read_only,
            allow_live=settings.allow_live,
            permissions=TradingPermissions(settings.accounts_file, accounts, login=settings.login),
            price_of=self._price_of,
            max_order_quantity=settings.max_order_quantity,
            max_order_notional=settings.max_order_notional,
            max_open_orders_per_contract_side=settings.max_open_orders_per_contract_side,
            command_wait_s=settings.command_wait_s,
            ack_timeout_s=settings.ack_timeout_s,
            source=source,
        )
        self.desk.on_symbol_requested = self.state.want
        self.metrics.watch_portfolio(self.state.figures)
        self.portfolio = PortfolioResponder(
            self.ib,
            service.redis,
            self.state,
            self.instruments,
            self.gate,
            accounts=self.accounts,
            quote_timeout_s=settings.quote_timeout_s,
            reconcile_wait_s=settings.command_wait_s,
            source=source,
            served_by=label(settings.login),
        )
        self.connection = GatewayConnection(
            self.ib,
            settings,
            service.publish,
            self.metrics,
            self.gate,
            reconcile=self._reconcile,
            on_lost=self._on_lost,
            on_data_lost=self.state.resubscribe,
            source=source,
        )
        self.ib.orderStatusEvent += self.desk.on_order_status
        self.ib.execDetailsEvent += self.desk.on_exec_details
        self.ib.commissionReportEvent += self.desk.on_commission_report
        self.login_watch = (
            LoginWatch(settings.gateway_status_file, service.publish, source=source)
            if settings.gateway_status_file
            else None
        )
        self._pacing: asyncio.Task[None] | None = None
        self._boot: asyncio.Task[None] | None = None

    async def _price_of(self, symbol: str) -> Decimal | None:
        return await self.state.price(symbol, self.settings.quote_timeout_s)

    def accounts(self) -> frozenset[str]:
        """Accounts served: the configured ones IB manages, or all managed ones."""
        managed = frozenset(self.ib.managedAccounts()) if self.ib.isConnected() else frozenset()
        if self.settings.accounts:
            return frozenset(self.settings.accounts) & managed if managed else frozenset()
        return managed

    async def publish_many(self, messages: list[Message]) -> None:
        """Publish many messages in one Redis round trip (prices, order events, positions)."""
        broker = self.service.broker
        published = self.service.metrics.published
        async with self.service.redis.pipeline(transaction=False) as pipe:
            for message in messages:
                name = stream_of(message)
                await broker.publish(
                    message.model_dump(mode="json"),
                    stream=name,
                    maxlen=spec_of(name).maxlen,
                    correlation_id=message.correlation_id or message.message_id,
                    pipeline=pipe,
                )
            await pipe.execute()
        for message in messages:
            published.labels(stream_of(message), getattr(message, "type", "?")).inc()

    async def start(self) -> None:
        """Start in the background: publish what a crash left queued, then connect."""
        self._boot = asyncio.create_task(self._start_when_broker_is_up(), name="bridge-boot")
        self._pacing = asyncio.create_task(self._sample_pacing(), name="pacing")

    async def _start_when_broker_is_up(self) -> None:
        # Startup hooks run before the kit starts the broker; we publish from the first
        # moment, so wait until publishing works (the queued events go out first).
        while True:
            try:
                await self.outbox.flush()
                break
            except Exception as error:
                log.debug("waiting for the broker before connecting to IB: %r", error)
                await asyncio.sleep(0.05)
        self.outbox.start()
        self.state.start()
        self.connection.start()
        if self.login_watch:
            self.login_watch.start()

    async def stop(self) -> None:
        """Disconnect and close the journal."""
        for task in (self._boot, self._pacing):
            if task:
                task.cancel()
        self.desk.stop()
        if self.login_watch:
            await self.login_watch.stop()
        await self.connection.stop()
        await self.state.stop()
        await self.subscriptions.stop()
        # Events not yet published stay in the journal's outbox and go out at the next start.
        await self.outbox.stop()
        self.journal.close()

    async def _reconcile(self):  # type: ignore[no-untyped-def]
        return await reconcile(
            self.ib,
            self.desk,
            self.state,
            self.subscriptions,
            self.accounts,
            self.settings.request_timeout_s,
            source=self.settings.source,
        )

    def _on_lost(self) -> None:
        self.desk.on_disconnected()
        self.state.forget_subscriptions()
        self.subscriptions.forget()

    async def _sample_pacing(self) -> None:
        """Messages written to IB per second (the pacer keeps them under IB's 50/s)."""
        conn = self.ib.client.conn
        last = conn.numMsgSent
        last_t = time.monotonic()
        peak = 0.0
        while True:
            await asyncio.sleep(1.0)
            now, now_t = conn.numMsgSent, time.monotonic()
            sent = now - last if now >= last else now  # the counter restarts on reconnect
            # Divide by the real interval: a busy loop wakes late, and a late sample is not
            # a faster rate.
            rate = sent / max(now_t - last_t, 1e-3)
            last, last_t = now, now_t
            self.metrics.messages_sent.inc(sent)
            self.metrics.messages_rate.set(rate)
            peak = max(peak, rate)
            self.metrics.messages_rate_max.set(peak)


def create_app(
    settings: GatewayBridgeSettings | None = None, *, accounts: Accounts | None = None
) -> Service:
    """Build the gateway-bridge service from its settings (read from the environment when None).

    The accounts file is ``settings.accounts_file`` (REBALANCER_ACCOUNTS_FILE), read again
    whenever it changes; ``accounts`` replaces it (tests).
    """
    settings = settings or GatewayBridgeSettings()
    service = Service(settings)
    bridge = Bridge(service, settings, accounts)
    service.bridge = bridge  # type: ignore[attr-defined]
    # One bridge per IB login: it reads its login's own streams (today's unsuffixed ones for
    # the default login), so a command can only reach the login the executor routed it to.
    service.subscribe(orders_stream(settings.login), bridge.desk.on_command)
    service.subscribe(
        portfolio_stream(settings.login),
        bridge.portfolio.on_get_portfolio,
        concurrency=settings.portfolio_concurrency,
    )
    service.add_health_check("ib", bridge.connection.health)
    service.on_startup(bridge.start)
    service.on_shutdown(bridge.stop)
    return service


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM; a bad configuration exits 2 saying why."""
    build_or_exit("gateway-bridge", create_app).serve_forever()
