"""A real HTTP server on a free loopback port for tests: webhook receivers, allocation APIs.

``routes[path]`` says what to answer (a list of (status, body) used in turn, the last one
repeated); every request is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    """What the server answers on a path: (status, body) in turn; a body that is not bytes is
    sent as JSON."""

    answers: list[tuple[int, Any]]
    delay_s: float = 0.0


@dataclass
class LocalHttpServer:
    """A threaded HTTP server on 127.0.0.1 that records every request it gets."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> LocalHttpServer:
        owner = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
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
                        status, payload, delay = 404, {"error": "no route"}, 0.0
                    else:
                        status, payload = route.answers[0]
                        delay = route.delay_s
                        if len(route.answers) > 1:
                            route.answers.pop(0)
                time.sleep(delay)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def got(self, path: str) -> list[bytes]:
        """Raw bodies received on ``path`` (query string ignored)."""
        return [r["body"] for r in list(self.requests) if r["path"].split("?")[0] == path]

    def bodies(self, path: str) -> list[Any]:
        """JSON bodies received on paths starting with ``path``."""
        return [json.loads(r["body"]) for r in list(self.requests) if r["path"].startswith(path)]
