"""``/events``: Server-Sent Events of what changed, for the open pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from console.web.context import Console

HEARTBEAT_S = 15.0
RETRY_MS = 2000


async def events(console: Console, request: Request) -> StreamingResponse:
    """Stream live events; a comment every 15 s keeps proxies from closing the connection."""
    await console.session(request)
    queue = console.hub.open()

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: {RETRY_MS}\nevent: hello\ndata: {{}}\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if event is None:
                    return  # too slow: the browser reconnects and re-reads
                yield f"data: {json.dumps(event.as_json())}\n\n"
        finally:
            console.hub.close(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
