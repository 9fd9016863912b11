"""A service's connections survive a Redis restart: the first call after Redis is back
succeeds (it used to fail once per pooled connection: the notifier answered 500, the executor
rejected the next plan as stale data)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from faststream.redis import RedisBroker

from rebalancer_cli.embedded_redis import RedisServer
from shared.contracts import catalogue
from shared.contracts.alerts import SendAlert
from shared.contracts.base import utc_now
from shared.kit.broker import Publisher
from shared.kit.metrics import KitMetrics
from shared.kit.portfolio import PortfolioClient, PortfolioUnavailableError
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings


def alert() -> SendAlert:
    return SendAlert(
        source="test",
        valid_until=utc_now() + timedelta(minutes=5),
        title="t",
        text="after the restart",
        severity="info",
    )


async def test_the_first_commands_and_publishes_after_a_redis_restart_succeed(
    fresh_redis: RedisServer,
) -> None:
    service = Service(ServiceSettings(redis_url=fresh_redis.url, consumer_name="c"))
    await service.start()
    try:
        # Several pooled connections, as a busy service holds them.
        for _ in range(3):
            assert await service.redis.ping()
        await service.publish(alert())
        fresh_redis.kill()
        fresh_redis.restart()
        assert await service.redis.ping()
        assert await service.redis.xlen(catalogue.ALERTS.name) == 1
        await service.publish(alert())
        assert await service.redis.xlen(catalogue.ALERTS.name) == 2
    finally:
        await service.stop()


async def test_a_portfolio_request_blames_redis_only_when_redis_is_down(
    fresh_redis: RedisServer,
) -> None:
    """The probe's plan failed with "Redis failed" while Redis was fine and the bridge was down:
    no answer is ``timeout`` (is the bridge running?), only a Redis that cannot be reached is
    ``redis_unavailable``. (Plain connections without the services' reconnect retries, so the
    Redis that is down answers at once.)"""
    broker = RedisBroker(fresh_redis.url)
    await broker.connect()
    client = aioredis.Redis.from_url(fresh_redis.url)
    portfolio = PortfolioClient(client, Publisher(broker, KitMetrics()), source="t", timeout_s=0.5)
    try:
        with pytest.raises(PortfolioUnavailableError) as silent:
            await portfolio.get("DU1")  # nobody answers: no bridge
        assert silent.value.code == "timeout"
        assert "Redis" not in silent.value.reason.message
        fresh_redis.kill()
        with pytest.raises(PortfolioUnavailableError) as down:
            await portfolio.get("DU1")
        assert down.value.code == "redis_unavailable"
        assert "Redis cannot be reached" in down.value.reason.message
    finally:
        fresh_redis.restart()
        await portfolio.close()
        await client.aclose()
        await broker.stop()
