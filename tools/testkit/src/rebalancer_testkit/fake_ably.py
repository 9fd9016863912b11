"""A fake Ably behind the RealtimeChannels Protocol that shows its state plainly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.ably_adapter import AblyMessage, Listener


@dataclass
class FakeAbly:
    """Records subscriptions and publishes; ``history_messages`` is what history returns."""

    listeners: dict[str, list[Listener]] = field(default_factory=dict)
    published: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    history_messages: list[AblyMessage] = field(default_factory=list)
    history_calls: list[tuple[str, datetime]] = field(default_factory=list)
    connected: bool = True
    fail_publish: bool = False

    started: bool = False

    async def start(self) -> None:
        self.started = True

    async def subscribe(self, channel: str, listener: Listener) -> None:
        self.listeners.setdefault(channel, []).append(listener)

    async def history(self, channel: str, since: datetime) -> list[AblyMessage]:
        self.history_calls.append((channel, since))
        return [m for m in self.history_messages if m.channel == channel and m.timestamp >= since]

    async def publish(self, channel: str, name: str, data: dict[str, Any]) -> None:
        if self.fail_publish:
            raise ConnectionError("fake Ably is down")
        self.published.append((channel, name, data))

    def health(self) -> bool | str:
        return True if self.connected else "fake Ably disconnected"

    async def close(self) -> None:
        self.connected = False

    async def deliver(self, message: AblyMessage) -> None:
        """Deliver a message as Ably would, to the channel's listeners."""
        for listener in self.listeners.get(message.channel, []):
            await listener(message)
