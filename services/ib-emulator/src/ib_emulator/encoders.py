"""Outgoing TWS messages, field by field as ib_async's decoder.py reads them at version 176.

Every function returns the list of fields of one message (framing is wire.py's job). Empty
strings stand for IB's "unset" values: the decoder maps them back to its defaults.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from .market import Quote
from .matching import WhatIf
from .orders import Execution, OrderRecord
from .scenario import InstrumentSpec
from .wire import Field

SERVER_VERSION = 176

# Outgoing message ids (EDecoder's IN ids).
TICK_PRICE = 1
TICK_SIZE = 2
TICK_STRING = 46
ORDER_STATUS = 3
ERR_MSG = 4
OPEN_ORDER = 5
ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
NEXT_VALID_ID = 9
CONTRACT_DATA = 10
EXECUTION_DATA = 11
MANAGED_ACCTS = 15
CURRENT_TIME = 49
CONTRACT_DATA_END = 52
OPEN_ORDER_END = 53
ACCT_DOWNLOAD_END = 54
EXECUTION_DATA_END = 55
TICK_SNAPSHOT_END = 57
MARKET_DATA_TYPE = 58
COMMISSION_REPORT = 59
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_SUMMARY = 63
ACCOUNT_SUMMARY_END = 64
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74
TICK_REQ_PARAMS = 81
PNL = 94
PNL_SINGLE = 95
COMPLETED_ORDER = 101
COMPLETED_ORDERS_END = 102

# Tick types: live and their delayed twins (marketDataType 3).
LIVE_TICKS = {"bid": 1, "ask": 2, "last": 4, "close": 9, "last_size": 5, "volume": 8,
              "last_time": 45}  # fmt: skip
DELAYED_TICKS = {"bid": 66, "ask": 67, "last": 68, "close": 75, "last_size": 71, "volume": 74,
                 "last_time": 88}  # fmt: skip


def ib_time(dt: datetime) -> str:
    """IB's 'yyyymmdd hh:mm:ss tz' form, which ib_async parses with the zone."""
    return dt.strftime("%Y%m%d %H:%M:%S") + " UTC"


def _num(v: Decimal | None) -> Field:
    return "" if v is None else v


def error(req_id: int, code: int, text: str) -> list[Field]:
    """errMsg (version 2), with the empty advancedOrderRejectJson of server >= 166."""
    return [ERR_MSG, 2, req_id, code, text, ""]


def next_valid_id(order_id: int) -> list[Field]:
    """nextValidId."""
    return [NEXT_VALID_ID, 1, order_id]


def managed_accounts(accounts: list[str]) -> list[Field]:
    """managedAccounts: comma-separated ids."""
    return [MANAGED_ACCTS, 1, ",".join(accounts)]


def current_time(epoch: int) -> list[Field]:
    """currentTime in epoch seconds."""
    return [CURRENT_TIME, 1, epoch]


def _contract_fields(inst: InstrumentSpec, exchange: str) -> list[Field]:
    # conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange,
    # currency, localSymbol, tradingClass
    return [
        inst.con_id, inst.ib_symbol, inst.sec_type, "", 0, "", "", exchange, inst.currency,
        inst.local_symbol, _trading_class(inst),
    ]  # fmt: skip


def _trading_class(inst: InstrumentSpec) -> str:
    # IB uses the symbol as trading class for stocks, except on NASDAQ-listed ones where it
    # is NMS; an FX pair's is its local symbol (EUR.USD).
    if inst.sec_type == "CASH":
        return inst.local_symbol
    return "NMS" if inst.primary_exchange == "NASDAQ" else inst.symbol


US_VENUES = "ARCA,NASDAQ,NYSE,BATS,IEX"
STK_ORDER_TYPES = "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,DAY,GTC,IOC,LIT,LMT,MIDPX,MKT,MOC,NONALGO,OCA,REL,RELPCTOFS,SCALE,STP,STPLMT,TRAIL,WHATIF"
FX_ORDER_TYPES = "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,CASHQTY,DAY,GTC,IOC,LIT,LMT,MKT,NONALGO,OCA,REL,STP,STPLMT,TRAIL,WHATIF"


def contract_details(
    req_id: int,
    inst: InstrumentSpec,
    zone: str,
    trading_hours: str,
    liquid_hours: str,
    route: str = "",
) -> list[Field]:
    """contractData at server version >= 164 (no version field, size rules at the end).
    An FX pair shows the route it was asked on (FXCONV or IDEALPRO)."""
    if inst.sec_type == "CASH":
        exchange, primary, order_types = route or "IDEALPRO", "", FX_ORDER_TYPES
        valid = "IDEALPRO"
        min_size = increment = suggested = inst.size_increment
    else:
        exchange, primary, order_types = "SMART", inst.primary_exchange, STK_ORDER_TYPES
        valid = f"SMART,{primary}" + (f",{US_VENUES}" if inst.currency == "USD" else "")
        fractional = inst.fractional
        min_size = inst.min_size if not fractional else Decimal("0.0001")
        increment = inst.size_increment if not fractional else Decimal("0.0001")
        suggested = inst.size_increment
    trading_class = _trading_class(inst)
    market_name = inst.local_symbol if inst.sec_type == "CASH" else trading_class
    return [
        CONTRACT_DATA, req_id, inst.ib_symbol, inst.sec_type, "", 0, "", exchange, inst.currency,
        inst.local_symbol, market_name, trading_class, inst.con_id, inst.min_tick,
        "", order_types, valid, inst.price_magnifier, 0, inst.long_name, primary, "", "", "",
        "", zone, trading_hours, liquid_hours, "", "",
        0,  # secIdList: none (the scenario has no ISINs to report)
        1, "", "", "26,26", "", inst.stock_type if inst.sec_type == "STK" else "",
        min_size, increment, suggested,
    ]  # fmt: skip


def order_exchange(o: OrderRecord) -> str:
    """The exchange an order's contract shows: SMART for stocks, the route for FX."""
    if o.instrument.sec_type == "CASH":
        return o.request.contract.exchange or "IDEALPRO"
    return "SMART"


def contract_details_end(req_id: int) -> list[Field]:
    """contractDataEnd."""
    return [CONTRACT_DATA_END, 1, req_id]


def tick_price(
    req_id: int, tick_type: int, price: Decimal | int, size: Decimal | int
) -> list[Field]:
    """tickPrice (version 6) with its size; attribute mask 0."""
    return [TICK_PRICE, 6, req_id, tick_type, price, size, 0]


def tick_req_params(req_id: int, min_tick: Decimal) -> list[Field]:
    """tickReqParams: what TWS sends before the first tick of a subscription."""
    return [TICK_REQ_PARAMS, req_id, min_tick, "9c0001", 3]


def quote_ticks(
    req_id: int, q: Quote, delayed: bool, nan: bool, *, fx: bool = False, changed: bool = False
) -> list[list[Field]]:
    """bid/ask/last/close as priceSizeTick messages (``changed``: without the close); none
    when prices are missing. An FX pair has no last: IDEALPRO reports no trades, so IB
    sends bid, ask and close only (ib_async's ``Ticker.last`` stays NaN and
    ``marketPrice()`` is the midpoint)."""
    types = DELAYED_TICKS if delayed else LIVE_TICKS
    if nan:
        # A gateway without prices sends no price ticks at all (a snapshot just ends), so
        # ib_async leaves bid/ask/last unset: NaN.
        return []
    ticks = [
        tick_price(req_id, types["bid"], q.bid, q.bid_size),
        tick_price(req_id, types["ask"], q.ask, q.ask_size),
    ]
    if not fx:
        ticks.append(tick_price(req_id, types["last"], q.last, q.last_size))
    if not changed:
        ticks.append(tick_price(req_id, types["close"], q.close, 0))
    return ticks


def tick_size(req_id: int, tick_type: int, size: Decimal) -> list[Field]:
    """tickSize (version 6)."""
    return [TICK_SIZE, 6, req_id, tick_type, size]


def tick_string(req_id: int, tick_type: int, value: str) -> list[Field]:
    """tickString (version 6)."""
    return [TICK_STRING, 6, req_id, tick_type, value]


def trade_print(
    req_id: int, q: Quote, volume: Decimal, epoch: int, delayed: bool
) -> list[list[Field]]:
    """A trade at the last price: last size, the day's volume and the last trade's time."""
    types = DELAYED_TICKS if delayed else LIVE_TICKS
    return [
        tick_size(req_id, types["last_size"], q.last_size),
        tick_size(req_id, types["volume"], volume),
        tick_string(req_id, types["last_time"], str(epoch)),
    ]


def market_data_type(req_id: int, md_type: int) -> list[Field]:
    """marketDataType for one subscription."""
    return [MARKET_DATA_TYPE, 1, req_id, md_type]


def tick_snapshot_end(req_id: int) -> list[Field]:
    """tickSnapshotEnd."""
    return [TICK_SNAPSHOT_END, 1, req_id]


def position(account: str, inst: InstrumentSpec, qty: Decimal, avg_cost: Decimal) -> list[Field]:
    """position (version 3)."""
    exchange = "" if inst.sec_type == "CASH" else inst.primary_exchange
    return [POSITION_DATA, 3, account, *_contract_fields(inst, exchange), qty, avg_cost]


def position_end() -> list[Field]:
    """positionEnd."""
    return [POSITION_END, 1]


def account_value(tag: str, value: str, currency: str, account: str) -> list[Field]:
    """updateAccountValue (version 2)."""
    return [ACCT_VALUE, 2, tag, value, currency, account]


def portfolio_value(
    inst: InstrumentSpec,
    qty: Decimal,
    price: Decimal,
    avg_cost: Decimal,
    unrealized: Decimal,
    realized: Decimal,
    account: str,
) -> list[Field]:
    """updatePortfolio (version 8): primaryExchange in place of exchange."""
    return [
        PORTFOLIO_VALUE, 8, inst.con_id, inst.ib_symbol, inst.sec_type, "", 0, "", "",
        inst.primary_exchange, inst.currency, inst.local_symbol, _trading_class(inst),
        qty, price, round(qty * price, 2), avg_cost, round(unrealized, 2), round(realized, 2),
        account,
    ]  # fmt: skip


def account_time(dt: datetime) -> list[Field]:
    """updateAccountTime (HH:MM)."""
    return [ACCT_UPDATE_TIME, 1, dt.strftime("%H:%M")]


def account_download_end(account: str) -> list[Field]:
    """accountDownloadEnd."""
    return [ACCT_DOWNLOAD_END, 1, account]


def account_summary(req_id: int, account: str, tag: str, value: str, ccy: str) -> list[Field]:
    """accountSummary."""
    return [ACCOUNT_SUMMARY, 1, req_id, account, tag, value, ccy]


def account_summary_end(req_id: int) -> list[Field]:
    """accountSummaryEnd."""
    return [ACCOUNT_SUMMARY_END, 1, req_id]


def account_update_multi(
    req_id: int, account: str, model: str, tag: str, value: str, ccy: str
) -> list[Field]:
    """accountUpdateMulti."""
    return [ACCOUNT_UPDATE_MULTI, 1, req_id, account, model, tag, value, ccy]


def account_update_multi_end(req_id: int) -> list[Field]:
    """accountUpdateMultiEnd."""
    return [ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def pnl(req_id: int, daily: Decimal, unrealized: Decimal, realized: Decimal) -> list[Field]:
    """pnl (no version field)."""
    return [PNL, req_id, round(daily, 2), round(unrealized, 2), round(realized, 2)]


def pnl_single(
    req_id: int,
    pos: Decimal,
    daily: Decimal,
    unrealized: Decimal,
    realized: Decimal,
    value: Decimal,
) -> list[Field]:
    """pnlSingle (no version field)."""
    return [
        PNL_SINGLE, req_id, pos, round(daily, 2), round(unrealized, 2), round(realized, 2),
        round(value, 2),
    ]  # fmt: skip


def order_status(o: OrderRecord) -> list[Field]:
    """orderStatus (no version field at this server version)."""
    return [
        ORDER_STATUS, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price,
        o.perm_id, o.request.parent_id, o.last_fill_price, o.client_id, o.why_held, "",
    ]  # fmt: skip


def _algo_fields(o: OrderRecord) -> list[Field]:
    r = o.request
    if not r.algo_strategy:
        return [""]
    out: list[Field] = [r.algo_strategy, len(r.algo_params)]
    for tag, value in r.algo_params:
        out += [tag, value]
    return out


def open_order(o: OrderRecord, what_if: WhatIf | None = None) -> list[Field]:
    """openOrder: ~120 positional fields, in decoder.openOrder's order at version 176."""
    r, inst = o.request, o.instrument
    lmt = r.lmt_price if r.lmt_price is not None else Decimal(0)
    aux = r.aux_price if r.aux_price is not None else Decimal(0)
    if what_if is None:
        status = o.status
        margins: list[Field] = ["", "", "", "", "", "", "", "", ""]
        commission: list[Field] = ["", "", "", "", ""]
    else:
        w = what_if
        status = "PreSubmitted"
        margins = [
            f"{w.init_margin_before:.2f}", f"{w.maint_margin_before:.2f}",
            f"{w.equity_with_loan_before:.2f}",
            f"{w.init_margin_after - w.init_margin_before:.2f}",
            f"{w.maint_margin_after - w.maint_margin_before:.2f}",
            f"{w.equity_with_loan_after - w.equity_with_loan_before:.2f}",
            f"{w.init_margin_after:.2f}", f"{w.maint_margin_after:.2f}",
            f"{w.equity_with_loan_after:.2f}",
        ]  # fmt: skip
        commission = [w.commission, w.commission, w.commission, w.currency, ""]
    return [
        OPEN_ORDER, r.order_id,
        *_contract_fields(inst, order_exchange(o)),
        r.action, r.total_quantity, r.order_type, lmt, aux, r.tif, "", o.account, "O", 0,
        r.order_ref, r.client_id, o.perm_id, r.outside_rth, False, 0, "",
        "",  # sharesAllocation (deprecated)
        "", "", "", "",  # faGroup, faMethod, faPercentage, faProfile (server < 177)
        "", "", "", "", "", 0, "", -1,  # modelCode .. exemptCode
        0, "", "", "", "", "",  # auctionStrategy, startingPrice .. stockRangeUpper
        "", False, False, False, "", 3, False, False, "", r.parent_id, 0,
        "", 0, "", "",  # volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
        False, 0, "", "", "", "", "",  # continuousUpdate .. basisPointsType, comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo routing params
        "", "", "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        "",  # hedgeType
        False, "", "", False, False,  # optOutSmartRouting .. notHeld, no delta neutral contract
        *_algo_fields(o),
        False, what_if is not None, status, *margins, *commission, False, False,
        0,  # conditions
        "", "", "", "", "", "", "", 0,  # adjustedOrderType .. adjustableTrailingUnit
        "", "", "",  # softDollarTier name, value, display name
        _num(r.cash_qty), False, False, "", False,  # cashQty .. usePriceMgmtAlgo
        "", False, False,  # duration, postToAts, autoCancelParent
        "", "", "", "", "",  # minTradeQty .. midOffsetAtHalf
    ]  # fmt: skip


def open_order_end() -> list[Field]:
    """openOrderEnd."""
    return [OPEN_ORDER_END, 1]


def completed_order(o: OrderRecord) -> list[Field]:
    """completedOrder in decoder.completedOrder's order at version 176 (no order id)."""
    r, inst = o.request, o.instrument
    lmt = r.lmt_price if r.lmt_price is not None else Decimal(0)
    aux = r.aux_price if r.aux_price is not None else Decimal(0)
    done = ib_time(o.completed_time) if o.completed_time else ""
    return [
        COMPLETED_ORDER,
        *_contract_fields(inst, order_exchange(o)),
        r.action, r.total_quantity, r.order_type, lmt, aux, r.tif, "", o.account, "O", 0,
        r.order_ref, o.perm_id, r.outside_rth, False, 0, "",
        "", "", "", "",  # faGroup, faMethod, faPercentage, faProfile
        "", "", "", "", "", 0, "", -1,  # modelCode .. exemptCode
        "", "", "", "", "",  # startingPrice .. stockRangeUpper
        "", False, False, "", 3, 0,  # displaySize .. triggerMethod
        "", 0, "", "",  # volatility .. deltaNeutralAuxPrice
        False, 0, "", "", "",  # continuousUpdate .. comboLegsDescrip
        0, 0, 0,
        "", "", "",
        "",  # hedgeType
        "", "", False, False,  # clearingAccount, clearingIntent, notHeld, no dnc
        *_algo_fields(o),
        False, o.status, False, False,
        0,  # conditions
        "", "", "", False, False, "", o.filled, 0, False, "", False, False, 0,
        done, o.completed_status,
        "", "", "", "", "",
    ]  # fmt: skip


def completed_orders_end() -> list[Field]:
    """completedOrdersEnd (no version field)."""
    return [COMPLETED_ORDERS_END]


def exec_details(req_id: int, o: OrderRecord, e: Execution) -> list[Field]:
    """execDetails (no version field; no pendingPriceRevision below server 178)."""
    inst = o.instrument
    contract_exchange = "IDEALPRO" if inst.sec_type == "CASH" else inst.primary_exchange
    return [
        EXECUTION_DATA, req_id, o.order_id,
        *_contract_fields(inst, contract_exchange),
        e.exec_id, ib_time(e.time), e.account, e.exchange or inst.primary_exchange, e.side,
        e.shares, e.price, o.perm_id, o.client_id, 0, e.cum_qty, e.avg_price,
        o.request.order_ref, "", "", "", 2 if o.request.order_type == "LMT" else 1,
    ]  # fmt: skip


def exec_details_end(req_id: int) -> list[Field]:
    """execDetailsEnd."""
    return [EXECUTION_DATA_END, 1, req_id]


UNSET_DOUBLE_TEXT = "1.7976931348623157E308"


def commission_report(e: Execution) -> list[Field]:
    """commissionReport; opening fills carry IB's unset double as realized PnL."""
    realized: Field = UNSET_DOUBLE_TEXT if e.realized_pnl is None else round(e.realized_pnl, 4)
    return [
        COMMISSION_REPORT, 1, e.exec_id, e.commission, e.commission_currency, realized,
        UNSET_DOUBLE_TEXT, "",
    ]  # fmt: skip
