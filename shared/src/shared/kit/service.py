"""A service process: settings, logs, metrics, broker, subscriptions and ops endpoints.

Each service's ``main.create_app(settings)`` builds a :class:`Service`, registers its
handlers and checks, and ``main.run()`` serves it::

    service = Service(settings)
    service.subscribe(catalogue.ALLOCATIONS, on_target_allocation_set)
    service.serve_forever()

``serve_forever`` runs uvicorn on the ops port; its lifespan starts the service (consumer
groups from ``0`` first, then the broker) and stops it on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shared.contracts.base import Message
from shared.contracts.catalogue import StreamSpec
from shared.kit.broker import Publisher, create_broker, reconnecting
from shared.kit.consumer import Handler, StreamConsumer, ensure_groups
from shared.kit.logging import configure_logging
from shared.kit.metrics import KitMetrics
from shared.kit.ops import ASGIApp, HealthCheck, HealthChecks, make_ops_app
from shared.kit.settings import ServiceSettings

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
Dispatch = Mapping[type[Message], Callable[[Any], Awaitable[None]]]
"""A typed dispatch table: message class -> its handler (``{ApprovePlan: on_approve_plan}``)."""


class Service:
    """The plumbing of one service instance; the service adds handlers, checks and hooks."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.name = settings.SERVICE
        self.metrics = KitMetrics()
        self.broker = create_broker(settings, self.metrics.registry)
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        username = settings.redis_username if password else None
        # A blocking pool: under a burst, a command waits for a connection instead of failing.
        self.redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                settings.redis_url,
                username=username,
                password=password,
                max_connections=settings.redis_max_connections,
                timeout=None,
                **reconnecting(),
            )
        )
        # Health asks once, without the retries that carry commands through a restart, so a
        # Redis that is down reads "cannot reach Redis" at once rather than a check timeout.
        self._probe = aioredis.Redis.from_url(
            settings.redis_url,
            username=username,
            password=password,
            max_connections=2,
            retry=Retry(NoBackoff(), 0),
        )
        self.publisher = Publisher(self.broker, self.metrics, self.redis)
        self.consumer = StreamConsumer(
            self.broker,
            self.redis,
            self.publisher,
            self.metrics,
            service=self.name,
            group=settings.group,
            consumer=settings.consumer,
            reclaim_idle_ms=settings.reclaim_idle_ms,
            max_deliveries=settings.max_deliveries,
            batch_size=settings.read_batch_size,
        )
        self.health = HealthChecks()
        self.health.add("redis", self._redis_ok)
        self._on_startup: list[Hook] = []
        self._after_startup: list[Hook] = []
        self._on_shutdown: list[Hook] = []
        self._started = False
        self.tasks: set[asyncio.Task[None]] = set()

    def subscribe(
        self,
        spec: StreamSpec,
        handler: Handler | Dispatch,
        *,
        polling_interval_ms: int = 100,
        concurrency: int = 1,
    ) -> None:
        """Consume ``spec``'s stream in this service's group (see StreamConsumer.subscribe).

        ``handler`` is one callable for every message of the stream, or a dispatch table by
        message class; a message of a class the table does not name is skipped and counted
        (``rebalancer_messages_ignored_total``). ``concurrency`` > 1 is for streams whose
        messages do not depend on each other's order (RPC requests).
        """
        if isinstance(handler, Mapping):
            handler = self._dispatcher(spec, handler)
        self.consumer.subscribe(
            spec, handler, polling_interval_ms=polling_interval_ms, concurrency=concurrency
        )

    def _dispatcher(self, spec: StreamSpec, table: Dispatch) -> Handler:
        unknown = set(table) - set(spec.messages)
        if unknown:
            names = ", ".join(sorted(cls.__name__ for cls in unknown))
            raise ValueError(f"{names} never travel on {spec.name}")
        routes = dict(table)

        async def dispatch(message: Message) -> None:
            handler = routes.get(type(message))
            if handler is None:
                kind = getattr(message, "type", type(message).__name__)
                self.metrics.ignored.labels(spec.name, kind).inc()
                return
            await handler(message)

        return dispatch

    def background(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task of the service: its failure is logged and counted (never
        swallowed silently), and :meth:`stop` cancels it."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self.tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                self.metrics.background_failures.inc()
                log.error("task %s failed", name, exc_info=finished.exception())

        task.add_done_callback(done)
        return task

    async def stop_background(self) -> None:
        """Cancel the background tasks and wait for them to end."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def publish(self, message: Message) -> None:
        """Publish a contract message on its stream."""
        await self.publisher.publish(message)

    def add_health_check(
        self, name: str, check: HealthCheck, timeout_s: float | None = None
    ) -> None:
        """Make readiness depend on ``check`` too (answering within ``timeout_s``, default 2 s)."""
        self.health.add(name, check, timeout_s)

    def on_startup(self, hook: Hook) -> Hook:
        """Run ``hook`` after the consumer groups exist and before consumers start."""
        self._on_startup.append(hook)
        return hook

    def after_startup(self, hook: Hook) -> Hook:
        """Run ``hook`` once the broker runs (consumers started, publishing possible)."""
        self._after_startup.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Run ``hook`` after consumers stopped, while publishing still works."""
        self._on_shutdown.append(hook)
        return hook

    async def start(self) -> None:
        """Create groups from 0, run startup hooks, start consuming."""
        await ensure_groups(self.redis, self.consumer.streams, self.settings.group)
        for hook in self._on_startup:
            await hook()
        await self.broker.start()
        self._started = True
        for hook in self._after_startup:
            await hook()
        self.metrics.ready.set(1)
        log.info(
            "%s started: group %s, consumer %s, streams %s",
            self.name,
            self.settings.group,
            self.settings.consumer,
            ", ".join(self.consumer.streams) or "none",
        )

    async def stop(self) -> None:
        """Stop consuming, run shutdown hooks, close connections."""
        self.metrics.ready.set(0)
        if self._started:
            # Consumers first, so no message is handled while hooks run; the connection stays
            # up until the hooks are done, so what they publish (last events) goes out.
            for subscriber in self.broker.subscribers:
                await subscriber.stop()
        await self.stop_background()
        for hook in self._on_shutdown:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %s failed", getattr(hook, "__name__", hook))
        if self._started:
            await self.broker.stop()
        await self.redis.aclose()
        await self._probe.aclose()
        self._started = False
        log.info("%s stopped", self.name)

    def ops_app(self) -> ASGIApp:
        """Return the ASGI app of /health and /metrics whose lifespan runs the service."""
        return make_ops_app(self.name, self.health, self.metrics.registry, self.start, self.stop)

    def uvicorn_server(self) -> uvicorn.Server:
        """Return a uvicorn server for the ops app (its lifespan starts and stops us)."""
        config = uvicorn.Config(
            self.ops_app(),
            host=self.settings.ops_host,
            port=self.settings.ops_port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
        return uvicorn.Server(config)

    def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM (blocking); logs JSON lines to stdout."""
        configure_logging(self.name, self.settings.log_level, self.settings.secret_values())
        # uvicorn handles SIGINT/SIGTERM (graceful shutdown through the lifespan), then raises
        # the signal again with the handlers found before it started: make those harmless so
        # a clean stop exits 0, as supervisors (docker, `rebalancer up`) expect.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        server = self.uvicorn_server()
        asyncio.run(server.serve())
        if not server.started:
            raise SystemExit(1)

    async def _redis_ok(self) -> bool | str:
        try:
            return bool(await self._probe.ping())
        except Exception as error:
            return f"cannot reach Redis at {_redact(self.settings.redis_url)}: {error}"


def _redact(url: str) -> str:
    """Drop any password from a URL before it is shown."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
