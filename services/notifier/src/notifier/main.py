"""Entry point of the notifier service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

import httpx
from shared.accounts import Accounts, accounts_from_env
from shared.contracts import catalogue
from shared.kit.service import Service

from notifier.authn import TriggerAuthenticator
from notifier.edges.http_api import create_api
from notifier.edges.http_server import ApiServer
from notifier.edges.redis_channel import RedisChannelEdge
from notifier.intake import TriggerIntake
from notifier.metrics import NotifierMetrics
from notifier.plan_store import PlanStore
from notifier.resolver import TriggerResolver
from notifier.settings import NotifierSettings
from notifier.sources import AllocationSources


class Notifier:
    """The notifier's parts, exposed for tests and the benchmark."""

    def __init__(self, settings: NotifierSettings, accounts: Accounts) -> None:
        self.settings = settings
        self.accounts = accounts
        self.service = Service(settings)
        self.metrics = NotifierMetrics(self.service.metrics.registry)
        self.http = httpx.AsyncClient(follow_redirects=False)
        redis = self.service.redis
        self.intake = TriggerIntake(self.service, accounts, self.metrics, settings.trigger_ttl_s)
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
        self.service.subscribe(catalogue.TRIGGERS, self.resolver.on_request_rebalance)
        self.redis_edge = RedisChannelEdge(
            redis, settings.trigger_channel, self.intake, self.auth, settings.redis_dedupe_window_s
        )
        self.service.add_health_check("trigger_channel", self.redis_edge.health)
        self.plans = PlanStore(redis)
        self.api_server: ApiServer | None = None
        if settings.api_enabled:
            api = create_api(
                settings=settings,
                service=self.service,
                accounts=accounts,
                intake=self.intake,
                auth=self.auth,
                plans=self.plans,
                health=self.service.health.run,
            )
            self.api_server = ApiServer(api, settings.api_host, settings.api_port)
        self.service.on_startup(self._start_edges)
        self.service.on_shutdown(self._stop_edges)

    async def _start_edges(self) -> None:
        await self.plans.start()
        await self.redis_edge.start()
        if self.api_server:
            await self.api_server.start()

    async def _stop_edges(self) -> None:
        if self.api_server:
            await self.api_server.stop()
        await self.redis_edge.stop()
        await self.plans.stop()
        await self.http.aclose()

    async def start(self) -> None:
        """Start the service (tests, benchmark)."""
        await self.service.start()

    async def stop(self) -> None:
        """Stop the service."""
        await self.service.stop()


def create_app(
    settings: NotifierSettings | None = None, accounts: Accounts | None = None
) -> Notifier:
    """Build the notifier from its settings and the accounts file (from the environment)."""
    settings = settings or NotifierSettings()
    accounts = accounts if accounts is not None else accounts_from_env()
    return Notifier(settings, accounts)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM."""
    create_app().service.serve_forever()
