"""Where alerts go: generic JSON webhook, Slack, Telegram, ntfy, Ably. One class each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from notifier.ably_adapter import RealtimeChannels
from notifier.core.alerts import Alert, headline, render, worst


class DeliveryError(Exception):
    """A destination refused or did not take the batch; ``retryable`` says if trying helps."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Destination(Protocol):
    """Something that takes a batch of alerts."""

    name: str

    async def send(self, batch: list[Alert]) -> None: ...


async def _post(http: httpx.AsyncClient, name: str, url: str, **kwargs: object) -> httpx.Response:
    """POST to a destination's URL; a failure names the destination, never its URL (a
    webhook's URL carries its token, and this text reaches the logs and the other
    destinations)."""
    try:
        return await http.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as error:
        detail = str(error)
        parts = urlsplit(url)
        for secret in (url, parts.path, parts.query):  # the token hides in either
            if len(secret) > 1:
                detail = detail.replace(secret, "<redacted>")
        raise DeliveryError(
            f"{name} could not be reached ({type(error).__name__}: {detail})"
        ) from None


def _check(response: httpx.Response, name: str) -> None:
    if response.status_code < 300:
        return
    retryable = response.status_code in (408, 425, 429) or response.status_code >= 500
    raise DeliveryError(f"{name} answered HTTP {response.status_code}", retryable=retryable)


class WebhookDestination:
    """A generic JSON webhook (``{"text", "alerts": [...]}``) or a Slack incoming webhook."""

    def __init__(
        self, name: str, url: str | SecretStr, http: httpx.AsyncClient, *, slack: bool = False
    ) -> None:
        self.name = name
        self._url = url
        self._http = http
        self._slack = slack

    async def send(self, batch: list[Alert]) -> None:
        url = self._url.get_secret_value() if isinstance(self._url, SecretStr) else self._url
        text = render(batch)
        if self._slack:
            body: dict[str, object] = {"text": text}
        else:
            body = {
                "source": "ibkr-rebalancer",
                "title": headline(batch),
                "severity": worst(batch),
                "text": text,
                "alerts": [a.as_json() for a in batch],
            }
        _check(await _post(self._http, self.name, url, json=body), self.name)


class TelegramDestination:
    """Telegram Bot API ``sendMessage``."""

    name = "telegram"

    def __init__(
        self, api_url: str, token: SecretStr, chat_id: str, http: httpx.AsyncClient
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._token = token
        self._chat_id = chat_id
        self._http = http

    async def send(self, batch: list[Alert]) -> None:
        url = f"{self._api_url}/bot{self._token.get_secret_value()}/sendMessage"
        body = {
            "chat_id": self._chat_id,
            "text": render(batch)[:4000],
            "disable_web_page_preview": True,
        }
        _check(await _post(self._http, self.name, url, json=body), self.name)


NTFY_PRIORITY = {"info": "3", "warning": "4", "critical": "5"}


class NtfyDestination:
    """An ntfy topic URL (plain text body, title and priority in headers)."""

    name = "ntfy"

    def __init__(
        self, url: str | SecretStr, token: SecretStr | None, http: httpx.AsyncClient
    ) -> None:
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self._token = token
        self._http = http

    async def send(self, batch: list[Alert]) -> None:
        # Header values must be latin-1: keep the title ASCII.
        title = headline(batch).encode("ascii", "replace").decode()
        headers = {"Title": title, "Priority": NTFY_PRIORITY[worst(batch)], "Tags": "chart"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        response = await _post(
            self._http,
            self.name,
            self._url.get_secret_value(),
            content=render(batch).encode(),
            headers=headers,
        )
        _check(response, self.name)


class AblyDestination:
    """Publish alerts on an Ably channel: a global one and/or one per account."""

    name = "ably"

    def __init__(
        self,
        channels: RealtimeChannels,
        channel_for: Callable[[Alert], list[str]],
    ) -> None:
        self._channels = channels
        self._channel_for = channel_for

    async def send(self, batch: list[Alert]) -> None:
        by_channel: dict[str, list[Alert]] = {}
        for alert in batch:
            for channel in self._channel_for(alert):
                by_channel.setdefault(channel, []).append(alert)
        for channel, alerts in by_channel.items():
            try:
                await self._channels.publish(
                    channel, "alert", {"alerts": [a.as_json() for a in alerts]}
                )
            except Exception as error:
                raise DeliveryError(f"Ably publish on {channel} failed: {error}") from error
