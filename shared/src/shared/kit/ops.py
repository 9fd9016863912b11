"""The ops endpoints of a service, on one port: ``/health`` and ``/metrics``.

``/health`` answers 200 only when every check of the service passes (Redis for all, the IB
connection for the bridge...), else 503, with each check's state in a JSON body.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool | str]]
"""A check returns True when healthy, or False / a sentence saying what is wrong."""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HealthChecks:
    """Named readiness checks, each bounded by a timeout."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        self._checks: dict[str, tuple[HealthCheck, float]] = {}
        self._timeout_s = timeout_s

    def add(self, name: str, check: HealthCheck, timeout_s: float | None = None) -> None:
        """Add a check; the service is ready only when every check passes in time."""
        self._checks[name] = (check, timeout_s or self._timeout_s)

    async def run(self) -> tuple[bool, dict[str, str]]:
        """Run every check; return overall readiness and each check's state."""
        results: dict[str, str] = {}
        for name, (check, timeout_s) in self._checks.items():
            try:
                outcome = await asyncio.wait_for(check(), timeout_s)
            except TimeoutError:
                outcome = f"no answer within {timeout_s:g} s"
            except Exception as error:
                outcome = f"{type(error).__name__}: {error}"
            results[name] = "ok" if outcome is True else (outcome or "failing")
        return all(v == "ok" for v in results.values()), results


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def make_ops_app(
    service: str,
    checks: HealthChecks,
    registry: CollectorRegistry,
    on_startup: Callable[[], Awaitable[None]],
    on_shutdown: Callable[[], Awaitable[None]],
) -> ASGIApp:
    """Return the ASGI app serving /health and /metrics, whose lifespan runs the service."""
    metrics_app = make_asgi_app(registry)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    try:
                        await on_startup()
                    except Exception as error:
                        log.exception("%s failed to start", service)
                        await send({"type": "lifespan.startup.failed", "message": str(error)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    try:
                        await on_shutdown()
                    finally:
                        await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/") or "/"
        if path == "/health":
            ready, results = await checks.run()
            await _send_json(
                send, 200 if ready else 503, {"service": service, "ready": ready, "checks": results}
            )
        elif path == "/metrics":
            await metrics_app(scope, receive, send)
        else:
            await _send_json(send, 404, {"error": f"no route {path}; try /health or /metrics"})

    return app
