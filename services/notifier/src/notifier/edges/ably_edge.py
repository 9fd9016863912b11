"""Triggers from Ably: one channel per account (as the event-driven reference does).

``{"execution": "rebalance"}`` is the only payload that may trade; anything else, or no
payload, is a dry run. Messages are deduplicated on their Ably id in Redis (so a restart's
history catch-up never triggers twice), and only channels named in the accounts file are
listened to. After a restart, history since the last seen message (at most
``catchup_max_age_s`` back) is replayed; older messages are skipped as stale. The catch-up
runs in the background and is retried until Ably answers: a restart during an Ably outage
still replays what was missed once Ably is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from datetime import datetime, timedelta

import redis.asyncio as aioredis

from notifier.ably_adapter import AblyMessage, RealtimeChannels
from notifier.core.errors import Refusal
from notifier.core.trigger_payload import TriggerInput, execution_of
from notifier.intake import TriggerIntake
from shared.accounts import Accounts
from shared.contracts.base import utc_now

log = logging.getLogger(__name__)

SEEN_PREFIX = "notifier:ably-seen:"
LAST_PREFIX = "notifier:ably-last:"
SEEN_TTL_S = 7 * 24 * 3600
CATCH_UP_RETRY_MAX_S = 60.0


def channels_of(accounts: Accounts) -> dict[str, tuple[str, ...]]:
    """Map each configured Ably channel to the accounts it triggers."""
    found: dict[str, list[str]] = {}
    for account in accounts:
        channel = account.config.triggers.ably_channel
        if channel:
            found.setdefault(channel, []).append(account.id)
    return {channel: tuple(ids) for channel, ids in found.items()}


class AblyEdge:
    """Subscribe to every account's channel and turn its messages into triggers."""

    def __init__(
        self,
        channels: RealtimeChannels,
        client: aioredis.Redis,
        accounts: Accounts,
        intake: TriggerIntake,
        catchup_max_age_s: int,
    ) -> None:
        self._channels = channels
        self._client = client
        self._intake = intake
        self._max_age = timedelta(seconds=catchup_max_age_s)
        self._tasks: set[asyncio.Task[None]] = set()
        self.channel_accounts = channels_of(accounts)
        self.catch_up_failures = 0

    async def start(self) -> None:
        """Subscribe (attaching in the background), then catch up from history (likewise)."""
        for channel in self.channel_accounts:
            await self._channels.subscribe(channel, self.on_message)
        for channel in self.channel_accounts:
            task = asyncio.create_task(
                self._catch_up_until_done(channel), name=f"ably-catch-up-{channel}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop catching up (what is left is replayed at the next start)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _catch_up_until_done(self, channel: str) -> None:
        delay = 1.0
        while True:
            try:
                await self.catch_up(channel)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.catch_up_failures += 1
                log.warning(
                    "Ably history catch-up of %s failed (%s); retrying in %.0f s",
                    channel,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, CATCH_UP_RETRY_MAX_S)

    async def catch_up(self, channel: str) -> int:
        """Replay the channel's history since the last message seen; return how many."""
        last = await self._client.get(LAST_PREFIX + channel)
        if last is None:
            return 0  # first run: nothing was missed that we could have seen
        oldest = utc_now() - self._max_age
        since = max(datetime.fromisoformat(last.decode()), oldest)
        messages = await self._channels.history(channel, since)
        for message in messages:
            await self.on_message(message)
        log.info("Ably catch-up on %s: %d message(s) since %s", channel, len(messages), since)
        return len(messages)

    async def on_message(self, message: AblyMessage) -> None:
        """Handle one Ably message; refusals are counted, never raised."""
        try:
            accounts = self.channel_accounts.get(message.channel)
            if not accounts:
                raise Refusal(
                    "wrong_channel",
                    f"Ably channel {message.channel!r} is not any account's channel",
                )
            if utc_now() - message.timestamp > self._max_age:
                raise Refusal(
                    "stale_trigger",
                    f"Ably message {message.id} from {message.timestamp.isoformat()} is older "
                    f"than {self._max_age.total_seconds():.0f} s; not acting on it",
                )
            identity = (
                message.id
                or hashlib.sha256(
                    f"{message.channel}|{message.timestamp.isoformat()}|{json.dumps(message.data, default=str)}".encode()
                ).hexdigest()
            )
            seen = SEEN_PREFIX + identity
            if not await self._client.set(seen, b"1", nx=True, ex=SEEN_TTL_S):
                log.debug("Ably message %s already handled", identity)
                return
            await self._remember(message)
            data = message.data if isinstance(message.data, dict) else {}
            trigger = TriggerInput(
                account_ids=accounts,
                group=None,
                execution=execution_of(data.get("execution")),
                targets=None,
                trigger_id=identity,
            )
            try:
                await self._intake.submit(trigger, "ably", requested_by=f"ably:{message.channel}")
            except Refusal:
                raise
            except Exception:
                await self._client.delete(seen)  # let a redelivery or catch-up try again
                raise
        except Refusal as refusal:
            await self._intake.refused("ably", refusal)
        except Exception:
            log.exception("could not handle Ably message %s", message.id)

    async def _remember(self, message: AblyMessage) -> None:
        key = LAST_PREFIX + message.channel
        current = await self._client.get(key)
        if current is None or datetime.fromisoformat(current.decode()) < message.timestamp:
            await self._client.set(key, message.timestamp.isoformat())
