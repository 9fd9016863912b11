"""Test helpers: polling with a deadline, stream reading, a local HTTP server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis.asyncio as aioredis
from faststream.redis.parser.binary import BinaryMessageFormatV1
from shared.contracts.base import Message
from shared.contracts.catalogue import StreamSpec


async def eventually(
    probe: Callable[[], Awaitable[Any]], timeout_s: float = 5.0, interval_s: float = 0.02
) -> Any:
    """Return probe()'s first truthy value, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s (last: {value!r})")
        await asyncio.sleep(interval_s)


async def read_stream(client: aioredis.Redis, spec: StreamSpec) -> list[Message]:
    """Return every message on ``spec``'s stream, decoded."""
    entries = await client.xrange(spec.name)
    return [spec.decode(BinaryMessageFormatV1.parse(f[b"__data__"])[0]) for _, f in entries]


@dataclass
class Route:
    """What the local server answers on a path: a list of (status, body) used in turn."""

    answers: list[tuple[int, Any]]
    delay_s: float = 0.0


@dataclass
class LocalHttpServer:
    """A real HTTP server on a free loopback port that records every request it gets."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> LocalHttpServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                route = owner.routes.get(self.path.split("?")[0])
                if route is None:
                    status, payload = 404, {"error": "no route"}
                else:
                    time.sleep(route.delay_s)
                    status, payload = route.answers[0]
                    if len(route.answers) > 1:
                        route.answers.pop(0)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self, path: str) -> list[Any]:
        return [json.loads(r["body"]) for r in self.requests if r["path"].startswith(path)]
