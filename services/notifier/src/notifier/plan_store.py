"""An in-memory view of recent plans, fed by reading ``events.plans.v1`` from its start.

It reads the stream directly (XREAD, not the consumer group) so that every replica sees
every plan and can answer ``GET /api/v1/plans`` alone. Bounded to the newest ``capacity``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

import redis.asyncio as aioredis
from faststream.redis.parser.binary import BinaryMessageFormatV1
from shared.contracts import catalogue
from shared.kit.consumer import MalformedMessage, decode_entry

from notifier.core.plan_view import PlanRow, fold, row_key

log = logging.getLogger(__name__)


class PlanStore:
    """Recent plans by id, kept up to date in the background."""

    def __init__(self, client: aioredis.Redis, capacity: int = 2000) -> None:
        self._client = client
        self._capacity = capacity
        self._rows: OrderedDict[str, PlanRow] = OrderedDict()
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

    def get(self, key: str) -> PlanRow | None:
        """Return the row of a plan id (or of an allocation id for a plan never made)."""
        row = self._rows.get(key)
        if row is not None:
            return row
        return next((r for r in self._rows.values() if r.allocation_id == key), None)

    def rows(self, account_id: str | None = None, status: str | None = None) -> list[PlanRow]:
        """Return rows, newest first, optionally filtered."""
        found = [
            r
            for r in reversed(self._rows.values())
            if (account_id is None or r.account_id == account_id)
            and (status is None or r.status == status)
        ]
        return sorted(found, key=lambda r: r.updated_at, reverse=True)

    def by_allocation(self, allocation_ids: set[str]) -> dict[str, PlanRow]:
        """Return the row (proposed or rejected) of each allocation id known so far."""
        return {
            r.allocation_id: r for r in self._rows.values() if r.allocation_id in allocation_ids
        }

    async def wait_changed(self, timeout_s: float) -> None:
        """Wait until the view changes or ``timeout_s`` passes."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)

    async def _follow(self) -> None:
        last_id = "0"
        while True:
            try:
                answer = await self._client.xread(
                    {catalogue.PLANS.name: last_id}, count=500, block=1000
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("cannot read %s (%s); retrying", catalogue.PLANS.name, error)
                await asyncio.sleep(1)
                continue
            if not answer:
                self.caught_up.set()
                continue
            for _stream, entries in answer:
                for entry_id, fields in entries:
                    last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    self._apply(fields)
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def _apply(self, fields: dict[bytes, bytes]) -> None:
        body = fields.get(b"__data__") or next(iter(fields.values()), b"")
        try:
            event = decode_entry(catalogue.PLANS, _faststream_body(body))
        except MalformedMessage:
            return
        key = row_key(event)
        if key is None:
            return
        row = fold(self._rows.get(key), event)
        if row is None:
            return
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self._capacity:
            self._rows.popitem(last=False)


def _faststream_body(raw: bytes) -> bytes:
    """Return the JSON body of a stream entry written by FastStream (or by hand)."""
    return BinaryMessageFormatV1.parse(raw)[0]
