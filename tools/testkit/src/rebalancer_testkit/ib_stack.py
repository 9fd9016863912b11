"""The planner with the real gateway-bridge and the IB emulator, all in this process.

The emulator listens on an ephemeral TCP port; the bridge connects to it with ib_async
exactly as to IB Gateway and answers ``rpc.portfolio.v1`` on the test's Redis; the planner
asks it. (The gateway-bridge's own suite has its own copy of the bridge settings; the lead
points it here after the merges.)
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from gateway_bridge.main import create_app as create_bridge
from gateway_bridge.settings import GatewayBridgeSettings
from ib_emulator import Emulator
from ib_emulator.scenario import Scenario
from planner.main import create_app as create_planner
from planner.settings import PlannerSettings
from rebalancer_testkit.waiting import eventually
from shared.accounts import Accounts
from shared.contracts import catalogue
from shared.contracts.base import Message
from shared.kit.service import Service
from shared.kit.streams import read

_ids = itertools.count(1)


def bridge_settings(
    redis_url: str, emulator: Emulator, data_dir: Path, **overrides: Any
) -> GatewayBridgeSettings:
    """A bridge for planning tests: read-only, quick quotes, no restart window."""
    n = next(_ids)
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "ib_port": emulator.port,
        "ib_client_id": 40 + n % 50,
        "data_dir": data_dir,
        "ops_port": 0,
        "consumer_name": f"bridge-planner-test-{n}",
        "backoff_initial_s": 0.1,
        "backoff_max_s": 1.0,
        "connect_timeout_s": 3.0,
        "request_timeout_s": 5.0,
        # A quote without a usable price is reported "missing" after this long.
        "quote_timeout_s": 1.0,
        "restart_window_start": "03:00",
        "restart_window_end": "03:00",
    }
    return GatewayBridgeSettings(**(values | overrides))


class IbStack:
    """The emulator, a bridge connected to it and a planner, on one Redis."""

    def __init__(
        self, emulator: Emulator, bridge: Service, planner: Service, redis_url: str
    ) -> None:
        self.emulator, self.bridge, self.planner = emulator, bridge, planner
        self.redis = aioredis.Redis.from_url(redis_url)

    async def send(self, message: Message) -> None:
        """Publish on the message's stream (as the trigger service would)."""
        await self.planner.publish(message)

    async def plans(self) -> list[Message]:
        """Every message on events.plans.v1, oldest first."""
        return await read(self.redis, catalogue.PLANS)

    async def wait_for_plans(self, count: int, within: float = 15) -> list[Message]:
        """The plan messages once there are ``count`` of them."""

        async def enough() -> list[Message] | None:
            found = await self.plans()
            return found if len(found) >= count else None

        return await eventually(enough, within, f"{count} message(s) on events.plans.v1")

    def emulator_account(self, account: str) -> dict[str, Any]:
        """The emulator's own view of an account (cash, NLV, positions)."""
        for found in self.emulator.state()["accounts"]:
            if found["id"] == account:
                return found  # type: ignore[no-any-return]
        raise KeyError(account)

    async def stop(self) -> None:
        # Bounded, so a shutdown that hangs fails here with its name instead of at the timeout.
        await asyncio.wait_for(self.planner.stop(), 20)
        await asyncio.wait_for(self.bridge.stop(), 20)
        await asyncio.wait_for(self.emulator.stop(), 20)
        await self.redis.aclose()


async def start_ib_stack(
    redis_url: str,
    data_dir: Path,
    accounts: Accounts,
    *,
    scenario: Scenario | None = None,
    bridge: dict[str, Any] | None = None,
) -> IbStack:
    """Start emulator, bridge (waits until it has reconciled with IB) and planner."""
    emulator = Emulator(scenario, admin_port=None, seed=7)
    await emulator.start()
    bridge_service = create_bridge(
        bridge_settings(redis_url, emulator, data_dir / "bridge", **(bridge or {}))
    )
    await bridge_service.start()

    async def reconciled() -> bool:
        return bool(bridge_service.bridge.gate.is_open)

    await eventually(reconciled, 15, "the bridge to reconcile with the emulator")
    planner = create_planner(
        PlannerSettings(
            redis_url=redis_url, consumer_name=f"planner-test-{next(_ids)}", portfolio_timeout_s=5
        ),
        accounts=accounts,
    )
    await planner.start()
    return IbStack(emulator, bridge_service, planner, redis_url)
