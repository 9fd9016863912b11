"""Entry point of the planner service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

from planner.adapters import PortfolioSource
from planner.handlers import Clock, Planner
from planner.metrics import PlannerMetrics
from planner.policies import AccountPolicies
from planner.settings import PlannerSettings
from shared.accounts import Accounts, accounts_from_env
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import utc_now
from shared.kit.portfolio import PortfolioClient
from shared.kit.service import Service
from shared.kit.startup import build_or_exit


def create_app(
    settings: PlannerSettings | None = None,
    *,
    accounts: Accounts | None = None,
    portfolio: PortfolioSource | None = None,
    clock: Clock = utc_now,
) -> Service:
    """Build the planner service (settings from the environment, accounts from
    ``REBALANCER_ACCOUNTS_FILE``, the bridge over Redis, unless given)."""
    settings = settings or PlannerSettings()
    service = Service(settings)
    accounts = accounts if accounts is not None else accounts_from_env()
    source = portfolio or PortfolioClient(
        service.redis,
        service.publisher,
        source=service.name,
        timeout_s=settings.portfolio_timeout_s,
    )
    planner = Planner(
        source,
        AccountPolicies(accounts, settings.default_planning),
        service.publish,
        PlannerMetrics(service.metrics.registry),
        clock,
        settings.portfolio_timeout_s,
    )
    service.subscribe(
        catalogue.ALLOCATIONS, {TargetAllocationSet: planner.on_target_allocation_set}
    )
    return service


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM; a bad configuration exits 2 saying why."""
    build_or_exit("planner", create_app).serve_forever()
