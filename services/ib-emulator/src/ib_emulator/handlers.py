"""Request id -> handler table. Each handler reads one request and answers as IB would.

Handlers see the emulator only through ``EmulatorContext``; ``dispatch_request`` is what a
session is given as its ``dispatch`` callable (bound to a context).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from . import account_data
from . import encoders as enc
from .context import EmulatorContext
from .matching import OrderError
from .messages import request_name
from .orders import OrderRecord
from .requests import (
    FieldReader,
    MalformedRequest,
    control_character,
    parse_place_order,
    read_contract,
)
from .session import Session, SummarySubscription

log = logging.getLogger("ib_emulator.handlers")

Handler = Callable[[EmulatorContext, Session, list[str]], None]

NO_SECURITY = "No security definition has been found for the request"


def start_api(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """startApi (71): register the client id, or refuse it with 326 like IB."""
    r = FieldReader(f, 2)
    client_id = r.int()
    if s.is_api_ready:
        log.warning("%s: startApi sent twice; ignored", s.peer)
        return
    if not ctx.claim_client_id(client_id, s):
        s.error(
            -1,
            326,
            "Unable to connect as the client id is already in use. Retry with a unique client id.",
        )
        s.close()
        return
    s.client_id = client_id
    b = ctx.broker
    s.send(enc.next_valid_id(b.next_valid_id(client_id)))
    s.send(enc.managed_accounts(list(b.accounts)))
    # Farm status notices every real gateway sends right after login.
    s.error(-1, 2104, "Market data farm connection is OK:usfarm")
    s.error(-1, 2106, "HMDS data farm connection is OK:ushmds")
    s.error(-1, 2158, "Sec-def data farm connection is OK:secdefil")


def req_ids(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqIds (8)."""
    s.send(enc.next_valid_id(ctx.broker.next_valid_id(_cid(s))))


def req_current_time(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqCurrentTime (49)."""
    s.send(enc.current_time(int(ctx.clock().timestamp())))


def req_managed_accts(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqManagedAccts (17)."""
    s.send(enc.managed_accounts(list(ctx.broker.accounts)))


# ------------------------------------------------------------------ contracts
def req_contract_details(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqContractDetails (9): one contractData per match, or error 200."""
    r = FieldReader(f, 2)
    req_id = r.int()
    query = read_contract(r)
    matches = ctx.broker.find_instruments(query)
    if not matches:
        s.error(req_id, 200, NO_SECURITY)
        return
    now = ctx.clock()
    for inst in matches:
        hours = ctx.broker.hours_for(inst)
        trading, liquid = hours.ib_text(now)
        route = query.exchange if inst.sec_type == "CASH" else ""
        s.send(enc.contract_details(req_id, inst, hours.ib_zone_name, trading, liquid, route))
    s.send(enc.contract_details_end(req_id))


# ---------------------------------------------------------------- market data
def req_market_data_type(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqMarketDataType (59): 1 live, 2 frozen, 3 delayed, 4 delayed frozen."""
    md_type = FieldReader(f, 2).int()
    if md_type not in (1, 2, 3, 4):
        s.error(
            -1, 321, f"Error validating request:-'bE' : cause - Invalid market data type {md_type}"
        )
        return
    s.market_data_type = md_type


def req_mkt_data(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqMktData (1): snapshot or streaming bid/ask/last/close."""
    r = FieldReader(f, 2)
    req_id = r.int()
    query = read_contract(r)
    if query.sec_type == "BAG":
        s.error(
            req_id,
            321,
            "Error validating request:-'bK' : cause - combo market data is not emulated",
        )
        return
    if r.bool():
        r.skip(3)  # delta neutral contract
    r.skip(1)  # genericTickList
    snapshot = r.bool()
    r.skip(min(r.remaining(), 2))  # regulatorySnapshot, mktDataOptions
    r.end()
    matches = ctx.broker.find_instruments(query)
    refusal = _market_data_refusal(ctx, s, req_id, len(matches))
    if refusal is not None:
        s.error(req_id, *refusal)
        return
    inst = matches[0]
    delayed = ctx.scenario.market_data_type == "delayed"
    s.send(enc.tick_req_params(req_id, inst.quote_tick))
    s.send(enc.market_data_type(req_id, 3 if delayed else 1))
    for msg in enc.quote_ticks(
        req_id, ctx.market.quote(inst.symbol), delayed, ctx.fault_state.nan_prices,
        fx=inst.sec_type == "CASH",
    ):  # fmt: skip
        s.send(msg)
    if snapshot:
        ctx.limits.hold_snapshot_line(time.monotonic())
        s.send(enc.tick_snapshot_end(req_id))
    else:
        s.subs.market_data[req_id] = inst.symbol


def _market_data_refusal(
    ctx: EmulatorContext, s: Session, req_id: int, matches: int
) -> tuple[int, str] | None:
    """Why IB would refuse this market data request, as (code, text); None if it would not."""
    if matches != 1:
        return 200, NO_SECURITY
    if req_id in s.subs.market_data:
        return 322, f"Error processing request:-'bK' : cause - Duplicate ticker id {req_id}"
    if ctx.scenario.market_data_type == "delayed" and s.market_data_type in (1, 2):
        return 354, "Requested market data is not subscribed. Delayed market data is available."
    if not _line_available(ctx):
        return 101, "Max number of tickers has been reached."
    return None


def _line_available(ctx: EmulatorContext) -> bool:
    """Whether one more market data line fits (lines are per login, across clients)."""
    limit = ctx.limits.market_data_lines
    if limit is None:
        return True
    streaming = sum(len(x.subs.market_data) for x in ctx.clients())
    return streaming + ctx.limits.snapshot_lines(time.monotonic()) < limit


def cancel_mkt_data(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """cancelMktData (2)."""
    s.subs.market_data.pop(FieldReader(f, 2).int(), None)


# --------------------------------------------------------------------- orders
def _cid(s: Session) -> int:
    return s.client_id if s.client_id is not None else -1


def place_order(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """placeOrder (3): new order, modification, or what-if."""
    req = parse_place_order(f, _cid(s), s.server_version)
    broker = ctx.broker
    try:
        if req.what_if:
            req = broker.sized_by_cash(req)
            result = broker.what_if(req)
            inst, acct = broker.resolve(req)
            record = OrderRecord(
                req, inst, 0, acct.id, "PreSubmitted", broker.clock(), broker.clock()
            )
            s.send(enc.open_order(record, what_if=result))
            return
        events = broker.place(req)
    except OrderError as exc:
        s.error(req.order_id, exc.code, exc.message)
        return
    ctx.deliver(events, ack=True)


def cancel_order(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """cancelOrder (4)."""
    order_id = FieldReader(f, 2).int()
    try:
        events = ctx.broker.cancel(_cid(s), order_id)
    except OrderError as exc:
        s.error(order_id, exc.code, exc.message)
        return
    ctx.deliver(events)


def req_global_cancel(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqGlobalCancel (58): every open order of every client."""
    ctx.deliver(ctx.broker.cancel_all())


def _send_open(s: Session, orders: list[OrderRecord]) -> None:
    for o in orders:
        s.send(enc.open_order(o))
        s.send(enc.order_status(o))
    s.send(enc.open_order_end())


def req_open_orders(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqOpenOrders (5): this client's open orders (client 0 with auto-bind: all)."""
    orders = ctx.broker.open_orders()
    if not (s.client_id == 0 and s.auto_open_orders):
        orders = [o for o in orders if o.client_id == s.client_id]
    _send_open(s, orders)


def req_all_open_orders(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqAllOpenOrders (16): open orders of every client."""
    _send_open(s, ctx.broker.open_orders())


def req_auto_open_orders(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqAutoOpenOrders (15): only client id 0 may bind orders."""
    flag = FieldReader(f, 2).bool()
    if s.client_id != 0:
        s.error(
            -1, 321, "Error validating request:-'bF' : cause - reqAutoOpenOrders needs client id 0"
        )
        return
    s.auto_open_orders = flag


def req_completed_orders(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqCompletedOrders (99): every completed order of the session (all clients)."""
    for o in ctx.broker.completed_orders():
        s.send(enc.completed_order(o))
    s.send(enc.completed_orders_end())


def req_executions(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqExecutions (7) with the ExecutionFilter fields."""
    r = FieldReader(f, 2)
    req_id = r.int()
    client_id, acct, since, symbol, sec_type, exchange, side = (
        r.int(), r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
    )  # fmt: skip
    since_dt = _parse_filter_time(since) if since else None
    for o in ctx.broker.orders:
        if client_id and o.client_id != client_id:
            continue
        if acct and o.account != acct:
            continue
        if symbol and o.instrument.ib_symbol != symbol.upper():
            continue
        if sec_type and o.instrument.sec_type != sec_type:
            continue
        if exchange and exchange not in ("SMART", o.instrument.primary_exchange):
            continue
        for e in o.executions:
            if side and {"BUY": "BOT", "SELL": "SLD"}.get(side.upper(), side.upper()) != e.side:
                continue
            if since_dt and e.time < since_dt:
                continue
            s.send(enc.exec_details(req_id, o, e))
            s.send(enc.commission_report(e))
    s.send(enc.exec_details_end(req_id))


def _parse_filter_time(text: str) -> datetime:
    """'yyyymmdd hh:mm:ss' (optionally with a zone or '-' separator), taken as UTC."""
    cleaned = text.replace("-", " ").strip()
    parts = cleaned.split()
    try:
        return datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedRequest(
            f"execution filter time {text!r} is not 'yyyymmdd hh:mm:ss'"
        ) from exc


# ------------------------------------------------------------------- accounts
def req_positions(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqPositions (61): every position of every account, then keep them coming."""
    b = ctx.broker
    for acct in b.accounts.values():
        # Stocks, then IB's FX-portfolio positions (pairs traded on IDEALPRO).
        for sym, p in [*acct.positions.items(), *acct.fx_positions.items()]:
            inst = b.scenario.instrument(sym)
            if p.quantity != 0 and inst is not None:
                s.send(enc.position(acct.id, inst, p.quantity, p.average_cost))
    s.send(enc.position_end())
    s.subs.positions = True


def cancel_positions(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """cancelPositions (64)."""
    s.subs.positions = False


def req_account_updates(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqAccountUpdates (6): values, portfolio, time, download end; then updates."""
    r = FieldReader(f, 2)
    subscribe = r.bool()
    account = r.str()
    b = ctx.broker
    s.subs.account_values_sent.clear()
    s.subs.portfolio_sent.clear()
    if not subscribe:
        s.subs.account_updates = None
        return
    if not account:
        account = next(iter(b.accounts))
    if account not in b.accounts:
        s.error(-1, 321, f"Error validating request:-'bB' : cause - Invalid account code {account}")
        return
    s.subs.account_updates = account
    account_data.send_account_update(ctx, s, account, full=True)
    s.send(enc.account_download_end(account))


def req_account_updates_multi(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqAccountUpdatesMulti (76)."""
    r = FieldReader(f, 2)
    req_id, account, model = r.int(), r.str(), r.str()
    b = ctx.broker
    accounts = list(b.accounts) if account in ("", "All") else [account]
    if any(a not in b.accounts for a in accounts):
        s.error(
            req_id, 321, f"Error validating request:-'cb' : cause - Invalid account code {account}"
        )
        return
    s.subs.account_multi[req_id] = (accounts, model)
    account_data.send_account_multi(ctx, s, req_id)
    s.send(enc.account_update_multi_end(req_id))


def cancel_account_updates_multi(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """cancelAccountUpdatesMulti (77)."""
    req_id = FieldReader(f, 2).int()
    s.subs.account_multi.pop(req_id, None)
    s.subs.account_multi_sent.pop(req_id, None)


def req_account_summary(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqAccountSummary (62): requested tags for every account, end, then changes."""
    r = FieldReader(f, 2)
    req_id, _group, tags_text = r.int(), r.str(), r.str()
    tags = frozenset(t.strip() for t in tags_text.split(",") if t.strip())
    s.subs.account_summary[req_id] = SummarySubscription(tags)
    account_data.send_account_summary(ctx, s, req_id)


def cancel_account_summary(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """cancelAccountSummary (63)."""
    s.subs.account_summary.pop(FieldReader(f, 2).int(), None)


def req_pnl(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqPnL (92): daily, unrealized and realized PnL of an account, kept live."""
    r = FieldReader(f, 1)
    req_id, account, model = r.int(), r.str(), r.str()
    if account not in ctx.broker.accounts:
        s.error(
            req_id, 321, f"Error validating request:-'cg' : cause - Invalid account code {account}"
        )
        return
    if (account, model) in s.subs.pnl.values() or req_id in s.subs.pnl:
        s.error(
            req_id,
            322,
            f"Error processing request:-'cg' : cause - Duplicate PnL subscription for {account}",
        )
        return
    s.subs.pnl[req_id] = (account, model)
    account_data.send_pnl(ctx, s, req_id)


def cancel_pnl(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """cancelPnL (93)."""
    s.subs.pnl.pop(FieldReader(f, 1).int(), None)


def req_pnl_single(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """reqPnLSingle (94): PnL of one position, kept live."""
    r = FieldReader(f, 1)
    req_id, account, model, con_id = r.int(), r.str(), r.str(), r.int()
    b = ctx.broker
    if account not in b.accounts or not any(i.con_id == con_id for i in b.scenario.instruments):
        s.error(
            req_id,
            321,
            f"Error validating request:-'ch' : cause - Invalid account or conId {account} {con_id}",
        )
        return
    key = (account, model, con_id)
    if key in s.subs.pnl_single.values() or req_id in s.subs.pnl_single:
        s.error(
            req_id,
            322,
            "Error processing request:-'ch' : cause - "
            f"Duplicate PnL subscription for {account} {con_id}",
        )
        return
    s.subs.pnl_single[req_id] = key
    account_data.send_pnl_single(ctx, s, req_id)


def cancel_pnl_single(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """cancelPnLSingle (95)."""
    s.subs.pnl_single.pop(FieldReader(f, 1).int(), None)


def _ignore(ctx: EmulatorContext, s: Session, f: list[str]) -> None:
    """Requests TWS accepts without an answer (e.g. setServerLogLevel)."""


HANDLERS: dict[int, Handler] = {
    1: req_mkt_data,
    2: cancel_mkt_data,
    3: place_order,
    4: cancel_order,
    5: req_open_orders,
    6: req_account_updates,
    7: req_executions,
    8: req_ids,
    9: req_contract_details,
    14: _ignore,
    15: req_auto_open_orders,
    16: req_all_open_orders,
    17: req_managed_accts,
    49: req_current_time,
    58: req_global_cancel,
    59: req_market_data_type,
    61: req_positions,
    62: req_account_summary,
    63: cancel_account_summary,
    64: cancel_positions,
    71: start_api,
    76: req_account_updates_multi,
    77: cancel_account_updates_multi,
    92: req_pnl,
    93: cancel_pnl,
    94: req_pnl_single,
    95: cancel_pnl_single,
    99: req_completed_orders,
}

# Where the request id (or order id) sits in each request, for errors and the debug log.
REQ_ID_POSITION: dict[int, int] = {
    1: 2, 2: 2, 3: 1, 4: 2, 7: 2, 9: 2, 10: 2, 20: 1, 21: 2, 22: 1, 50: 2, 52: 2, 62: 2, 63: 2,
    74: 2, 76: 2, 77: 2, 78: 1, 81: 1, 87: 1, 88: 1, 92: 1, 93: 1, 94: 1, 95: 1, 96: 1, 97: 1,
}  # fmt: skip
# Where the account code sits, for the debug log.
ACCOUNT_POSITION: dict[int, int] = {3: 23, 6: 3, 7: 4, 76: 3, 92: 2, 94: 2}

# Unimplemented requests whose failure ib_async only notices with a non-warning code.
UNSUPPORTED_CODES = {20: 162, 87: 162, 96: 162}


def _field_int(fields: list[str], pos: int | None) -> int:
    if pos is None or len(fields) <= pos:
        return -1
    try:
        return int(fields[pos])
    except ValueError:
        return -1


def request_id_of(fields: list[str]) -> int:
    """Best effort: the request's id (or order id) if its layout is known, else -1."""
    return _field_int(fields, REQ_ID_POSITION.get(_field_int(fields, 0)))


def _log_request(s: Session, msg_id: int, fields: list[str]) -> None:
    pos = ACCOUNT_POSITION.get(msg_id)
    account = fields[pos] if pos is not None and len(fields) > pos else ""
    req_id = request_id_of(fields)
    name = request_name(msg_id)
    log.debug(
        "%s client %s: request %s %s req_id=%s account=%s",
        s.peer, s.client_id, msg_id, name, req_id, account or "-",
        extra={"msg_id": msg_id, "msg_name": name, "req_id": req_id, "account": account,
               "client_id": s.client_id},
    )  # fmt: skip


def _invalid(req_id: int, msg_id: int, cause: str) -> tuple[int, int, str]:
    return req_id, 321, f"Error validating request:-'{msg_id}' : cause - {cause}"


def dispatch_request(ctx: EmulatorContext, s: Session, fields: list[str]) -> None:
    """Route a request to its handler; refuse bad ones with IB's errors, never mis-parse."""
    try:
        msg_id = int(fields[0])
    except ValueError:
        log.warning("%s: message id %r is not a number; ignored", s.peer, fields[0])
        s.error(-1, 321, f"Error validating request:-'' : cause - bad message id {fields[0]!r}")
        return
    if log.isEnabledFor(logging.DEBUG):
        _log_request(s, msg_id, fields)
    if not s.is_api_ready and msg_id != 71:
        log.warning("%s: request %s before startApi ignored", s.peer, msg_id)
        return
    bad = control_character(fields)
    if bad is not None:
        index, text = bad
        log.warning("%s: request %s refused: control character in field %s", s.peer, msg_id, index)
        s.error(*_invalid(request_id_of(fields), msg_id,
                          f"Invalid symbol in string - field {index}: {text!r}"))  # fmt: skip
        return
    handler = HANDLERS.get(msg_id)
    if handler is None:
        log.warning("%s: unsupported request %s %s", s.peer, msg_id, request_name(msg_id))
        code = UNSUPPORTED_CODES.get(msg_id, 321)
        req_id, _, text = _invalid(
            request_id_of(fields), msg_id, f"request type {msg_id} is not supported by the emulator"
        )
        s.error(req_id, code, text)
        return
    try:
        handler(ctx, s, fields)
    except MalformedRequest as exc:
        log.warning("%s: malformed request %s: %s", s.peer, msg_id, exc)
        s.error(*_invalid(request_id_of(fields), msg_id, str(exc)))
