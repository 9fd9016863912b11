"""Ably behind a small Protocol: the real ``AblyRealtime`` adapter and its message value.

Only this module imports ``ably``. The adapter never raises out of ``subscribe``: while the
connection cannot be established it keeps retrying (the SDK reconnects by itself; channel
attaches are retried here with backoff) and ``health()`` says what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AblyMessage:
    """A message received on an Ably channel."""

    id: str
    channel: str
    name: str | None
    data: Any
    timestamp: datetime


Listener = Callable[[AblyMessage], Awaitable[None]]


class RealtimeChannels(Protocol):
    """What the notifier needs from Ably."""

    async def subscribe(self, channel: str, listener: Listener) -> None:
        """Deliver every message of ``channel`` to ``listener`` (attaching in the background)."""
        ...

    async def history(self, channel: str, since: datetime) -> list[AblyMessage]:
        """Return the channel's messages since ``since``, oldest first."""
        ...

    async def publish(self, channel: str, name: str, data: dict[str, Any]) -> None:
        """Publish one message."""
        ...

    def health(self) -> bool | str:
        """True when connected, else a sentence saying what is wrong."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


def _decode_data(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def _to_message(channel: str, raw: Any) -> AblyMessage:
    stamp = getattr(raw, "timestamp", None)
    when = (
        datetime.fromtimestamp(stamp / 1000, UTC)
        if isinstance(stamp, (int, float))
        else datetime.now(UTC)
    )
    return AblyMessage(
        id=str(getattr(raw, "id", "") or ""),
        channel=channel,
        name=getattr(raw, "name", None),
        data=_decode_data(getattr(raw, "data", None)),
        timestamp=when,
    )


class AblyRealtimeAdapter:
    """The ``ably`` SDK's realtime client behind :class:`RealtimeChannels`."""

    def __init__(
        self,
        key: str,
        *,
        endpoint: str | None = None,
        port: int | None = None,
        tls: bool = True,
        disconnected_retry_s: float = 15.0,
        request_timeout_s: float = 10.0,
        attach_retry_max_s: float = 60.0,
    ) -> None:
        from ably import AblyRealtime

        options: dict[str, Any] = {
            "tls": tls,
            "disconnected_retry_timeout": int(disconnected_retry_s * 1000),
            "suspended_retry_timeout": int(disconnected_retry_s * 2000),
            "realtime_request_timeout": int(request_timeout_s * 1000),
        }
        if endpoint:
            # A host override must not fall back to Ably's public hosts (tests, private
            # setups). The realtime transport ignores the port options and connects to the
            # endpoint as given, so a port goes into the endpoint itself.
            options.update(endpoint=f"{endpoint}:{port}" if port else endpoint, fallback_hosts=[])
        self._client = AblyRealtime(key, **options)
        self._attach_retry_max_s = attach_retry_max_s
        self._tasks: set[asyncio.Task[None]] = set()
        self.attach_failures = 0

    def state(self) -> str:
        """The connection state's name (connecting, connected, disconnected...)."""
        state = self._client.connection.state
        return str(getattr(state, "value", state))

    def health(self) -> bool | str:
        state = self.state()
        if state == "connected":
            return True
        reason = self._client.connection.error_reason
        return f"Ably connection is {state}" + (f": {reason}" if reason else "")

    async def subscribe(self, channel: str, listener: Listener) -> None:
        realtime_channel = self._client.channels.get(channel)

        async def on_message(raw: Any) -> None:
            try:
                await listener(_to_message(channel, raw))
            except Exception:
                log.exception("Ably listener failed on channel %s", channel)

        async def attach_until_done() -> None:
            delay = 1.0
            while True:
                try:
                    await realtime_channel.subscribe(on_message)
                    log.info("subscribed to Ably channel %s", channel)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    self.attach_failures += 1
                    log.warning(
                        "cannot attach Ably channel %s (%s); retrying in %.0f s",
                        channel,
                        error,
                        delay,
                    )
                    with contextlib.suppress(Exception):
                        realtime_channel.unsubscribe(on_message)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._attach_retry_max_s)

        task = asyncio.create_task(attach_until_done(), name=f"ably-attach-{channel}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def history(self, channel: str, since: datetime) -> list[AblyMessage]:
        start = int(since.timestamp() * 1000)
        page = await self._client.channels.get(channel).history(
            direction="forwards", start=start, limit=100
        )
        messages = [_to_message(channel, m) for m in page.items]
        while page.has_next():
            page = await page.next()
            messages.extend(_to_message(channel, m) for m in page.items)
        return messages

    async def publish(self, channel: str, name: str, data: dict[str, Any]) -> None:
        await self._client.channels.get(channel).publish(name, json.dumps(data))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.close(), 5)
