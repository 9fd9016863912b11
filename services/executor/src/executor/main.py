"""Entry point of the executor service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

from dataclasses import dataclass

from executor.handlers import subscriptions
from executor.metrics import ExecutorMetrics
from executor.reports import CsvReports
from executor.service.plans import Clock, PlanService
from executor.service.recovery import rebuild
from executor.service.runner import PortfolioReader
from executor.settings import ExecutorSettings
from shared.accounts import Accounts, accounts_from_env
from shared.contracts.base import utc_now
from shared.kit.portfolio import PortfolioClient
from shared.kit.service import Service
from shared.kit.startup import build_or_exit


@dataclass
class ExecutorApp:
    """The executor's parts: the kit's service (consumers, ops) and its plan service."""

    service: Service
    plans: PlanService

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    def serve_forever(self) -> None:
        self.service.serve_forever()


def create_app(
    settings: ExecutorSettings | None = None,
    *,
    accounts: Accounts | None = None,
    portfolio: PortfolioReader | None = None,
    clock: Clock = utc_now,
) -> ExecutorApp:
    """Build the executor (settings from the environment, accounts from
    ``REBALANCER_ACCOUNTS_FILE``, the bridge over Redis, unless given)."""
    settings = settings or ExecutorSettings()
    service = Service(settings)
    accounts = accounts if accounts is not None else accounts_from_env()
    plans = PlanService(
        settings,
        accounts,
        publish=service.publish,
        portfolio=portfolio
        or PortfolioClient(
            service.redis,
            service.publisher,
            source=service.name,
            timeout_s=settings.portfolio_timeout_s,
        ),
        reports=CsvReports(settings.reports_dir),
        metrics=ExecutorMetrics(service.metrics.registry),
        clock=clock,
        background=service.background,
    )
    for spec, table, polling_ms in subscriptions(plans):
        service.subscribe(spec, table, polling_interval_ms=polling_ms)

    async def rebuilt() -> None:
        await rebuild(plans, service.redis, service.name)

    async def resumed() -> None:
        service.background(plans.resume(), "resume")

    service.on_startup(rebuilt)
    service.after_startup(resumed)
    return ExecutorApp(service, plans)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM; a bad configuration exits 2 saying why."""
    build_or_exit("executor", create_app).serve_forever()
