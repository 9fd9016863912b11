"""Broker factory and the publisher that puts contract messages on their streams."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from faststream.redis import RedisBroker
from faststream.redis.prometheus import RedisPrometheusMiddleware
from faststream.security import SASLPlaintext
from prometheus_client import CollectorRegistry
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.contracts.base import Message
from shared.contracts.catalogue import spec_of, stream_of
from shared.kit.metrics import KitMetrics
from shared.kit.settings import ServiceSettings

log = logging.getLogger(__name__)


def reconnecting() -> dict[str, Any]:
    """Connection-pool options that carry a service through a Redis restart.

    A pooled connection to a Redis that restarted is dead; redis-py's pools (FastStream's
    included) do not retry by default, so the first command on each such connection failed
    (the notifier answered 500, the executor rejected a plan as stale data). With these, a
    command that meets a closed connection reconnects and is sent again, for about 5 s. Only
    connection errors are retried, not timeouts: every consumer is idempotent, so a publish
    repeated after a connection lost mid-reply is harmless.
    """
    return {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=6),
        "retry_on_error": [RedisConnectionError, OSError],
    }


def create_broker(settings: ServiceSettings, registry: CollectorRegistry) -> RedisBroker:
    """Return a Redis broker with Prometheus metrics and per-message logs at DEBUG.

    FastStream logs every message at INFO by default, which floods an operator's view and
    halves throughput; its per-message lines go to DEBUG here.
    """
    security = None
    if settings.redis_password is not None:
        security = SASLPlaintext(
            username=settings.redis_username, password=settings.redis_password.get_secret_value()
        )
    return RedisBroker(
        settings.redis_url,
        security=security,
        max_connections=settings.redis_max_connections,
        log_level=logging.DEBUG,
        **reconnecting(),
        middlewares=[RedisPrometheusMiddleware(registry=registry, app_name=settings.SERVICE)],
    )


class Publisher:
    """Publish contract messages on the stream the catalogue assigns them."""

    def __init__(
        self, broker: RedisBroker, metrics: KitMetrics, client: aioredis.Redis | None = None
    ) -> None:
        self._broker = broker
        self._metrics = metrics
        self._client = client

    async def publish(self, message: Message, *, stream: str | None = None) -> None:
        """Put ``message`` on its stream (or on ``stream`` when given, e.g. a reply stream)."""
        name = stream or stream_of(message)
        maxlen = spec_of(name).maxlen if stream is None else None
        await self._broker.publish(
            message.model_dump(mode="json"),
            stream=name,
            maxlen=maxlen,
            correlation_id=message.correlation_id or message.message_id,
        )
        message_type = getattr(message, "type", type(message).__name__)
        self._metrics.published.labels(name, message_type).inc()
        log.debug(
            "published %s on %s", message_type, name, extra={"message_id": message.message_id}
        )

    async def publish_many(self, messages: list[Message]) -> None:
        """Publish many messages in one Redis round trip (a pipeline), each on its stream."""
        if self._client is None:
            raise RuntimeError("publish_many needs the Publisher built with its Redis client")
        async with self._client.pipeline(transaction=False) as pipe:
            for message in messages:
                name = stream_of(message)
                await self._broker.publish(
                    message.model_dump(mode="json"),
                    stream=name,
                    maxlen=spec_of(name).maxlen,
                    correlation_id=message.correlation_id or message.message_id,
                    pipeline=pipe,
                )
            await pipe.execute()
        for message in messages:
            kind = getattr(message, "type", type(message).__name__)
            self._metrics.published.labels(stream_of(message), kind).inc()
