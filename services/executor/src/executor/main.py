"""Entry point of the executor service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

import logging

from executor.adapters import DecisionStore, PortfolioReader, ReadModel, RpcPortfolioReader
from executor.engine import Clock, Engine
from executor.handlers import Handlers
from executor.metrics import ExecutorMetrics
from executor.recovery import rebuild, resume
from executor.runner import Runner
from executor.settings import ExecutorSettings
from shared.accounts import Accounts, accounts_from_env
from shared.contracts import catalogue
from shared.contracts.base import utc_now
from shared.kit.service import Service

log = logging.getLogger(__name__)


def create_app(
    settings: ExecutorSettings | None = None,
    *,
    accounts: Accounts | None = None,
    portfolio: PortfolioReader | None = None,
    clock: Clock = utc_now,
) -> Service:
    """Build the executor (settings from the environment, accounts from
    ``REBALANCER_ACCOUNTS_FILE``, the bridge over Redis, unless given)."""
    settings = settings or ExecutorSettings()
    service = Service(settings)
    accounts = accounts if accounts is not None else accounts_from_env()
    store = DecisionStore(settings.data_dir)
    engine = Engine(
        settings,
        accounts,
        service.publish,
        portfolio
        or RpcPortfolioReader(
            service.redis, service.publisher, settings.portfolio_timeout_s, service.name
        ),
        ReadModel(service.redis),
        store,
        ExecutorMetrics(service.metrics.registry),
        clock,
        service.name,
    )
    engine.run_plan = Runner(engine).run_plan
    handlers = Handlers(engine)
    service.subscribe(catalogue.PLANS, handlers.on_plan_event)
    service.subscribe(catalogue.PLAN_COMMANDS, handlers.on_plan_command)
    service.subscribe(catalogue.ORDERS, handlers.on_order_event, polling_interval_ms=20)
    service.subscribe(catalogue.GATEWAY, handlers.on_gateway_event)
    service.subscribe(catalogue.TRIGGERS, handlers.on_trigger)
    service.engine = engine  # for tests and the benchmark

    async def started() -> None:
        await rebuild(engine, service.redis)

    async def running() -> None:
        engine.spawn(resume(engine), "resume")

    async def stopping() -> None:
        await engine.stop()
        store.close()

    service.on_startup(started)
    service.after_startup(running)
    service.on_shutdown(stopping)

    return service


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM."""
    create_app().serve_forever()
