"""The gateway's login as its wrapper sees it: 2FA prompts become ``SecondFactorRequested``.

On the compose deploy IB Gateway runs under ``deploy/ib-gateway/window.sh``, which reads
IBC's output and writes one JSON object to a shared volume (``BRIDGE_GATEWAY_STATUS_FILE``):
``{"state": "awaiting_2fa", "attempt": 2, "at": "2026-12-06T17:00:05Z", "detail": "..."}``.
No service needs the Docker socket for it. A prompt is published once (per ``at`` and
``attempt``), and only while it can still be approved (IBKR Mobile waits about 3 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from shared.contracts.base import Message, utc_now
from shared.contracts.gateway import SecondFactorRequested

log = logging.getLogger(__name__)

APPROVAL_WINDOW_S = 180


def prompt_of(text: str, now: datetime) -> SecondFactorRequested | None:
    """The 2FA prompt a status file's text announces, if one can still be approved."""
    try:
        status = json.loads(text)
        if not isinstance(status, dict) or status.get("state") != "awaiting_2fa":
            return None
        at = datetime.fromisoformat(str(status["at"]).replace("Z", "+00:00"))
        attempt = max(1, int(status.get("attempt", 1)))
    except (ValueError, KeyError, TypeError):
        return None
    if at.tzinfo is None:
        return None
    left = APPROVAL_WINDOW_S - (now - at).total_seconds()
    if left <= 0:
        return None
    return SecondFactorRequested(
        source="gateway-bridge",
        ts_event=at,
        attempt=attempt,
        timeout_s=int(left),
        detail=str(status.get("detail", ""))[:500],
    )


class LoginWatch:
    """Poll the status file and publish each new 2FA prompt once."""

    def __init__(
        self,
        path: Path,
        publish: Callable[[Message], Awaitable[None]],
        *,
        poll_s: float = 2.0,
        source: str = "gateway-bridge",
    ) -> None:
        self._path = path
        self._publish = publish
        self._poll_s = poll_s
        self._source = source
        self._seen: tuple[datetime, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="login-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check(self) -> SecondFactorRequested | None:
        """Read the file once; publish and return a prompt not published before."""
        try:
            text = await asyncio.to_thread(self._path.read_text, "utf-8")
        except OSError:
            return None
        prompt = prompt_of(text, utc_now())
        if prompt is None or self._seen == (prompt.ts_event, prompt.attempt):
            return None
        prompt = prompt.model_copy(update={"source": self._source})
        await self._publish(prompt)
        self._seen = (prompt.ts_event, prompt.attempt)
        log.warning(
            "IB Gateway waits for the IB Key approval (attempt %d, %d s left)",
            prompt.attempt,
            prompt.timeout_s,
        )
        return prompt

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not read the gateway's status file %s", self._path)
            await asyncio.sleep(self._poll_s)
