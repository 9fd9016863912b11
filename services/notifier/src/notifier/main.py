"""Entry point of the notifier service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

import sys

import httpx

from notifier.ably_adapter import AblyConfigError, AblyRealtimeAdapter, RealtimeChannels
from notifier.alerts.destinations import (
    AblyDestination,
    Destination,
    NtfyDestination,
    TelegramDestination,
    WebhookDestination,
)
from notifier.alerts.dispatcher import PLAN_OUTCOMES, AlertDispatcher
from notifier.alerts.worker import DestinationWorker
from notifier.authn import TriggerAuthenticator
from notifier.core.alerts import Alert
from notifier.core.schedule import ScheduleError, schedules_of
from notifier.edges.ably_edge import AblyEdge
from notifier.edges.api import ApiContext, create_api
from notifier.edges.http_server import ApiServer
from notifier.edges.redis_channel import RedisChannelEdge
from notifier.edges.scheduler import Scheduler
from notifier.intake import TriggerIntake
from notifier.metrics import NotifierMetrics
from notifier.plan_store import PlanStore
from notifier.resolver import TriggerResolver
from notifier.settings import NotifierSettings
from notifier.sources import AllocationSources
from shared.accounts import Accounts, accounts_from_env
from shared.contracts import catalogue
from shared.contracts.alerts import SendAlert
from shared.contracts.gateway import (
    GatewayConnected,
    GatewayDisconnected,
    GatewayError,
    ReconciliationCompleted,
    SecondFactorRequested,
)
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.contracts.triggers import RequestRebalance
from shared.ib_gateway import WeeklyWindow
from shared.kit.service import Service
from shared.kit.startup import build_or_exit


class Notifier:
    """The notifier's parts, exposed for tests and the benchmark."""

    def __init__(
        self,
        settings: NotifierSettings,
        accounts: Accounts,
        ably: RealtimeChannels | None = None,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.service = Service(settings)
        self.metrics = NotifierMetrics(self.service.metrics.registry)
        self.http = httpx.AsyncClient(follow_redirects=False)
        redis = self.service.redis
        self.window = WeeklyWindow.parse(settings.gateway_window, settings.gateway_window_tz)
        self.intake = TriggerIntake(
            self.service, accounts, self.metrics, settings.trigger_ttl_s, self.window
        )
        self.auth = TriggerAuthenticator(
            redis, settings.trigger_secret, settings.signature_max_age_s
        )
        self.sources = AllocationSources(
            self.http,
            self.metrics,
            backoff_s=settings.allocation_backoff_s,
            max_bytes=settings.allocation_max_bytes,
        )
        self.resolver = TriggerResolver(self.service, redis, accounts, self.sources, self.metrics)
        self.service.subscribe(
            catalogue.TRIGGERS,
            {RequestRebalance: self.resolver.on_request_rebalance},
            polling_interval_ms=10,
        )
        self.redis_edge = RedisChannelEdge(
            redis, settings.trigger_channel, self.intake, self.auth, settings.redis_dedupe_window_s
        )
        self.service.add_health_check("trigger_channel", self.redis_edge.health)
        self.plans = PlanStore(redis)
        self.scheduler = Scheduler(
            schedules_of(accounts) if settings.schedules_enabled else [],
            redis,
            self.intake,
            self.metrics,
            settings.schedule_misfire_grace_s,
        )
        self.ably = ably or self._real_ably(settings)
        self.ably_edge: AblyEdge | None = None
        if self.ably is not None:
            self.ably_edge = AblyEdge(
                self.ably, redis, accounts, self.intake, settings.ably_catchup_max_age_s
            )
            ably_channels = self.ably

            async def ably_health() -> bool | str:
                return ably_channels.health()

            self.service.add_health_check("ably", ably_health)
        self.alerts = AlertDispatcher(
            redis,
            self.metrics,
            min_severity=settings.alert_min_severity,
            gateway_down_after_s=settings.gateway_down_alert_after_s,
        )
        for destination in self._destinations(settings):
            self.alerts.add(
                DestinationWorker(
                    destination,
                    self.metrics,
                    rate_per_minute=settings.alert_rate_per_minute,
                    batch_window_s=settings.alert_batch_window_s,
                    retries=settings.alert_retries,
                    backoff_s=settings.alert_retry_backoff_s,
                    queue_size=settings.alert_queue_size,
                    on_gave_up=self.alerts.destination_gave_up,
                )
            )
        self.service.subscribe(catalogue.ALERTS, {SendAlert: self.alerts.on_send_alert})
        self.service.subscribe(
            catalogue.PLANS, {kind: self.alerts.on_plan_event for kind in PLAN_OUTCOMES}
        )
        self.service.subscribe(
            catalogue.PLAN_COMMANDS,
            {HaltTrading: self.alerts.on_plan_command, ResumeTrading: self.alerts.on_plan_command},
        )
        gateway = self.alerts.on_gateway_event
        self.service.subscribe(
            catalogue.GATEWAY,
            {
                GatewayDisconnected: gateway,
                GatewayConnected: gateway,
                ReconciliationCompleted: gateway,
                GatewayError: gateway,
                SecondFactorRequested: gateway,
            },
        )
        self.api_server: ApiServer | None = None
        if settings.api_enabled:
            context = ApiContext(
                settings, self.service, accounts, self.intake, self.auth, self.plans, self.window
            )
            api = create_api(context, self.service.health.run)
            self.api_server = ApiServer(api, settings.api_host, settings.api_port)
        self.service.on_startup(self._start_edges)
        self.service.on_shutdown(self._stop_edges)

    @staticmethod
    def _real_ably(settings: NotifierSettings) -> RealtimeChannels | None:
        if settings.ably_api_key is None:
            return None
        return AblyRealtimeAdapter(
            settings.ably_api_key.get_secret_value(),
            endpoint=settings.ably_endpoint,
            port=settings.ably_port,
            tls=settings.ably_tls,
            disconnected_retry_s=settings.ably_disconnected_retry_s,
            request_timeout_s=settings.ably_request_timeout_s,
        )

    def _destinations(self, settings: NotifierSettings) -> list[Destination]:
        found: list[Destination] = []
        for index, url in enumerate(settings.alert_webhook_urls):
            name = "webhook" if index == 0 else f"webhook{index + 1}"
            found.append(WebhookDestination(name, url, self.http))
        if settings.alert_slack_webhook_url:
            found.append(
                WebhookDestination("slack", settings.alert_slack_webhook_url, self.http, slack=True)
            )
        if settings.alert_telegram_bot_token and settings.alert_telegram_chat_id:
            found.append(
                TelegramDestination(
                    settings.alert_telegram_api_url,
                    settings.alert_telegram_bot_token,
                    settings.alert_telegram_chat_id,
                    self.http,
                )
            )
        if settings.alert_ntfy_url:
            found.append(
                NtfyDestination(settings.alert_ntfy_url, settings.alert_ntfy_token, self.http)
            )
        global_channel = settings.alert_ably_channel
        account_template = settings.alert_ably_account_channel
        if self.ably is not None and (global_channel or account_template):

            def channels_for(alert: Alert) -> list[str]:
                names = [global_channel] if global_channel else []
                if account_template and alert.account_id:
                    names.append(account_template.format(account_id=alert.account_id))
                return names

            found.append(AblyDestination(self.ably, channels_for))
        return found

    async def _start_edges(self) -> None:
        # Startup hooks run before the broker starts consuming; the edges publish at once
        # (Ably catch-up, a schedule's missed fire), so connect the publisher first.
        await self.service.broker.connect()
        if self.ably is not None:
            await self.ably.start()  # the SDK's client needs the running event loop
        await self.alerts.start()
        await self.plans.start()
        await self.redis_edge.start()
        if self.ably_edge:
            await self.ably_edge.start()
        await self.scheduler.start()
        if self.api_server:
            await self.api_server.start()

    async def _stop_edges(self) -> None:
        if self.api_server:
            await self.api_server.stop()
        await self.scheduler.stop()
        await self.redis_edge.stop()
        if self.ably_edge:
            await self.ably_edge.stop()
        if self.ably is not None:
            await self.ably.close()
        await self.plans.stop()
        await self.alerts.stop()
        await self.http.aclose()

    async def start(self) -> None:
        """Start the service (tests, benchmark)."""
        await self.service.start()

    async def stop(self) -> None:
        """Stop the service."""
        await self.service.stop()


def create_app(
    settings: NotifierSettings | None = None,
    accounts: Accounts | None = None,
    ably: RealtimeChannels | None = None,
) -> Notifier:
    """Build the notifier from its settings and the accounts file (from the environment).

    ``ably`` replaces the real Ably client (tests use a fake behind the same Protocol).
    """
    settings = settings or NotifierSettings()
    accounts = accounts if accounts is not None else accounts_from_env()
    return Notifier(settings, accounts, ably)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM; a bad accounts file exits 2 saying why."""
    try:
        notifier = build_or_exit("notifier", create_app)
    except (ScheduleError, AblyConfigError) as error:
        print(f"notifier: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    notifier.service.serve_forever()
