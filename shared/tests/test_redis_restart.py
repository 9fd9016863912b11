"""A service's connections survive a Redis restart: the first call after Redis is back
succeeds (it used to fail once per pooled connection: the notifier answered 500, the executor
rejected the next plan as stale data)."""

from __future__ import annotations

from datetime import timedelta

from rebalancer_cli.embedded_redis import RedisServer
from shared.contracts import catalogue
from shared.contracts.alerts import SendAlert
from shared.contracts.base import utc_now
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
