"""The console's Starlette application: routes, security headers, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.core.security import HEADERS
from console.web import actions, pages
from console.web.context import Console, LoginRequired, Refused
from console.web.events import events

STATIC = Path(__file__).resolve().parents[1] / "static"
Handler = Callable[[Console, Request], Awaitable[Response]]


class SecurityHeaders:
    """Add the CSP and the other security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.lower().encode(), v.encode())
                    for k, v in HEADERS.items()
                    if k.lower().encode() not in present
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_web(console: Console) -> Starlette:
    """Build the web application over a :class:`Console`."""

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(console, request)

        return endpoint

    get, post = ["GET"], ["POST"]
    routes: list[BaseRoute] = [
        Route("/", bind(pages.overview), methods=get),
        Route("/login", bind(actions.login_form), methods=get),
        Route("/login", bind(actions.login), methods=post),
        Route("/logout", bind(actions.logout), methods=post),
        Route("/plans", bind(pages.plans), methods=get),
        Route("/plans/{plan_id}", bind(pages.plan), methods=get),
        Route("/plans/{plan_id}/approve", bind(actions.approve), methods=post),
        Route("/plans/{plan_id}/cancel", bind(actions.cancel), methods=post),
        Route("/rebalance", bind(pages.rebalance_form), methods=get),
        Route("/rebalance", bind(actions.rebalance), methods=post),
        Route("/positions", bind(pages.positions), methods=get),
        Route("/trades", bind(pages.trades), methods=get),
        Route("/trades.csv", bind(pages.trades_export), methods=get),
        Route("/alerts", bind(pages.alerts), methods=get),
        Route("/kill-switch", bind(pages.kill_switch), methods=get),
        Route("/halt", bind(actions.halt), methods=post),
        Route("/resume", bind(actions.resume), methods=post),
        Route("/events", bind(events), methods=get),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def on_login_required(request: Request, _: Exception) -> Response:
        if request.method == "GET" and request.url.path not in ("/events", "/trades.csv"):
            return RedirectResponse("/login", status_code=303)
        return Response("log in first", status_code=401, media_type="text/plain")

    async def on_refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, Refused)
        session = await console.sessions.find(request.cookies.get("console_session"))
        response = console.page(
            request, "error.html", session, title=error.title, message=error.message
        )
        response.status_code = error.status
        return response

    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={LoginRequired: on_login_required, Refused: on_refused},
    )
