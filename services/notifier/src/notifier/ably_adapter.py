"""Ably behind a small Protocol: the real ``AblyRealtime`` adapter and its message value.

Only this module imports ``ably``. The SDK's clients are built in :meth:`start` (or on first
use), inside the running event loop: ``AblyRealtime`` starts connecting in its constructor
and its timers call ``asyncio.create_task``, so building it where ``create_app`` runs (no loop
yet) raised ``RuntimeError: no running event loop`` at every start.

The adapter never raises out of ``subscribe``: while the connection cannot be established it
keeps retrying (the SDK reconnects and resumes by itself; channel attaches are retried here
with backoff) and ``health()`` says what is wrong. When a channel comes back without
continuity (the resume failed, or the connection was suspended), the messages missed since
the connection was lost are fetched from the channel's history and handed to the listeners
(which deduplicate on the message id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from shared.contracts.limits import loads_bounded

log = logging.getLogger(__name__)

KEY_FORMAT = re.compile(r"^[^.:\s]+\.[^.:\s]+:\S+$")
# How far before the moment the connection was lost a continuity catch-up starts: clocks of
# this host and Ably differ a little; listeners drop what they have already seen.
RECOVERY_MARGIN = timedelta(seconds=10)
HISTORY_MAX_MESSAGES = 1000


class AblyConfigError(ValueError):
    """The Ably settings cannot work; the message names the setting and what to do."""


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

    async def start(self) -> None:
        """Open the connection (from the service's startup hook, inside the event loop)."""
        ...

    async def subscribe(self, channel: str, listener: Listener) -> None:
        """Deliver every message of ``channel`` to ``listener`` (attaching in the background)."""
        ...

    async def history(self, channel: str, since: datetime) -> list[AblyMessage]:
        """Return the channel's messages since ``since``, oldest first."""
        ...

    async def publish(self, channel: str, name: str, data: dict[str, Any]) -> None:
        """Publish one message (raises when it was not acknowledged)."""
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
            return loads_bounded(data)
        except ValueError:
            return data  # not JSON, or nested too deep: the trigger parser refuses the text
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


def check_key(key: str) -> None:
    """Raise AblyConfigError unless ``key`` looks like an Ably API key (never echoing it)."""
    if not KEY_FORMAT.match(key.strip()):
        raise AblyConfigError(
            "NOTIFIER_ABLY_API_KEY is not an Ably API key: expected '<app id>.<key id>:<secret>' "
            "as shown under API Keys in the Ably dashboard"
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
        check_key(key)
        if not tls:
            raise AblyConfigError(
                "NOTIFIER_ABLY_TLS=false cannot work with an API key: Ably refuses Basic auth "
                "over plain connections (error 40103), so history catch-up would fail, and the "
                "key would travel in clear. Leave NOTIFIER_ABLY_TLS=true; for a private endpoint "
                "with its own CA, point SSL_CERT_FILE at that CA"
            )
        self._key = key.strip()
        self._request_timeout_s = request_timeout_s
        self._attach_retry_max_s = attach_retry_max_s
        retry_ms = int(disconnected_retry_s * 1000)
        common: dict[str, Any] = {"tls": True}
        realtime: dict[str, Any] = {
            "disconnected_retry_timeout": retry_ms,
            "suspended_retry_timeout": retry_ms * 2,
            "channel_retry_timeout": retry_ms,
            "realtime_request_timeout": int(request_timeout_s * 1000),
            # Fail a publish at once while disconnected (the alert worker retries and reports)
            # rather than queueing it in the SDK for up to two minutes.
            "queue_messages": False,
            # Protocol HEARTBEATs (RTN23b): the SDK's idle timer counts only protocol messages.
            "transport_params": {"heartbeats": "true"},
        }
        rest: dict[str, Any] = {
            "http_open_timeout": request_timeout_s,
            "http_request_timeout": request_timeout_s,
        }
        if endpoint:
            # A host override must not fall back to Ably's public hosts (tests, private
            # setups). The SDK's realtime transport connects to ``wss://<endpoint>`` as given
            # and ignores the port options, while its REST client builds
            # ``https://<endpoint>:<tls_port>``: so the port goes into the realtime endpoint
            # and into the REST client's tls_port, one client each.
            common["fallback_hosts"] = []
            realtime["endpoint"] = f"{endpoint}:{port}" if port else endpoint
            rest["endpoint"] = endpoint
            if port:
                rest["tls_port"] = port
        self._realtime_options = {**common, **realtime}
        self._rest_options = {**common, **rest}
        self._client: Any = None
        self._rest: Any = None
        self._listeners: dict[str, list[Listener]] = {}
        self._attached_once: set[str] = set()
        self._last_seen: dict[str, datetime] = {}
        self._lost_at: datetime | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.attach_failures = 0
        self.recoveries = 0
        # The key travels URL-encoded in the WebSocket URL (RTN2e), where the log redaction
        # cannot recognise it: the SDK logs that URL (and every protocol message) at INFO and
        # the websockets client logs its request line at DEBUG.
        for noisy in ("ably", "websockets.client"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    # ------------------------------------------------------------------ clients

    async def start(self) -> None:
        self._ensure_client()

    def _ensure_client(self) -> Any:
        if self._client is None:
            asyncio.get_running_loop()  # the SDK needs it: fail here, clearly, if there is none
            from ably import AblyRealtime, AblyRest

            self._client = AblyRealtime(self._key, **self._realtime_options)
            self._client.connection.on(self._on_connection_state)
            self._rest = AblyRest(self._key, **self._rest_options)
        return self._client

    def _on_connection_state(self, change: Any) -> None:
        previous = str(getattr(change.previous, "value", change.previous))
        current = str(getattr(change.current, "value", change.current))
        if previous == "connected" and current != "connected":
            self._lost_at = datetime.now(UTC)
            closing = current in ("closing", "closed")
            log.log(
                logging.INFO if closing else logging.WARNING,
                "Ably connection %s: %s",
                current,
                change.reason or "no reason given",
            )
        elif current == "connected":
            log.info("Ably connection connected")

    def state(self) -> str:
        """The connection state's name (initialized, connecting, connected, disconnected...)."""
        if self._client is None:
            return "initialized"
        state = self._client.connection.state
        return str(getattr(state, "value", state))

    def health(self) -> bool | str:
        if self._client is None:
            return "Ably connection not started"
        state = self.state()
        if state != "connected":
            reason = self._client.connection.error_reason
            return f"Ably connection is {state}" + (f": {reason}" if reason else "")
        for name in self._listeners:
            channel = self._client.channels.get(name)
            channel_state = str(getattr(channel.state, "value", channel.state))
            if channel_state != "attached":
                reason = channel.error_reason
                return f"Ably channel {name} is {channel_state}" + (f": {reason}" if reason else "")
        return True

    # ------------------------------------------------------------------ subscribe

    async def subscribe(self, channel: str, listener: Listener) -> None:
        client = self._ensure_client()
        first = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(listener)
        if not first:
            return
        realtime_channel = client.channels.get(channel)

        async def on_message(raw: Any) -> None:
            await self._deliver(_to_message(channel, raw))

        def on_attached(change: Any) -> None:
            if channel in self._attached_once and not change.resumed:
                self._spawn(self._recover(channel), f"ably-recover-{channel}")
            self._attached_once.add(channel)

        realtime_channel.on("attached", on_attached)
        realtime_channel.on("update", on_attached)  # ATTACHED while attached, not resumed: RTL12

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

        self._spawn(attach_until_done(), f"ably-attach-{channel}")

    async def _deliver(self, message: AblyMessage) -> None:
        seen = self._last_seen.get(message.channel)
        if seen is None or message.timestamp > seen:
            self._last_seen[message.channel] = message.timestamp
        for listener in self._listeners.get(message.channel, []):
            try:
                await listener(message)
            except Exception:
                log.exception("Ably listener failed on channel %s", message.channel)

    async def _recover(self, channel: str) -> None:
        """The channel re-attached without continuity: replay what was missed from history."""
        marks = [t for t in (self._lost_at, self._last_seen.get(channel)) if t is not None]
        since = min(marks, default=datetime.now(UTC)) - RECOVERY_MARGIN
        delay = 1.0
        for attempt in range(1, 4):
            try:
                missed = await self.history(channel, since)
                break
            except Exception as error:
                log.warning("Ably history of %s failed (attempt %d): %s", channel, attempt, error)
                await asyncio.sleep(delay)
                delay *= 2
        else:
            log.error("Ably channel %s: messages missed since %s may be lost", channel, since)
            return
        self.recoveries += 1
        log.warning(
            "Ably channel %s re-attached without continuity; replaying %d message(s) since %s",
            channel,
            len(missed),
            since.isoformat(),
        )
        for message in missed:
            await self._deliver(message)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ history, publish

    async def history(self, channel: str, since: datetime) -> list[AblyMessage]:
        self._ensure_client()
        start = int(since.timestamp() * 1000)
        page = await self._rest.channels.get(channel).history(
            direction="forwards", start=start, limit=100
        )
        messages = [_to_message(channel, m) for m in page.items]
        while page.has_next() and len(messages) < HISTORY_MAX_MESSAGES:
            page = await page.next()
            messages.extend(_to_message(channel, m) for m in page.items)
        if page.has_next():
            log.warning(
                "Ably history of %s: stopped after %d messages since %s",
                channel,
                len(messages),
                since.isoformat(),
            )
        return messages

    async def publish(self, channel: str, name: str, data: dict[str, Any]) -> None:
        client = self._ensure_client()
        state = self.state()
        if state != "connected":
            raise ConnectionError(f"Ably connection is {state}")
        # A dict goes out JSON-encoded (encoding "json"): subscribers receive an object.
        await asyncio.wait_for(
            client.channels.get(channel).publish(name, data), self._request_timeout_s
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for client in (self._client, self._rest):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 5)
