"""Serve the web application with uvicorn inside the service's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the process's main (ops) server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class WebServer:
    """Start and stop the console's server; ``port`` is the bound port once started."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    async def start(self) -> None:
        """Bind and serve in the background; raise if the port cannot be bound."""
        self._task = asyncio.create_task(self._server.serve(), name="console-web")
        while not self._server.started:
            if self._task.done():
                raise RuntimeError(
                    f"the console could not listen on {self.host}:{self.port}; is the port in "
                    "use? Set CONSOLE_HTTP_PORT to a free port"
                )
            await asyncio.sleep(0.02)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("web console on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop serving (open event streams are cut)."""
        self._server.should_exit = True
        if self._task:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
