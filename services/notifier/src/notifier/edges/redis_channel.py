"""Triggers from a Redis pub/sub channel (``PUBLISH rebalance '{"account_id": ...}'``).

Every replica receives every pub/sub message, so a trigger is claimed in Redis before it
is published (SET NX on its signature, its ``id``, or a hash of its bytes within a short
window): one trigger, one RequestRebalance, however many replicas listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import redis.asyncio as aioredis

from notifier.authn import TriggerAuthenticator
from notifier.core.errors import Refusal
from notifier.core.signing import canonical_body
from notifier.core.trigger_payload import parse_trigger_object
from notifier.intake import TriggerIntake
from shared.contracts.limits import TooDeeplyNested, loads_bounded

log = logging.getLogger(__name__)

DEDUPE_PREFIX = "notifier:redis-trigger:"
MAX_MESSAGE_BYTES = 65_536


class RedisChannelEdge:
    """Listen on the trigger channel, reconnecting with backoff; never crash on input."""

    def __init__(
        self,
        client: aioredis.Redis,
        channel: str,
        intake: TriggerIntake,
        auth: TriggerAuthenticator,
        dedupe_window_s: int,
    ) -> None:
        self._client = client
        self._channel = channel
        self._intake = intake
        self._auth = auth
        self._dedupe_window_s = dedupe_window_s
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        """Start listening in the background; returns once subscribed (or after 5 s)."""
        self._task = asyncio.create_task(self._run(), name="redis-trigger-channel")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 5)

    async def stop(self) -> None:
        """Stop listening."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def health(self) -> bool | str:
        """Healthy while subscribed to the channel."""
        return self.subscribed.is_set() or f"not subscribed to Redis channel {self._channel!r}"

    async def _run(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self.subscribed.set()
                delay = 0.5
                log.info("listening for triggers on Redis channel %r", self._channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self.on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.subscribed.clear()
                log.warning(
                    "Redis trigger channel lost (%s); resubscribing in %.1f s", error, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def on_message(self, data: bytes | str) -> None:
        """Handle one raw channel message; refusals are logged and counted, never raised."""
        raw = data.encode() if isinstance(data, str) else data
        try:
            if len(raw) > MAX_MESSAGE_BYTES:
                raise Refusal(
                    "too_large", f"trigger of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}"
                )
            try:
                payload = loads_bounded(raw)
            except TooDeeplyNested as error:
                raise Refusal("too_deep", str(error)) from None
            except ValueError:
                raise Refusal(
                    "malformed_json",
                    'the message is not JSON; publish e.g. {"account_id": "DU123", '
                    '"execution": "rebalance"}',
                ) from None
            if isinstance(payload, dict) and self._auth.enabled:
                await self._auth.check(
                    payload.get("timestamp"), payload.get("signature"), canonical_body(payload)
                )
            trigger = parse_trigger_object(payload)
            if not self._auth.enabled:
                # The signature's replay set already dedupes signed triggers.
                key = trigger.trigger_id or hashlib.sha256(raw).hexdigest()
                first = await self._client.set(
                    DEDUPE_PREFIX + key, b"1", nx=True, ex=self._dedupe_window_s
                )
                if not first:
                    log.debug("trigger %s already taken by another replica", key)
                    return
            await self._intake.submit(trigger, "redis")
        except Refusal as refusal:
            await self._intake.refused("redis", refusal)
        except Exception:
            log.exception("could not handle a Redis trigger; it was dropped")
