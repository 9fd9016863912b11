"""The state changes (POST, each behind the same-origin and CSRF checks) and the login."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from console.backends import BackendError
from console.core.security import SESSION_COOKIE, token_matches
from console.core.targets import TargetsError, parse_targets_csv
from console.sessions import Session
from console.web.context import Console, Refused, first, redirect

log = logging.getLogger(__name__)


async def login_form(console: Console, request: Request) -> HTMLResponse:
    return console.page(request, "login.html", None, error=None)


async def login(console: Console, request: Request) -> Response:
    """Check the token; on success set the session cookie (HttpOnly, SameSite=Strict)."""
    console.check_origin(request)
    if await console.sessions.failures() >= console.settings.login_failures_per_minute:
        raise Refused(
            429,
            "Too many failed logins",
            "too many failed logins in the last minute; wait a minute and try again",
        )
    form = await console.form(request)
    expected = console.settings.api_token.get_secret_value() if console.settings.api_token else None
    if not token_matches(first(form, "token"), expected):
        await console.sessions.failed_login()
        log.warning("console login refused: wrong token")
        error = (
            "the console has no API token configured (set CONSOLE_API_TOKEN); no login is possible"
            if not expected
            else "that is not the API token; try again"
        )
        refused = console.page(request, "login.html", None, error=error)
        refused.status_code = 401
        return refused
    session = await console.sessions.create()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.session_id,
        max_age=console.settings.session_ttl_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=console.settings.cookie_secure,
    )
    log.info("console login")
    return response


async def logout(console: Console, request: Request) -> Response:
    session, _ = await console.action(request)
    await console.sessions.end(session.session_id)
    response = RedirectResponse("/login?notice=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def approve(console: Console, request: Request) -> Response:
    await console.action(request)
    plan_id = request.path_params["plan_id"]
    await _call(console.api.approve(plan_id), "The plan was not approved")
    return redirect(f"/plans/{plan_id}?notice=approve_sent")


async def cancel(console: Console, request: Request) -> Response:
    await console.action(request)
    plan_id = request.path_params["plan_id"]
    await _call(console.api.cancel(plan_id), "The plan was not cancelled")
    return redirect(f"/plans/{plan_id}?notice=cancel_sent")


async def halt(console: Console, request: Request) -> Response:
    session, form = await console.action(request)
    if first(form, "confirm").strip() != "HALT":
        return _kill_switch_error(
            console, request, session, "type HALT in the box to confirm the halt"
        )
    reason = first(form, "reason").strip()[:200] or "halted from the web console"
    await _call(console.api.halt(reason), "Trading was not halted")
    return redirect("/kill-switch?notice=halt_sent")


async def resume(console: Console, request: Request) -> Response:
    session, form = await console.action(request)
    if first(form, "confirm").strip() != "RESUME":
        return _kill_switch_error(console, request, session, "type RESUME in the box to confirm")
    await _call(console.api.resume(), "Trading was not resumed")
    return redirect("/kill-switch?notice=resume_sent")


def _kill_switch_error(
    console: Console, request: Request, session: Session, error: str
) -> HTMLResponse:
    response = console.page(
        request, "kill_switch.html", session, halt=console.hub.state.halt, notice=None, error=error
    )
    response.status_code = 400
    return response


async def rebalance(console: Console, request: Request) -> HTMLResponse:
    """Dry run (``mode=dry_run``) or execute (``mode=execute``, after a review) the targets."""
    session, form = await console.action(request)
    chosen = [a for a in form.get("account", []) if a]
    group = first(form, "group").strip() or None
    source = first(form, "source", "configured")
    csv_text = first(form, "csv")
    execute = first(form, "mode") == "execute"
    values = {
        "accounts": list(console.accounts), "groups": sorted(console.accounts.groups()),
        "chosen": chosen, "group": group or "", "source": source, "csv_text": csv_text,
    }  # fmt: skip
    try:
        targets = parse_targets_csv(csv_text) if source == "csv" else None
        if not chosen and not group:
            raise TargetsError("pick at least one account or a group")
        if chosen and group:
            raise TargetsError("pick accounts or a group, not both")
        if execute and first(form, "confirm") != "yes":
            raise TargetsError("tick the box to confirm that these plans may trade")
        answer = await console.api.rebalance(chosen, group, targets, execute=execute)
    except (TargetsError, BackendError) as error:
        response = console.page(
            request,
            "rebalance.html",
            session,
            error=str(getattr(error, "message", error)),
            **values,
        )
        response.status_code = 400
        return response
    return console.page(request, "review.html", session, answer=answer, execute=execute, **values)


async def _call(action: Awaitable[object], title: str) -> None:
    try:
        await action
    except BackendError as error:
        raise Refused(error.status, title, error.message) from None
