"""One small interface over three TWS API clients, so one conformance suite drives them all.

* ``ib_async`` 2.1 (what the bridge uses) and ``ib_insync`` 0.9.86 (its ancestor, still
  widely used): the same asyncio API, one adapter class over either module;
* IB's official ``ibapi`` (PyPI ``ibapi-stable``): threads and callbacks; its adapter runs
  the client's reader loop in a thread and the test polls what the callbacks recorded.

Every adapter returns plain values (tuples of str/float/int), never a client's own types,
so the checks in test_conformance.py read the same for every client.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

CLIENT_NAMES = ("ib_async", "ib_insync", "ibapi")


class ClientRefused(Exception):
    """The request ended in an error from the server (or the client library itself)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Details:
    con_id: int
    primary_exchange: str
    stock_type: str
    min_tick: float
    time_zone: str
    trading_hours: str
    liquid_hours: str


@dataclass(frozen=True)
class Instrument:
    """What a client asks for: a stock (``Instrument("STK", "EXS1", "SMART", "EUR")``) or an
    FX pair (``Instrument("CASH", "EUR", "IDEALPRO", "USD")``, IB's EUR.USD)."""

    sec_type: str
    symbol: str
    exchange: str = "SMART"
    currency: str = "USD"


def instrument(what: str | Instrument) -> Instrument:
    """A plain symbol is a US stock, as every check before several currencies used."""
    return Instrument("STK", what) if isinstance(what, str) else what


Symbol = str | Instrument


@dataclass(frozen=True)
class Fill:
    exec_id: str
    side: str
    shares: float
    price: float
    order_ref: str
    commission: float | None
    exchange: str = ""
    commission_currency: str = ""


@dataclass
class Order:
    """What a client knows of one of its orders."""

    order_id: int
    perm_id: int = 0
    status: str = ""
    errors: list[int] = field(default_factory=list)
    fills: dict[str, Fill] = field(default_factory=dict)


class Client(Protocol):
    name: str

    async def connect(self, port: int, client_id: int) -> None: ...
    def disconnect(self) -> None: ...
    def server_version(self) -> int: ...
    def managed_accounts(self) -> list[str]: ...
    async def positions(self) -> list[tuple[str, str, int, float, float]]: ...
    async def contract_details(self, symbol: Symbol) -> Details: ...
    async def snapshot(self, symbol: Symbol) -> tuple[float, float, float, float]: ...
    async def place(
        self, symbol: Symbol, action: str, qty: float, account: str, order_ref: str,
        limit: float | None = None, tif: str = "DAY",
    ) -> Order: ...  # fmt: skip
    async def cancel(self, order: Order) -> None: ...
    async def all_open_orders(self) -> list[tuple[int, str, str]]: ...
    async def completed_orders(self) -> list[tuple[int, str, str]]: ...
    async def executions(self, symbol: str = "") -> list[tuple[str, str, str]]: ...
    async def account_summary(self, tags: str) -> list[tuple[str, str, str, str]]: ...
    async def pnl_single(self, account: str, con_id: int) -> tuple[float, float, float]: ...
    def errors(self) -> list[tuple[int, int]]: ...


async def eventually(probe: Callable[[], Any], within: float = 5.0, what: str = "it") -> Any:
    """Poll until probe() is truthy; AssertionError naming ``what`` after the deadline."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


# ------------------------------------------------------- ib_async and ib_insync
class AsyncIBClient:
    """ib_async or ib_insync: the same IB class, module by name."""

    def __init__(self, module: str) -> None:
        self.name = module
        self.m: ModuleType = importlib.import_module(module)
        self.ib = self.m.IB()
        self.ib.RaiseRequestErrors = True
        self._errors: list[tuple[int, int]] = []
        self.ib.errorEvent += lambda req_id, code, msg, contract: self._errors.append(
            (req_id, code)
        )
        self._orders: dict[int, Order] = {}

    async def connect(self, port: int, client_id: int) -> None:
        await self.ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=5)

    def disconnect(self) -> None:
        self.ib.disconnect()

    def server_version(self) -> int:
        return int(self.ib.client.serverVersion())

    def managed_accounts(self) -> list[str]:
        return list(self.ib.managedAccounts())

    def errors(self) -> list[tuple[int, int]]:
        return list(self._errors)

    def _unqualified(self, symbol: Symbol) -> Any:
        i = instrument(symbol)
        return self.m.Contract(
            secType=i.sec_type, symbol=i.symbol, exchange=i.exchange, currency=i.currency
        )

    async def _contract(self, symbol: Symbol) -> Any:
        [contract] = await self.ib.qualifyContractsAsync(self._unqualified(symbol))
        return contract

    async def positions(self) -> list[tuple[str, str, int, float, float]]:
        return [
            (p.account, p.contract.symbol, p.contract.conId, p.position, p.avgCost)
            for p in self.ib.positions()
        ]

    async def contract_details(self, symbol: Symbol) -> Details:
        try:
            [d] = await self.ib.reqContractDetailsAsync(self._unqualified(symbol))
        except self.m.RequestError as exc:
            raise ClientRefused(exc.code, exc.message) from None
        return Details(
            d.contract.conId, d.contract.primaryExchange, d.stockType, d.minTick,
            d.timeZoneId, d.tradingHours, d.liquidHours,
        )  # fmt: skip

    async def snapshot(self, symbol: Symbol) -> tuple[float, float, float, float]:
        [t] = await self.ib.reqTickersAsync(await self._contract(symbol))
        return t.bid, t.ask, t.last, t.close

    async def place(
        self, symbol: Symbol, action: str, qty: float, account: str, order_ref: str,
        limit: float | None = None, tif: str = "DAY",
    ) -> Order:  # fmt: skip
        contract = await self._contract(symbol)
        kw = {"account": account, "orderRef": order_ref, "tif": tif}
        o = (
            self.m.MarketOrder(action, qty, **kw)
            if limit is None
            else self.m.LimitOrder(action, qty, limit, **kw)
        )
        trade = self.ib.placeOrder(contract, o)
        order = Order(trade.order.orderId)

        def update(*_: Any) -> None:
            order.perm_id = trade.order.permId
            order.status = trade.orderStatus.status
            order.errors = [e.errorCode for e in trade.log if e.errorCode]
            for f in trade.fills:
                c = f.commissionReport
                order.fills[f.execution.execId] = Fill(
                    f.execution.execId, f.execution.side, f.execution.shares,
                    f.execution.price, f.execution.orderRef, c.commission if c.execId else None,
                    f.execution.exchange, c.currency if c.execId else "",
                )  # fmt: skip

        trade.statusEvent += update
        trade.fillEvent += update
        trade.commissionReportEvent += update
        self.ib.errorEvent += lambda req_id, *_: update() if req_id == order.order_id else None
        update()
        self._orders[order.order_id] = order
        return order

    async def cancel(self, order: Order) -> None:
        [trade] = [t for t in self.ib.trades() if t.order.orderId == order.order_id]
        self.ib.cancelOrder(trade.order)

    async def all_open_orders(self) -> list[tuple[int, str, str]]:
        trades = await self.ib.reqAllOpenOrdersAsync()
        return [(t.order.permId, t.order.orderRef, t.orderStatus.status) for t in trades]

    async def completed_orders(self) -> list[tuple[int, str, str]]:
        trades = await self.ib.reqCompletedOrdersAsync(apiOnly=True)
        return [(t.order.permId, t.order.orderRef, t.orderStatus.status) for t in trades]

    async def executions(self, symbol: str = "") -> list[tuple[str, str, str]]:
        fills = await self.ib.reqExecutionsAsync(self.m.ExecutionFilter(symbol=symbol))
        return [(f.execution.execId, f.execution.orderRef, f.execution.side) for f in fills]

    async def account_summary(self, tags: str) -> list[tuple[str, str, str, str]]:
        rows: list[tuple[str, str, str, str]] = []
        done = asyncio.Event()
        req_id = self.ib.client.getReqId()
        w = self.ib.wrapper

        def on_row(r: int, account: str, tag: str, value: str, ccy: str) -> None:
            if r == req_id:
                rows.append((account, tag, value, ccy))

        def on_end(r: int) -> None:
            if r == req_id:
                done.set()

        # The IB classes keep one summary for all tags; listen to the raw callbacks instead.
        original_row, original_end = w.accountSummary, w.accountSummaryEnd
        w.accountSummary = lambda *a: (on_row(*a), original_row(*a))
        w.accountSummaryEnd = lambda r: (on_end(r), original_end(r))
        try:
            self.ib.client.reqAccountSummary(req_id, "All", tags)
            await asyncio.wait_for(done.wait(), 5)
        finally:
            w.accountSummary, w.accountSummaryEnd = original_row, original_end
        self.ib.client.cancelAccountSummary(req_id)
        return rows

    async def pnl_single(self, account: str, con_id: int) -> tuple[float, float, float]:
        p = self.ib.reqPnLSingle(account, "", con_id)
        await eventually(lambda: p.position == p.position and p.value > 0, what="pnlSingle")
        return p.position, p.dailyPnL, p.value


# --------------------------------------------------------------------- ibapi
class IbapiClient:
    """IB's official client: EClient + EWrapper, its reader loop in a thread."""

    name = "ibapi"

    def __init__(self) -> None:
        from ibapi.client import EClient
        from ibapi.wrapper import EWrapper

        self._lock = threading.Lock()
        self._callbacks: dict[str, Callable[..., None]] = {
            "nextValidId": self._on_next_id,
            "managedAccounts": self._on_accounts,
            "error": self._on_error,
            "position": lambda a, c, q, cost: self._add("positions", (a, c.symbol, c.conId, float(q), cost)),
            "positionEnd": lambda: self._end("positions"),
            "contractDetails": lambda r, d: self._add(r, d),
            "contractDetailsEnd": lambda r: self._end(r),
            "tickPrice": lambda r, t, p, a: self._add(r, (t, p)),
            "tickSnapshotEnd": lambda r: self._end(r),
            "orderStatus": self._on_status,
            "openOrder": self._on_open_order,
            "openOrderEnd": lambda: self._end("open"),
            "completedOrder": lambda c, o, s: self._add("completed", (o.permId, o.orderRef, s.status)),
            "completedOrdersEnd": lambda: self._end("completed"),
            "execDetails": self._on_exec,
            "execDetailsEnd": lambda r: self._end(r),
            "commissionAndFeesReport": self._on_commission,
            "accountSummary": lambda r, a, t, v, c: self._add(r, (a, t, v, c)),
            "accountSummaryEnd": lambda r: self._end(r),
            "pnlSingle": lambda r, pos, daily, u, re, val: self._add(r, (float(pos), daily, val)),
        }  # fmt: skip
        # The wrapper's callbacks, each forwarding to this adapter (called from the reader).
        methods: dict[str, Any] = {name: _forward(fn) for name, fn in self._callbacks.items()}
        methods["__init__"] = lambda app: EClient.__init__(app, app)
        self.app = type("App", (EWrapper, EClient), methods)()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._next_id = 0
        self._req = 9000
        self._accounts: list[str] = []
        self._errors: list[tuple[int, int]] = []
        self._rows: dict[object, list[Any]] = {}
        self._ended: set[object] = set()
        self._orders: dict[int, Order] = {}
        self._exec_orders: dict[str, int] = {}

    # callbacks (reader thread)
    def _add(self, key: object, row: Any) -> None:
        with self._lock:
            self._rows.setdefault(key, []).append(row)

    def _end(self, key: object) -> None:
        with self._lock:
            self._ended.add(key)

    def _on_next_id(self, order_id: int) -> None:
        self._next_id = max(self._next_id, order_id)

    def _on_accounts(self, accounts: str) -> None:
        self._accounts = [a for a in accounts.split(",") if a]

    def _on_error(self, req_id: int, _time: int, code: int, text: str, _json: str = "") -> None:
        with self._lock:
            self._errors.append((req_id, code))
            if req_id in self._orders and code < 2100:
                self._orders[req_id].errors.append(code)

    def _on_status(self, order_id: int, status: str, *rest: Any) -> None:
        if order_id in self._orders:
            self._orders[order_id].status = status
            self._orders[order_id].perm_id = int(rest[3])

    def _on_open_order(self, order_id: int, contract: Any, order: Any, state: Any) -> None:
        self._add("open", (order.permId, order.orderRef, state.status))
        if order_id in self._orders:
            self._orders[order_id].perm_id = order.permId

    def _on_exec(self, req_id: int, contract: Any, e: Any) -> None:
        self._add(req_id, (e.execId, e.orderRef, e.side))
        self._exec_orders[e.execId] = e.orderId
        o = self._orders.get(e.orderId)
        if o is not None and req_id == -1:
            o.fills[e.execId] = Fill(
                e.execId, e.side, float(e.shares), e.price, e.orderRef, None, e.exchange
            )

    def _on_commission(self, report: Any) -> None:
        o = self._orders.get(self._exec_orders.get(report.execId, -1))
        if o is not None and report.execId in o.fills:
            f = o.fills[report.execId]
            o.fills[report.execId] = Fill(
                f.exec_id, f.side, f.shares, f.price, f.order_ref, report.commissionAndFees,
                f.exchange, report.currency,
            )  # fmt: skip

    # requests
    def _new_req(self) -> int:
        self._req += 1
        return self._req

    async def _collect(self, key: object, send: Callable[[], None]) -> list[Any]:
        with self._lock:
            self._rows.pop(key, None)
            self._ended.discard(key)
        send()
        await eventually(
            lambda: key in self._ended or any(r == key for r, _c in self._errors),
            what=f"the end of request {key}",
        )
        refused = [c for r, c in self._errors if r == key]
        if refused and key not in self._ended:
            raise ClientRefused(refused[0], "")
        with self._lock:
            return list(self._rows.get(key, []))

    async def connect(self, port: int, client_id: int) -> None:
        await asyncio.to_thread(self.app.connect, "127.0.0.1", port, client_id)
        self._thread = threading.Thread(target=self._read, daemon=True, name="ibapi-reader")
        self._thread.start()
        await eventually(lambda: self._next_id and self._accounts, what="nextValidId")
        await self._collect("positions", self.app.reqPositions)

    def _read(self) -> None:
        try:
            self.app.run()
        except TypeError:
            # ibapi 10.50's reader compares serverVersion() (None once disconnected) with
            # an int on its way out; only while we are disconnecting is that expected.
            if not self._closing:
                raise

    def disconnect(self) -> None:
        self._closing = True
        self.app.disconnect()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def server_version(self) -> int:
        return int(self.app.serverVersion())

    def managed_accounts(self) -> list[str]:
        return list(self._accounts)

    def errors(self) -> list[tuple[int, int]]:
        with self._lock:
            return list(self._errors)

    @staticmethod
    def _stock(symbol: Symbol) -> Any:
        from ibapi.contract import Contract

        i = instrument(symbol)
        c = Contract()
        c.symbol, c.secType, c.exchange, c.currency = i.symbol, i.sec_type, i.exchange, i.currency
        return c

    async def positions(self) -> list[tuple[str, str, int, float, float]]:
        with self._lock:
            return list(self._rows.get("positions", []))

    async def contract_details(self, symbol: Symbol) -> Details:
        req = self._new_req()
        [d] = await self._collect(
            req, lambda: self.app.reqContractDetails(req, self._stock(symbol))
        )
        return Details(
            d.contract.conId, d.contract.primaryExchange, d.stockType, d.minTick,
            d.timeZoneId, d.tradingHours, d.liquidHours,
        )  # fmt: skip

    async def snapshot(self, symbol: Symbol) -> tuple[float, float, float, float]:
        req = self._new_req()
        ticks = dict(
            await self._collect(
                req, lambda: self.app.reqMktData(req, self._stock(symbol), "", True, False, [])
            )
        )
        return ticks[1], ticks[2], ticks.get(4, math.nan), ticks[9]

    async def place(
        self, symbol: Symbol, action: str, qty: float, account: str, order_ref: str,
        limit: float | None = None, tif: str = "DAY",
    ) -> Order:  # fmt: skip
        from decimal import Decimal

        from ibapi.order import Order as IbOrder

        o = IbOrder()
        o.action, o.totalQuantity, o.account, o.orderRef, o.tif = (
            action, Decimal(str(qty)), account, order_ref, tif
        )  # fmt: skip
        o.orderType = "MKT" if limit is None else "LMT"
        if limit is not None:
            o.lmtPrice = limit
        order_id = self._next_id
        self._next_id += 1
        order = Order(order_id)
        self._orders[order_id] = order
        try:
            self.app.placeOrder(order_id, self._stock(symbol), o)
        except Exception as exc:  # ibapi refuses some strings itself (579)
            code = getattr(exc, "code", 0)
            raise ClientRefused(int(code), str(exc)) from None
        return order

    async def cancel(self, order: Order) -> None:
        from ibapi.order_cancel import OrderCancel

        self.app.cancelOrder(order.order_id, OrderCancel())

    async def all_open_orders(self) -> list[tuple[int, str, str]]:
        return await self._collect("open", self.app.reqAllOpenOrders)

    async def completed_orders(self) -> list[tuple[int, str, str]]:
        return await self._collect("completed", lambda: self.app.reqCompletedOrders(True))

    async def executions(self, symbol: str = "") -> list[tuple[str, str, str]]:
        from ibapi.execution import ExecutionFilter

        f = ExecutionFilter()
        f.symbol = symbol
        req = self._new_req()
        return await self._collect(req, lambda: self.app.reqExecutions(req, f))

    async def account_summary(self, tags: str) -> list[tuple[str, str, str, str]]:
        req = self._new_req()
        rows = await self._collect(req, lambda: self.app.reqAccountSummary(req, "All", tags))
        self.app.cancelAccountSummary(req)
        return rows

    async def pnl_single(self, account: str, con_id: int) -> tuple[float, float, float]:
        req = self._new_req()
        self.app.reqPnLSingle(req, account, "", con_id)
        rows = await eventually(lambda: self._rows.get(req), what="pnlSingle")
        return tuple(rows[-1])  # type: ignore[return-value]


def _forward(fn: Callable[..., None]) -> Callable[..., None]:
    """A wrapper method that hands its arguments to ``fn`` (without the wrapper itself)."""
    return lambda _app, *args: fn(*args)


def make_client(name: str) -> Client:
    """A fresh, unconnected client adapter."""
    return IbapiClient() if name == "ibapi" else AsyncIBClient(name)
