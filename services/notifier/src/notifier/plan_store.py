"""An in-memory view of recent plans, fed by reading ``events.plans.v1`` from its start.

It reads the stream directly (XREAD, not the consumer group) so that every replica sees
every plan and can answer ``GET /api/v1/plans`` alone. The views are the shared fold
(:mod:`shared.plans.view`), the same the executor and the CLI read. Bounded to the newest
``capacity``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

import redis.asyncio as aioredis

from shared.contracts import catalogue
from shared.contracts.base import Message
from shared.kit.streams import Tail
from shared.plans.view import PlanView, fold, plan_key

log = logging.getLogger(__name__)


class PlanStore:
    """Recent plans by id, kept up to date in the background."""

    def __init__(self, client: aioredis.Redis, capacity: int = 2000) -> None:
        self._tail = Tail(client, [catalogue.PLANS])
        self._capacity = capacity
        self._views: OrderedDict[str, PlanView] = OrderedDict()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        """Start following the stream."""
        self._task = asyncio.create_task(self._follow(), name="plan-store")

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def get(self, key: str) -> PlanView | None:
        """Return the view of a plan id (or of an allocation id for a plan never made)."""
        view = self._views.get(key)
        if view is not None:
            return view
        return next((v for v in self._views.values() if v.allocation_id == key), None)

    def rows(self, account_id: str | None = None, status: str | None = None) -> list[PlanView]:
        """Return views, newest first, optionally filtered."""
        found = [
            v
            for v in reversed(self._views.values())
            if (account_id is None or v.account_id == account_id)
            and (status is None or v.status == status)
        ]
        return sorted(found, key=lambda v: v.updated_at, reverse=True)

    def by_allocation(self, allocation_ids: set[str]) -> dict[str, PlanView]:
        """Return the view (proposed or rejected, or later) of each allocation id known so far."""
        return {
            v.allocation_id: v for v in self._views.values() if v.allocation_id in allocation_ids
        }

    async def wait_changed(self, timeout_s: float) -> None:
        """Wait until the view changes or ``timeout_s`` passes."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)

    async def _follow(self) -> None:
        while True:
            try:
                events = await self._tail.read(block_ms=1000, count=500)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("cannot read %s (%s); retrying", catalogue.PLANS.name, error)
                await asyncio.sleep(1)
                continue
            if not events:
                self.caught_up.set()
                continue
            for event in events:
                self._apply(event)
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def _apply(self, event: Message) -> None:
        key = plan_key(event)
        if key is None:
            return
        view = fold(self._views.get(key), event)
        if view is None:
            return
        self._views[key] = view
        self._views.move_to_end(key)
        while len(self._views) > self._capacity:
            self._views.popitem(last=False)
