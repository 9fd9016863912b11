"""Request id -> handler table. Each handler reads one request and answers as IB would."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from . import encoders as enc
from .broker import OrderError
from .orders import OrderRecord
from .requests import FieldReader, MalformedRequest, parse_place_order, read_contract
from .session import Session

log = logging.getLogger("ib_emulator.handlers")

Handler = Callable[[Session, list[str]], None]

NO_SECURITY = "No security definition has been found for the request"


def start_api(s: Session, f: list[str]) -> None:
    """startApi (71): register the client id, or refuse it with 326 like IB."""
    r = FieldReader(f, 2)
    client_id = r.int()
    if s.is_api_ready:
        log.warning("%s: startApi sent twice; ignored", s.peer)
        return
    if not s.emulator.claim_client_id(client_id, s):
        s.error(
            -1,
            326,
            "Unable to connect as the client id is already in use. Retry with a unique client id.",
        )
        s.close()
        return
    s.client_id = client_id
    b = s.emulator.broker
    s.send(enc.next_valid_id(b.next_valid_id(client_id)))
    s.send(enc.managed_accounts(list(b.accounts)))
    # Farm status notices every real gateway sends right after login.
    s.error(-1, 2104, "Market data farm connection is OK:usfarm")
    s.error(-1, 2106, "HMDS data farm connection is OK:ushmds")
    s.error(-1, 2158, "Sec-def data farm connection is OK:secdefil")


def req_ids(s: Session, f: list[str]) -> None:
    """reqIds (8)."""
    s.send(enc.next_valid_id(s.emulator.broker.next_valid_id(_cid(s))))


def req_current_time(s: Session, f: list[str]) -> None:
    """reqCurrentTime (49)."""
    s.send(enc.current_time(int(s.emulator.clock().timestamp())))


def req_managed_accts(s: Session, f: list[str]) -> None:
    """reqManagedAccts (17)."""
    s.send(enc.managed_accounts(list(s.emulator.broker.accounts)))


# ------------------------------------------------------------------ contracts
def req_contract_details(s: Session, f: list[str]) -> None:
    """reqContractDetails (9): one contractData per match, or error 200."""
    r = FieldReader(f, 2)
    req_id = r.int()
    query = read_contract(r)
    matches = s.emulator.broker.find_instruments(query)
    if not matches:
        s.error(req_id, 200, NO_SECURITY)
        return
    for inst in matches:
        s.send(enc.contract_details(req_id, inst))
    s.send(enc.contract_details_end(req_id))


# ---------------------------------------------------------------- market data
def req_market_data_type(s: Session, f: list[str]) -> None:
    """reqMarketDataType (59): 1 live, 2 frozen, 3 delayed, 4 delayed frozen."""
    md_type = FieldReader(f, 2).int()
    if md_type not in (1, 2, 3, 4):
        s.error(
            -1, 321, f"Error validating request:-'bE' : cause - Invalid market data type {md_type}"
        )
        return
    s.market_data_type = md_type


def req_mkt_data(s: Session, f: list[str]) -> None:
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
        r.skip(3)
    r.skip(1)  # genericTickList
    snapshot = r.bool()
    emu = s.emulator
    matches = emu.broker.find_instruments(query)
    if len(matches) != 1:
        s.error(req_id, 200, NO_SECURITY)
        return
    if req_id in s.subs.market_data:
        s.error(
            req_id, 322, f"Error processing request:-'bK' : cause - Duplicate ticker id {req_id}"
        )
        return
    inst = matches[0]
    delayed = emu.scenario.market_data_type == "delayed"
    if delayed and s.market_data_type in (1, 2):
        s.error(
            req_id,
            354,
            "Requested market data is not subscribed. Delayed market data is available.",
        )
        return
    s.send(enc.tick_req_params(req_id, inst.min_tick))
    s.send(enc.market_data_type(req_id, 3 if delayed else 1))
    for msg in enc.quote_ticks(
        req_id, emu.market.quote(inst.symbol), delayed, emu.fault_state.nan_prices
    ):
        s.send(msg)
    if snapshot:
        s.send(enc.tick_snapshot_end(req_id))
    else:
        s.subs.market_data[req_id] = inst.symbol


def cancel_mkt_data(s: Session, f: list[str]) -> None:
    """cancelMktData (2)."""
    s.subs.market_data.pop(FieldReader(f, 2).int(), None)


# --------------------------------------------------------------------- orders
def _cid(s: Session) -> int:
    return s.client_id if s.client_id is not None else -1


def place_order(s: Session, f: list[str]) -> None:
    """placeOrder (3): new order, modification, or what-if."""
    req = parse_place_order(f, _cid(s))
    broker = s.emulator.broker
    try:
        if req.what_if:
            result = broker.what_if(req)
            inst, acct = broker._resolve(req)
            record = OrderRecord(
                req, inst, 0, acct.id, "PreSubmitted", broker.clock(), broker.clock()
            )
            s.send(enc.open_order(record, what_if=result))
            return
        events = broker.place(req)
    except OrderError as exc:
        s.error(req.order_id, exc.code, exc.message)
        return
    s.emulator.dispatch(events, ack=True)


def cancel_order(s: Session, f: list[str]) -> None:
    """cancelOrder (4)."""
    order_id = FieldReader(f, 2).int()
    try:
        events = s.emulator.broker.cancel(_cid(s), order_id)
    except OrderError as exc:
        s.error(order_id, exc.code, exc.message)
        return
    s.emulator.dispatch(events)


def req_global_cancel(s: Session, f: list[str]) -> None:
    """reqGlobalCancel (58): every open order of every client."""
    s.emulator.dispatch(s.emulator.broker.cancel_all())


def _send_open(s: Session, orders: list[OrderRecord]) -> None:
    for o in orders:
        s.send(enc.open_order(o))
        s.send(enc.order_status(o))
    s.send(enc.open_order_end())


def req_open_orders(s: Session, f: list[str]) -> None:
    """reqOpenOrders (5): this client's open orders (client 0 with auto-bind: all)."""
    orders = s.emulator.broker.open_orders()
    if not (s.client_id == 0 and s.auto_open_orders):
        orders = [o for o in orders if o.client_id == s.client_id]
    _send_open(s, orders)


def req_all_open_orders(s: Session, f: list[str]) -> None:
    """reqAllOpenOrders (16): open orders of every client."""
    _send_open(s, s.emulator.broker.open_orders())


def req_auto_open_orders(s: Session, f: list[str]) -> None:
    """reqAutoOpenOrders (15): only client id 0 may bind orders."""
    flag = FieldReader(f, 2).bool()
    if s.client_id != 0:
        s.error(
            -1, 321, "Error validating request:-'bF' : cause - reqAutoOpenOrders needs client id 0"
        )
        return
    s.auto_open_orders = flag


def req_completed_orders(s: Session, f: list[str]) -> None:
    """reqCompletedOrders (99): every completed order of the session (all clients)."""
    for o in s.emulator.broker.completed_orders():
        s.send(enc.completed_order(o))
    s.send(enc.completed_orders_end())


def req_executions(s: Session, f: list[str]) -> None:
    """reqExecutions (7) with the ExecutionFilter fields."""
    r = FieldReader(f, 2)
    req_id = r.int()
    client_id, acct, since, symbol, sec_type, exchange, side = (
        r.int(), r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
    )  # fmt: skip
    since_dt = _parse_filter_time(since) if since else None
    for o in s.emulator.broker.orders:
        if client_id and o.client_id != client_id:
            continue
        if acct and o.account != acct:
            continue
        if symbol and o.instrument.symbol != symbol.upper():
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
def req_positions(s: Session, f: list[str]) -> None:
    """reqPositions (61): every position of every account, then keep them coming."""
    b = s.emulator.broker
    for acct in b.accounts.values():
        for sym, p in acct.positions.items():
            if p.quantity != 0:
                s.send(
                    enc.position(acct.id, b.scenario.instrument(sym), p.quantity, p.average_cost)
                )  # type: ignore[arg-type]
    s.send(enc.position_end())
    s.subs.positions = True


def cancel_positions(s: Session, f: list[str]) -> None:
    """cancelPositions (64)."""
    s.subs.positions = False


def req_account_updates(s: Session, f: list[str]) -> None:
    """reqAccountUpdates (6): values, portfolio, time, download end; then updates."""
    r = FieldReader(f, 2)
    subscribe = r.bool()
    account = r.str()
    b = s.emulator.broker
    if not subscribe:
        s.subs.account_updates = None
        return
    if not account:
        account = next(iter(b.accounts))
    if account not in b.accounts:
        s.error(-1, 321, f"Error validating request:-'bB' : cause - Invalid account code {account}")
        return
    s.subs.account_updates = account
    s.emulator.send_account_update(s, account, full=True)
    s.send(enc.account_download_end(account))


def req_account_updates_multi(s: Session, f: list[str]) -> None:
    """reqAccountUpdatesMulti (76)."""
    r = FieldReader(f, 2)
    req_id, account, model = r.int(), r.str(), r.str()
    b = s.emulator.broker
    accounts = list(b.accounts) if account in ("", "All") else [account]
    if any(a not in b.accounts for a in accounts):
        s.error(
            req_id, 321, f"Error validating request:-'cb' : cause - Invalid account code {account}"
        )
        return
    s.subs.account_multi[req_id] = (accounts, model)
    s.emulator.send_account_multi(s, req_id)
    s.send(enc.account_update_multi_end(req_id))


def cancel_account_updates_multi(s: Session, f: list[str]) -> None:
    """cancelAccountUpdatesMulti (77)."""
    s.subs.account_multi.pop(FieldReader(f, 2).int(), None)


SUMMARY_TAGS = {
    "NetLiquidation", "TotalCashValue", "SettledCash", "BuyingPower", "EquityWithLoanValue",
    "GrossPositionValue", "InitMarginReq", "MaintMarginReq", "AvailableFunds", "ExcessLiquidity",
    "Cushion", "FullInitMarginReq", "FullMaintMarginReq", "FullAvailableFunds",
    "FullExcessLiquidity", "AccountType",
}  # fmt: skip


def req_account_summary(s: Session, f: list[str]) -> None:
    """reqAccountSummary (62): requested tags for every account, then end."""
    r = FieldReader(f, 2)
    req_id, _group, tags_text = r.int(), r.str(), r.str()
    tags = {t.strip() for t in tags_text.split(",") if t.strip()}
    ledger = any(t.startswith("$LEDGER") for t in tags)
    b = s.emulator.broker
    for acct in b.accounts.values():
        for tag, value, ccy in acct.values(b.mark):
            if (tag in tags and tag in SUMMARY_TAGS) or (
                ledger and tag in ("CashBalance", "TotalCashBalance", "NetLiquidationByCurrency")
            ):
                s.send(enc.account_summary(req_id, acct.id, tag, value, ccy))
    s.send(enc.account_summary_end(req_id))


def cancel_account_summary(s: Session, f: list[str]) -> None:
    """cancelAccountSummary (63): nothing is kept streaming, so nothing to stop."""


def req_pnl(s: Session, f: list[str]) -> None:
    """reqPnL (92): daily, unrealized and realized PnL of an account, kept live."""
    r = FieldReader(f, 1)
    req_id, account, model = r.int(), r.str(), r.str()
    if account not in s.emulator.broker.accounts:
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
    s.emulator.send_pnl(s, req_id)


def cancel_pnl(s: Session, f: list[str]) -> None:
    """cancelPnL (93)."""
    s.subs.pnl.pop(FieldReader(f, 1).int(), None)


def req_pnl_single(s: Session, f: list[str]) -> None:
    """reqPnLSingle (94): PnL of one position, kept live."""
    r = FieldReader(f, 1)
    req_id, account, model, con_id = r.int(), r.str(), r.str(), r.int()
    b = s.emulator.broker
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
    s.emulator.send_pnl_single(s, req_id)


def cancel_pnl_single(s: Session, f: list[str]) -> None:
    """cancelPnLSingle (95)."""
    s.subs.pnl_single.pop(FieldReader(f, 1).int(), None)


def _ignore(s: Session, f: list[str]) -> None:
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

# Where the request id sits in requests we do not implement, so the error names it.
REQ_ID_POSITION: dict[int, int] = {
    1: 2, 3: 1, 4: 2, 7: 2, 9: 2, 10: 2, 20: 1, 21: 2, 22: 1, 50: 2, 52: 2, 62: 2, 74: 2,
    76: 2, 78: 1, 81: 1, 87: 1, 88: 1, 92: 1, 94: 1, 96: 1, 97: 1,
}  # fmt: skip

# Unimplemented requests whose failure ib_async only notices with a non-warning code.
UNSUPPORTED_CODES = {20: 162, 87: 162, 96: 162}


def dispatch_request(s: Session, msg_id: int, fields: list[str]) -> None:
    """Route a request to its handler; answer unknown ones with an error, never crash."""
    if not s.is_api_ready and msg_id != 71:
        log.warning("%s: request %s before startApi ignored", s.peer, msg_id)
        return
    handler = HANDLERS.get(msg_id)
    if handler is None:
        log.warning("%s: unsupported request id %s: %s", s.peer, msg_id, fields)
        req_id = -1
        pos = REQ_ID_POSITION.get(msg_id)
        if pos is not None and len(fields) > pos:
            try:
                req_id = int(fields[pos])
            except ValueError:
                pass
        code = UNSUPPORTED_CODES.get(msg_id, 321)
        s.error(
            req_id,
            code,
            f"Error validating request:-'{msg_id}' : cause - "
            f"request type {msg_id} is not supported by the emulator",
        )
        return
    handler(s, fields)
