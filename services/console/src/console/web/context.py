"""What every page and action shares: peers, state, sessions, templates and the checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from console.backends import Ledger, NotifierApi
from console.core.security import SESSION_COOKIE, csrf_matches, same_origin
from console.live import Hub
from console.sessions import RedisSessions, Session
from console.settings import ConsoleSettings
from console.web.render import Renderer
from shared.accounts import Accounts

MAX_FORM_BYTES = 65_536


class Refused(Exception):
    """A request the console will not serve: status, title and a sentence for the page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class LoginRequired(Exception):
    """No valid session: pages redirect to the login, the rest answer 401."""


@dataclass
class Console:
    settings: ConsoleSettings
    accounts: Accounts
    api: NotifierApi
    ledger: Ledger
    hub: Hub
    sessions: RedisSessions
    renderer: Renderer

    async def session(self, request: Request) -> Session:
        """The request's session, or raise LoginRequired."""
        session = await self.sessions.find(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise LoginRequired()
        return session

    async def form(self, request: Request) -> dict[str, list[str]]:
        """The urlencoded body of a POST, at most MAX_FORM_BYTES."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise Refused(413, "Too large", f"the form is larger than {MAX_FORM_BYTES} bytes")
        return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)

    def check_origin(self, request: Request) -> None:
        """Refuse a POST that does not come from a page of this console."""
        if not same_origin(
            request.headers.get("origin"),
            request.headers.get("referer"),
            request.headers.get("host"),
        ):
            raise Refused(
                403,
                "Refused: not sent from the console",
                "this form was not sent from a page of this console (its Origin is another "
                "site's or missing), so it was refused; open the console and use its buttons",
            )

    async def action(self, request: Request) -> tuple[Session, dict[str, list[str]]]:
        """The session and form of a state change, after the same-origin and CSRF checks."""
        session = await self.session(request)
        self.check_origin(request)
        form = await self.form(request)
        if not csrf_matches(session.csrf, first(form, "csrf")):
            raise Refused(
                403,
                "Refused: missing or wrong form token",
                "the form's CSRF token is missing or not this session's, so nothing was done; "
                "reload the page and try again",
            )
        return session, form

    def page(
        self, request: Request, template: str, session: Session | None, **values: Any
    ) -> HTMLResponse:
        """Render a page (or only its live region, for ``?fragment=1``)."""
        fragment = request.query_params.get("fragment") == "1"
        html = self.renderer.render(
            template,
            fragment=fragment,
            csrf=session.csrf if session else "",
            path=request.url.path,
            halted=self.hub.state.halt.halted,
            **values,
        )
        return HTMLResponse(html)


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


def redirect(path: str) -> RedirectResponse:
    """After a POST: see the result with a GET (303)."""
    return RedirectResponse(path, status_code=303)


def no_content() -> Response:
    return Response(status_code=204)
