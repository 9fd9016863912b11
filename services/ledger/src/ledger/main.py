"""Entry point of the ledger service: ``create_app`` is the one place dependencies are chosen.

Start order: consumer groups exist (the kit, from ``0``) -> the database opens and migrates
-> on a new database (or ``LEDGER_REPLAY_ON_START=always``) the orders and positions groups
go back to ``0`` -> the last quotes and account values are read from their streams' tails ->
consumers start -> the PnL gauges and the history thinning run in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ledger.adapters import entry_after, group_position, move_group, stream_tail
from ledger.core.positions import history_cutoff
from ledger.handlers import Clock, Ledger
from ledger.metrics import LedgerMetrics
from ledger.settings import LedgerSettings
from ledger.store.base import LedgerStore
from ledger.store.postgres import PostgresLedgerStore
from ledger.store.sqlite import SqliteLedgerStore
from shared.contracts import catalogue
from shared.contracts.account import AccountSnapshot
from shared.contracts.base import Message, utc_now
from shared.contracts.prices import PriceUpdated
from shared.kit.rpc import send_reply
from shared.kit.service import Service

log = logging.getLogger(__name__)

HISTORY_STREAMS = (catalogue.ORDERS, catalogue.POSITIONS)
"""Streams whose whole history the ledger needs (read again into a new database)."""


def store_for(settings: LedgerSettings) -> LedgerStore:
    """The database the settings name: PostgreSQL for a URL, else the embedded SQLite file."""
    if settings.uses_postgres:
        return PostgresLedgerStore(
            settings.database_url.get_secret_value(), settings.database_connect_timeout_s
        )
    return SqliteLedgerStore(settings.sqlite_path)


def create_app(
    settings: LedgerSettings | None = None,
    *,
    store: LedgerStore | None = None,
    clock: Clock = utc_now,
) -> Service:
    """Build the ledger service (settings from the environment, the database they name)."""
    settings = settings or LedgerSettings()
    service = Service(settings)
    store = store or store_for(settings)
    metrics = LedgerMetrics(service.metrics.registry)

    async def reply(request: Message, answer: Message) -> None:
        await send_reply(service.redis, request, answer)

    ledger = Ledger(store, metrics, reply, settings.zone, clock)
    service.subscribe(catalogue.ORDERS, ledger.on_order_event)
    service.subscribe(catalogue.POSITIONS, ledger.on_position_event)
    service.subscribe(catalogue.ACCOUNT, ledger.on_account_event)
    service.subscribe(catalogue.PRICES, ledger.on_price)
    service.subscribe(catalogue.LEDGER_RPC, ledger.on_request, polling_interval_ms=20)
    service.add_health_check("database", store.ping, timeout_s=settings.database_connect_timeout_s)

    @service.on_startup
    async def open_database() -> None:
        new = await store.open()
        log.info("ledger database: %s (%s)", store.backend, "new" if new else "existing")
        if settings.replay_on_start == "always" or (new and settings.replay_on_start == "auto"):
            for spec in HISTORY_STREAMS:
                await move_group(service.redis, spec.name, settings.group, "0")
            log.info(
                "reading %s again from their start", ", ".join(s.name for s in HISTORY_STREAMS)
            )
        await seed_state(service, ledger, settings)

    async def thin_history() -> None:
        removed = await store.downsample_history(
            history_cutoff(clock(), settings.history_full_days)
        )
        if removed:
            log.info(
                "thinned position history: %d rows older than %d days",
                removed,
                settings.history_full_days,
            )

    @service.after_startup
    async def start_loops() -> None:
        service.background(
            _every(settings.metrics_interval_s, ledger.refresh_metrics, "PnL gauges"),
            "ledger-metrics",
        )
        service.background(
            _every(settings.maintenance_interval_s, thin_history, "history thinning"),
            "ledger-maintenance",
        )

    @service.on_shutdown
    async def close_database() -> None:
        await store.close()

    return service


async def seed_state(service: Service, ledger: Ledger, settings: LedgerSettings) -> None:
    """Read the last quotes and account values back; start the prices group at the tail."""
    prices, newest = await stream_tail(service.redis, catalogue.PRICES, settings.state_seed_entries)
    for message in prices:
        if isinstance(message, PriceUpdated):
            ledger.state.take_price(message)
    if newest is not None:
        position = await group_position(service.redis, catalogue.PRICES.name, settings.group)
        if position is None or entry_after(newest, position):
            await move_group(service.redis, catalogue.PRICES.name, settings.group, newest)
    accounts, _ = await stream_tail(service.redis, catalogue.ACCOUNT, settings.state_seed_entries)
    for message in accounts:
        if isinstance(message, AccountSnapshot):
            ledger.state.take_account(message)
    log.info(
        "ledger state: last quotes of %d symbols, values of %d accounts",
        len(ledger.state.prices),
        len(ledger.state.accounts),
    )


async def _every(interval_s: float, job: Callable[[], Awaitable[None]], what: str) -> None:
    while True:
        try:
            await job()
        except Exception:
            log.exception("%s failed; next try in %g s", what, interval_s)
        await asyncio.sleep(interval_s)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM."""
    create_app().serve_forever()
