"""The pages (GET): overview, plans, a plan, rebalance, positions, trades, alerts, kill switch."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from console.backends import BackendError, Json
from console.core.export import trades_csv
from console.web.context import Console, Refused
from console.web.queries import plan_proposal, trade_filters
from shared.contracts.ledger import AccountPnl, Trade
from shared.contracts.plans import PlanProposed

CSV_MAX_ROWS = 10_000


def _notice(request: Request) -> str | None:
    return request.query_params.get("notice")


async def _pnl_by_account(console: Console) -> tuple[dict[str, AccountPnl], str | None]:
    try:
        view = await console.ledger.pnl()
    except BackendError as error:
        return {}, error.message
    return {a.account_id: a for a in view.accounts}, None


def _max_drift(proposal: PlanProposed | None) -> Decimal | None:
    if proposal is None or not proposal.drift:
        return None
    return Decimal(max(abs(row.drift_pct) for row in proposal.drift))


async def overview(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    state = console.hub.state
    pnl, pnl_error = await _pnl_by_account(console)
    try:
        found = await console.api.plans(limit=200)
        plans, plans_error = [state.newest(p) for p in found], None
    except BackendError as error:
        plans, plans_error = [], error.message
    latest: dict[str, Json] = {}
    plan: Json | None
    for plan in plans:
        latest.setdefault(plan["account_id"], plan)
    ids = [a.id for a in console.accounts] or sorted(set(state.accounts) | set(pnl))
    rows = []
    for account_id in ids:
        account = console.accounts.get(account_id)
        plan = latest.get(account_id)
        drift = _max_drift(state.proposals.get(plan["plan_id"])) if plan else None
        band = account.planning.drift_band_abs_pct if account else None
        rows.append(
            {
                "id": account_id,
                "approval": account.config.approval.value if account else "not configured",
                "snapshot": state.accounts.get(account_id),
                "pnl": pnl.get(account_id),
                "plan": plan,
                "drift": drift,
                "band": band,
                "beyond": drift is not None and band is not None and drift > band,
            }
        )
    return console.page(
        request, "overview.html", session, rows=rows, gateway=state.gateway, halt=state.halt,
        pnl_error=pnl_error, plans_error=plans_error, notice=_notice(request),
    )  # fmt: skip


async def plans(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    account = request.query_params.get("account") or None
    status = request.query_params.get("status") or None
    try:
        found = await console.api.plans(account, status, limit=200)
        rows, error = [console.hub.state.newest(p) for p in found], None
    except BackendError as failure:
        rows, error = [], failure.message
    return console.page(
        request, "plans.html", session, plans=rows, error=error, account=account or "",
        status=status or "", accounts=[a.id for a in console.accounts],
    )  # fmt: skip


async def plan(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    plan_id = request.path_params["plan_id"]
    try:
        view = console.hub.state.newest(await console.api.plan(plan_id))
    except BackendError as error:
        raise Refused(error.status, "No such plan", error.message) from None
    proposal = await plan_proposal(console, view.get("plan_id") or plan_id)
    return console.page(
        request, "plan.html", session, plan=view, proposal=proposal,
        orders=console.hub.state.orders_of(view.get("plan_id") or plan_id), notice=_notice(request),
    )  # fmt: skip


async def rebalance_form(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    return console.page(
        request, "rebalance.html", session, accounts=list(console.accounts),
        groups=sorted(console.accounts.groups()), error=None, chosen=[], group="",
        source="configured", csv_text="",
    )  # fmt: skip


async def positions(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    chosen = request.query_params.get("account") or None
    ids = [chosen] if chosen else [a.id for a in console.accounts]
    pnl, pnl_error = await _pnl_by_account(console)
    books: list[dict[str, Any]] = []
    for account_id in ids:
        try:
            view, error = await console.api.positions(account_id), None
        except BackendError as failure:
            view, error = None, failure.message
        books.append({"id": account_id, "view": view, "error": error, "pnl": pnl.get(account_id)})
    return console.page(
        request, "positions.html", session, books=books, pnl_error=pnl_error,
        accounts=[a.id for a in console.accounts], account=chosen or "",
    )  # fmt: skip


async def trades(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    filters, shown = trade_filters(request)
    cursor = request.query_params.get("cursor") or None
    try:
        page = await console.ledger.trades(**filters, cursor=cursor, limit=100)
        rows, next_cursor, error = list(page.trades), page.next_cursor, None
    except BackendError as failure:
        rows, next_cursor, error = [], None, failure.message
    return console.page(
        request, "trades.html", session, trades=rows, next_cursor=next_cursor, error=error,
        filters=shown, accounts=[a.id for a in console.accounts],
        query=request.url.query.replace("fragment=1", ""),
    )  # fmt: skip


async def trades_export(console: Console, request: Request) -> Response:
    await console.session(request)
    filters, _ = trade_filters(request)
    found: list[Trade] = []
    cursor: str | None = None
    while len(found) < CSV_MAX_ROWS:
        try:
            page = await console.ledger.trades(**filters, cursor=cursor, limit=1000)
        except BackendError as error:
            raise Refused(error.status, "The ledger did not answer", error.message) from None
        found += page.trades
        cursor = page.next_cursor
        if cursor is None:
            break
    return Response(
        trades_csv(found[:CSV_MAX_ROWS]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="trades.csv"'},
    )


async def alerts(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    return console.page(request, "alerts.html", session, alerts=list(console.hub.state.alerts))


async def kill_switch(console: Console, request: Request) -> HTMLResponse:
    session = await console.session(request)
    return console.page(
        request, "kill_switch.html", session, halt=console.hub.state.halt, notice=_notice(request),
        error=None,
    )  # fmt: skip
