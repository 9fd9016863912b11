"""Request-reply over Redis, and /health + /metrics served by a real service process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from rebalancer_cli.embedded_redis import RedisServer, free_port
from shared.contracts import catalogue
from shared.contracts.base import Message, utc_now
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable
from shared.kit.rpc import RpcClient, RpcTimeout, send_reply
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings


def request(account: str = "DU404") -> GetPortfolio:
    return GetPortfolio(
        source="test", valid_until=utc_now() + timedelta(seconds=30), account_id=account
    )


async def test_request_gets_the_responders_reply(redis_url: str) -> None:
    responder = Service(ServiceSettings(redis_url=redis_url, consumer_name="r"))

    async def answer(message: Message) -> None:
        assert isinstance(message, GetPortfolio)
        reply = PortfolioUnavailable(
            source="responder", account_id=message.account_id, code="unknown_account", reason="no"
        )
        await send_reply(responder.redis, message, reply)

    responder.subscribe(catalogue.PORTFOLIO_RPC, answer)
    await responder.start()
    client = aioredis.Redis.from_url(redis_url)
    try:
        rpc = RpcClient(client, responder.publisher)
        reply = await rpc.request(request("DU404"), catalogue.PORTFOLIO_REPLIES, timeout_s=5)
        assert isinstance(reply, PortfolioUnavailable)
        assert reply.account_id == "DU404"
    finally:
        await responder.stop()
        await client.aclose()


async def test_a_burst_of_requests_larger_than_the_connection_pool_is_answered(
    redis_url: str,
) -> None:
    # redis-py's asyncio pool holds 100 connections and raises when they are all in use;
    # each waiting request holds one, so 150 at once used to fail (a fleet of accounts).
    responder = Service(ServiceSettings(redis_url=redis_url, consumer_name="r"))

    async def answer(message: Message) -> None:
        assert isinstance(message, GetPortfolio)
        reply = PortfolioUnavailable(
            source="responder", account_id=message.account_id, code="unknown_account", reason="-"
        )
        await send_reply(responder.redis, message, reply)

    responder.subscribe(catalogue.PORTFOLIO_RPC, answer)
    await responder.start()
    client = aioredis.Redis.from_url(redis_url)
    rpc = RpcClient(client, responder.publisher)
    try:
        replies = await asyncio.gather(
            *(
                rpc.request(request(f"DU{n}"), catalogue.PORTFOLIO_REPLIES, timeout_s=20)
                for n in range(150)
            )
        )
        assert sorted(r.account_id for r in replies) == sorted(f"DU{n}" for n in range(150))
    finally:
        await rpc.close()
        await responder.stop()
        await client.aclose()


async def test_a_reply_slower_than_the_sockets_read_timeout_still_arrives(redis_url: str) -> None:
    # redis-py's default socket timeout (5 s) cut the BLPOP of a 10 s portfolio wait; the
    # client here has a 0.3 s one, the reply takes 0.8 s, the request allows 3 s.
    responder = Service(ServiceSettings(redis_url=redis_url, consumer_name="r"))

    async def answer_slowly(message: Message) -> None:
        assert isinstance(message, GetPortfolio)
        await asyncio.sleep(0.8)  # a slow responder, not a wait for a condition
        reply = PortfolioUnavailable(
            source="responder", account_id=message.account_id, code="unknown_account", reason="-"
        )
        await send_reply(responder.redis, message, reply)

    responder.subscribe(catalogue.PORTFOLIO_RPC, answer_slowly)
    await responder.start()
    client = aioredis.Redis.from_url(redis_url, socket_timeout=0.3)
    rpc = RpcClient(client, responder.publisher)
    try:
        reply = await rpc.request(request("DU7"), catalogue.PORTFOLIO_REPLIES, timeout_s=3)
        assert reply.account_id == "DU7"
    finally:
        await rpc.close()
        await responder.stop()
        await client.aclose()


async def test_request_without_a_responder_times_out_with_a_clear_error(redis_url: str) -> None:
    service = Service(ServiceSettings(redis_url=redis_url))
    await service.broker.connect()
    client = aioredis.Redis.from_url(redis_url)
    try:
        rpc = RpcClient(client, service.publisher)
        with pytest.raises(RpcTimeout, match=r"rpc\.portfolio\.v1 within 0\.3 s"):
            await rpc.request(request(), catalogue.PORTFOLIO_REPLIES, timeout_s=0.3)
    finally:
        await client.aclose()
        await service.broker.stop()
        await service.redis.aclose()


def _wait_for(url: str, status: int, timeout_s: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=3)
            if response.status_code == status:
                return response
            last = response.status_code
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.05)
    raise AssertionError(f"{url} never answered {status} (last: {last})")


@pytest.mark.parametrize("service", ["planner", "executor", "notifier", "gateway-bridge"])
def test_service_process_serves_health_and_metrics_and_follows_redis(
    service: str, tmp_path: Path
) -> None:
    redis_server = RedisServer(tmp_path / "redis").start()
    port = free_port()
    prefix = {"gateway-bridge": "BRIDGE_"}.get(service, service.upper() + "_")
    module = service.replace("-", "_")
    env = {
        **os.environ,
        f"{prefix}REDIS_URL": redis_server.url,
        f"{prefix}OPS_PORT": str(port),
        f"{prefix}DATA_DIR": str(tmp_path / "data"),
        f"{prefix}REPORTS_DIR": str(tmp_path / "reports"),
        f"{prefix}API_PORT": str(free_port()),
        f"{prefix}IB_PORT": str(free_port()),  # nothing listens: the bridge must say so
    }
    process = subprocess.Popen(
        [sys.executable, "-m", module], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        health = f"http://127.0.0.1:{port}/health"
        if service == "gateway-bridge":
            # Ready only with its own dependencies: Redis AND the IB connection.
            body = _wait_for(health, 503).json()
            assert body["checks"]["redis"] == "ok"
            assert body["checks"]["ib"] != "ok"
        else:
            body = _wait_for(health, 200).json()
            assert body == {"service": service, "ready": True, "checks": body["checks"]}
            assert body["checks"]["redis"] == "ok"
            redis_server.kill()
            down = _wait_for(health, 503).json()
            assert "cannot reach Redis" in down["checks"]["redis"]
            redis_server.start()
            _wait_for(health, 200)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "rebalancer_messages_handled_total" in metrics
        assert "rebalancer_service_ready" in metrics
        assert "process_resident_memory_bytes" in metrics
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
        redis_server.stop()
    assert process.returncode == 0, output
    assert '"message": "' in output  # JSON log lines


async def test_health_check_that_hangs_is_reported_not_ready_within_its_timeout(
    redis_url: str,
) -> None:
    service = Service(ServiceSettings(redis_url=redis_url))

    async def hangs() -> bool:
        await asyncio.sleep(60)
        return True

    service.add_health_check("slow-dependency", hangs, timeout_s=0.2)
    ready, results = await service.health.run()
    assert not ready
    assert results["slow-dependency"] == "no answer within 0.2 s"
    assert results["redis"] == "ok"
    await service.redis.aclose()
