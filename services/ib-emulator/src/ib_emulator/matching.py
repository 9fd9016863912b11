"""The matching engine of the paper broker: validates orders, matches them, books fills.

Pure and synchronous, deterministic given the scenario, the fault state and the clock. It
returns events; the server turns them into TWS messages for the right clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from . import commissions
from .accounts import ZERO, Account, Prices
from .faults import FaultState
from .fx import Rates
from .hours import FX_SESSION, FX_ZONE, MarketHours
from .limits import Limits
from .market import Market, Quote
from .orders import ContractQuery, Execution, OrderRecord, OrderRequest
from .scenario import InstrumentSpec, Scenario

SUPPORTED_ORDER_TYPES = frozenset({"MKT", "LMT", "MIDPRICE"})
SUPPORTED_TIFS = frozenset({"DAY", "GTC", "IOC"})
ADAPTIVE_URGENCY = {"Patient": Decimal(0), "Normal": Decimal("0.5"), "Urgent": Decimal(1)}
FRACTION_STEP = Decimal("0.0001")
# Routes an FX order can name: IDEALPRO (IB's FX venue), or FXCONV, IB's currency
# conversion route, which converts cash without opening an FX-portfolio position.
FX_ROUTES = frozenset({"", "IDEALPRO", "FXCONV"})


class OrderError(Exception):
    """IB refuses the request outright: an error message with this code and text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OrderChanged:
    """The order's status changed (or it is new): send openOrder and orderStatus."""

    order: OrderRecord


@dataclass(frozen=True)
class OrderExecuted:
    """An execution happened: send execDetails, orderStatus, commissionReport."""

    order: OrderRecord
    execution: Execution


@dataclass(frozen=True)
class ErrorReported:
    """The order was refused after it was recorded: send an error with its id."""

    order: OrderRecord
    code: int
    message: str


OrderEvent = OrderChanged | OrderExecuted | ErrorReported


@dataclass(frozen=True)
class RefusedOrder:
    """An order refused before it was booked (unknown contract, bad size, ...)."""

    request: OrderRequest
    received_at: datetime
    code: int
    message: str

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary for the admin API, shaped like OrderRecord.to_json."""
        r = self.request
        return {
            "account": r.account,
            "order_ref": r.order_ref,
            "order_id": r.order_id,
            "client_id": r.client_id,
            "perm_id": None,
            "contract": {"symbol": r.contract.symbol, "con_id": r.contract.con_id},
            "side": r.action,
            "quantity": str(r.total_quantity),
            "order_type": r.order_type,
            "status": "Rejected",
            "error_code": self.code,
            "reject_reason": self.message,
            "received_at": self.received_at.isoformat(),
            "fills": [],
        }


@dataclass(frozen=True)
class WhatIf:
    """Margin and commission impact of a hypothetical order (strings, as IB sends them)."""

    init_margin_before: Decimal
    maint_margin_before: Decimal
    equity_with_loan_before: Decimal
    init_margin_after: Decimal
    maint_margin_after: Decimal
    equity_with_loan_after: Decimal
    commission: Decimal
    currency: str


def _q(v: Decimal, step: Decimal) -> Decimal:
    return (v / step).to_integral_value(rounding=ROUND_HALF_UP) * step


class MatchingEngine:
    """Accounts, orders and matching for one emulated IB login."""

    def __init__(
        self,
        scenario: Scenario,
        market: Market,
        faults: FaultState,
        clock: Callable[[], datetime],
        limits: Limits | None = None,
    ) -> None:
        self.scenario = scenario
        self.market = market
        self.faults = faults
        self.clock = clock
        self.limits = limits or Limits()
        self.hours = MarketHours(scenario.market_hours)  # US listings (and the default)
        self._calendars = {
            name: MarketHours.for_exchange(ex.timezone, ex.hours)
            for name, ex in scenario.exchanges.items()
        }
        if "IDEALPRO" not in self._calendars and scenario.market_hours is not None:
            self._calendars["IDEALPRO"] = MarketHours.for_exchange(FX_ZONE, FX_SESSION)
        self._instruments = {i.symbol: i for i in scenario.instruments}
        self.rates = Rates(scenario.pairs(), market.mid)
        self.prices = Prices(mark=self.mark, currency=self.currency_of, rate=self.rates.rate)
        self.accounts: dict[str, Account] = {a.id: Account.from_spec(a) for a in scenario.accounts}
        self.orders: list[OrderRecord] = []
        self.refused: list[RefusedOrder] = []
        self._by_key: dict[tuple[int, int], OrderRecord] = {}
        self._max_order_id: dict[int, int] = {}
        self._next_perm_id = 1_100_000_000 + int(clock().timestamp()) % 1_000_000 * 100
        self._exec_seq = 0xE0D5
        for acct in self.accounts.values():
            acct.start_session(self.prices)

    # ----------------------------------------------------------------- lookups
    def mark(self, symbol: str) -> Decimal:
        """The price positions are valued at, per unit in the instrument's currency: the
        last trade (pence converted to pounds), or an FX pair's midpoint."""
        inst = self._instruments[symbol]
        if inst.sec_type == "CASH":
            return self.market.mid(symbol)
        last = self.market.quote(symbol).last
        return last if inst.price_magnifier == 1 else last / inst.price_magnifier

    def currency_of(self, symbol: str) -> str:
        """The currency a symbol's amounts are in (an FX pair's: its quote currency)."""
        return self._instruments[symbol].currency

    def hours_for(self, inst: InstrumentSpec) -> MarketHours:
        """The calendar of an instrument's exchange (the US rules when none is listed)."""
        return self._calendars.get(inst.primary_exchange, self.hours)

    def find_instruments(self, q: ContractQuery) -> list[InstrumentSpec]:
        """Instruments matching a client's contract, as reqContractDetails would."""
        found = []
        for inst in self.scenario.instruments:
            if q.con_id and q.con_id != inst.con_id:
                continue
            if q.symbol and q.symbol.upper() != inst.ib_symbol:
                continue
            if q.local_symbol and q.local_symbol != inst.local_symbol:
                continue
            if not q.con_id and not q.symbol and not q.local_symbol:
                continue
            if q.sec_type and q.sec_type != inst.sec_type:
                continue
            if q.currency and q.currency != inst.currency:
                continue
            routes = FX_ROUTES if inst.sec_type == "CASH" else ("SMART", inst.primary_exchange)
            if q.exchange and q.exchange not in routes:
                continue
            if q.primary_exchange and q.primary_exchange != inst.primary_exchange:
                continue
            found.append(inst)
        return found

    def order(self, client_id: int, order_id: int) -> OrderRecord | None:
        """An order by the client's key."""
        return self._by_key.get((client_id, order_id))

    def next_valid_id(self, client_id: int) -> int:
        """Above every order id this client id has used (IB tracks ids per client id)."""
        return self._max_order_id.get(client_id, 0) + 1

    def is_rth(self, inst: InstrumentSpec, now: datetime) -> bool:
        """Whether the instrument's regular trading hours are on."""
        return self.hours_for(inst).is_regular(now)

    # ------------------------------------------------------------- validation
    def resolve(self, req: OrderRequest) -> tuple[InstrumentSpec, Account]:
        """The instrument and account of an order, or OrderError as IB would refuse it."""
        if req.unsupported:
            raise OrderError(387, f"Unsupported order: {req.unsupported}")
        matches = self.find_instruments(req.contract)
        if len(matches) != 1:
            raise OrderError(200, "No security definition has been found for the request")
        inst = matches[0]
        acct = self._account_of(req)
        if req.action not in ("BUY", "SELL"):
            raise OrderError(201, f"Order rejected - reason:Invalid action '{req.action}'")
        if req.order_type not in SUPPORTED_ORDER_TYPES:
            raise OrderError(387, "Unsupported order type for this exchange and security type.")
        self._check_size(req, inst)
        self._check_price_and_tif(req, inst)
        self._check_algo(req)
        return inst, acct

    def _account_of(self, req: OrderRequest) -> Account:
        if req.account:
            acct = self.accounts.get(req.account)
            if acct is None:
                raise OrderError(
                    201, f"Order rejected - reason:Account {req.account} is not managed here"
                )
            return acct
        if len(self.accounts) == 1:
            return next(iter(self.accounts.values()))
        raise OrderError(
            436, "You must specify an allocation (either a single account, group, or profile)."
        )

    def _check_size(self, req: OrderRequest, inst: InstrumentSpec) -> None:
        qty = req.total_quantity
        if qty <= 0:
            raise OrderError(434, "The order size cannot be zero")
        whole = (qty / inst.size_increment) == (qty / inst.size_increment).to_integral_value()
        if whole:
            return
        fractional_ok = inst.fractional and self.scenario.fills.allow_fractional
        if not fractional_ok or qty % FRACTION_STEP != 0:
            raise OrderError(10243, "Fractional-sized order cannot be placed for this contract.")

    @staticmethod
    def _check_price_and_tif(req: OrderRequest, inst: InstrumentSpec) -> None:
        if req.tif not in SUPPORTED_TIFS:
            raise OrderError(
                201, f"Order rejected - reason:Time in force {req.tif!r} not supported"
            )
        if req.order_type == "LMT" and (req.lmt_price is None or req.lmt_price <= 0):
            raise OrderError(201, "Order rejected - reason:A limit price is required")
        if req.lmt_price is not None and req.lmt_price % inst.min_tick != 0:
            raise OrderError(
                110, "The price does not conform to the minimum price variation for this contract."
            )

    @staticmethod
    def _check_algo(req: OrderRequest) -> None:
        if not req.algo_strategy:
            return
        if req.algo_strategy != "Adaptive" or req.order_type not in ("MKT", "LMT"):
            raise OrderError(
                201,
                f"Order rejected - reason:Algo {req.algo_strategy!r} is not supported "
                f"for {req.order_type} orders",
            )
        priority = dict(req.algo_params).get("adaptivePriority", "Normal")
        if priority not in ADAPTIVE_URGENCY:
            raise OrderError(201, f"Order rejected - reason:Invalid adaptivePriority {priority!r}")

    def _check_working_orders(self, req: OrderRequest, inst: InstrumentSpec, acct: Account) -> None:
        """IB keeps at most N working orders per contract, side and account (20 at IB)."""
        limit = self.limits.orders_per_contract_side
        if limit is None:
            return
        working = sum(
            1
            for o in self.open_orders()
            if o.account == acct.id
            and o.instrument.con_id == inst.con_id
            and o.request.action == req.action
        )
        if working >= limit:
            raise OrderError(
                201,
                f"Order rejected - reason:Exceeds the maximum of {limit} working orders on "
                f"one side of {inst.symbol} in account {acct.id}",
            )

    def _check_funds(self, req: OrderRequest, inst: InstrumentSpec, acct: Account) -> None:
        q = self.market.quote(inst.symbol)
        if inst.sec_type == "CASH":
            self._check_fx_funds(req, inst, acct, q)
            return
        if req.action == "SELL":
            held = acct.positions.get(inst.symbol)
            if acct.account_type == "cash" and (held is None or held.quantity < req.total_quantity):
                raise OrderError(
                    201, "Order rejected - reason:Short sales are not allowed in a cash account"
                )
            return
        price = req.lmt_price if req.lmt_price is not None and req.order_type == "LMT" else q.ask
        commission, _ccy = self._commission_for(inst, acct, req.total_quantity, price)
        cost = price / inst.price_magnifier * req.total_quantity + commission
        value = self.rates.convert(cost, inst.currency, acct.base_currency)
        power = acct.buying_power(self.prices)
        base = acct.base_currency
        if value > power:
            elv = acct.net_liquidation(self.prices)
            raise OrderError(
                201,
                "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE "
                f"DESIRED POSITION YOUR EQUITY WITH LOAN VALUE [{elv:.2f} {base}] MUST EXCEED "
                f"THE INITIAL MARGIN [{value:.2f} {base}]",
            )
        if acct.account_type == "cash":
            self._check_cash_balance(acct, inst.currency, cost)

    @staticmethod
    def _check_cash_balance(acct: Account, ccy: str, needed: Decimal) -> None:
        """A cash account pays in the currency itself: IB rejects an order its balance in
        that currency does not cover (a short balance would be a loan; ibkr.info/node/87)."""
        held = acct.cash.get(ccy, ZERO)
        if needed > held:
            raise OrderError(
                201,
                f"Order rejected - reason:Cash account {acct.id} holds {held:.2f} {ccy}, "
                f"less than the {needed:.2f} {ccy} this order needs; convert currency first",
            )

    def _check_fx_funds(
        self, req: OrderRequest, inst: InstrumentSpec, acct: Account, q: Quote
    ) -> None:
        """A margin account may borrow one currency against another; a cash account must
        hold what it sells (and the commission, charged in its base currency)."""
        if acct.account_type != "cash":
            return
        if req.action == "BUY":
            price = req.lmt_price if req.order_type == "LMT" and req.lmt_price else q.ask
            needs = {inst.quote_currency: price * req.total_quantity}
        else:
            needs = {inst.base_currency: req.total_quantity}
        commission, ccy = self._commission_for(inst, acct, req.total_quantity, q.mid)
        needs[ccy] = needs.get(ccy, ZERO) + commission
        for ccy, amount in needs.items():
            self._check_cash_balance(acct, ccy, amount)

    # ----------------------------------------------------------------- orders
    def _new_perm_id(self) -> int:
        self._next_perm_id += 1
        return self._next_perm_id

    def _note_order_id(self, client_id: int, order_id: int) -> None:
        if order_id > self._max_order_id.get(client_id, 0):
            self._max_order_id[client_id] = order_id

    def sized_by_cash(self, req: OrderRequest) -> OrderRequest:
        """An FX order given as ``cashQty`` (an amount of the quote currency, IB's "Forex
        orders can be placed in denomination of second currency"): its size in the base
        currency at the limit, or at the touch, in whole size increments."""
        if req.cash_qty is None or req.total_quantity != 0:
            return req
        matches = self.find_instruments(req.contract)
        if len(matches) != 1 or matches[0].sec_type != "CASH":
            return req
        inst = matches[0]
        q = self.market.quote(inst.symbol)
        price = req.lmt_price or (q.ask if req.action == "BUY" else q.bid)
        units = (req.cash_qty / price / inst.size_increment).to_integral_value(ROUND_FLOOR)
        return replace(req, total_quantity=units * inst.size_increment)

    def _is_odd_lot(self, inst: InstrumentSpec, quantity: Decimal) -> bool:
        """Whether an FX order is below IDEALPRO's minimum (USD 25,000 or equivalent)."""
        if inst.sec_type != "CASH":
            return False
        usd = self.rates.convert(quantity, inst.base_currency, "USD")
        return usd < self.scenario.fx.idealpro_minimum_usd

    def place(self, req: OrderRequest) -> list[OrderEvent]:
        """Accept, modify or refuse an order. Raises OrderError when nothing is recorded."""
        req = self.sized_by_cash(req)
        existing = self._by_key.get((req.client_id, req.order_id))
        if existing is not None:
            return self._modify(existing, req)
        if req.order_id <= 0:
            raise OrderError(103, f"Duplicate order id {req.order_id}")
        self._note_order_id(req.client_id, req.order_id)
        try:
            inst, acct = self.resolve(req)
            self._check_working_orders(req, inst, acct)
        except OrderError as exc:
            self.refused.append(RefusedOrder(req, self.clock(), exc.code, exc.message))
            raise
        now = self.clock()
        record = OrderRecord(
            request=req,
            instrument=inst,
            perm_id=self._new_perm_id(),
            account=acct.id,
            status="PreSubmitted",
            received_at=now,
            # A delayed acknowledgement must not be overtaken by its own fill.
            fillable_at=now
            + timedelta(seconds=self.scenario.fills.delay_seconds + self.faults.ack_delay_seconds),
            odd_lot=self._is_odd_lot(inst, req.total_quantity),
        )
        rejection = self.faults.take_rejection()
        try:
            if rejection is None:
                self._check_funds(req, inst, acct)
        except OrderError as exc:
            rejection = ("reject", exc.code, exc.message)
        self._remember(record)
        if rejection is not None:
            mode, code, reason = rejection
            message = (
                reason
                if reason.startswith("Order rejected") or code != 201
                else (f"Order rejected - reason:{reason}")
            )
            record.reject_reason = message
            record.completed_time = now
            if mode == "inactive":
                record.status = "Inactive"
                record.completed_status = message
                return [OrderChanged(record), ErrorReported(record, code, message)]
            record.status = "Rejected"
            return [ErrorReported(record, code, message)]
        if self.is_rth(inst, now) or req.outside_rth:
            record.status = "Submitted"
        else:
            record.why_held = ""
        return [OrderChanged(record)]

    def _remember(self, record: OrderRecord) -> None:
        self.orders.append(record)
        self._by_key[(record.client_id, record.order_id)] = record

    def _modify(self, record: OrderRecord, req: OrderRequest) -> list[OrderEvent]:
        if record.is_done or record.status == "Rejected":
            raise OrderError(103, f"Duplicate order id {req.order_id}")
        if req.total_quantity < record.filled:
            raise OrderError(
                201, "Order rejected - reason:Quantity is below what has already filled"
            )
        probe = replace(req, account=req.account or record.account)
        inst, _acct = self.resolve(probe)
        record.request = replace(probe, client_id=record.client_id)
        record.odd_lot = self._is_odd_lot(inst, probe.total_quantity)
        return [OrderChanged(record)]

    def cancel(self, client_id: int, order_id: int) -> list[OrderEvent]:
        """Cancel an open order of this client id."""
        record = self._by_key.get((client_id, order_id))
        if record is None or record.status == "Rejected":
            raise OrderError(10147, f"OrderId {order_id} that needs to be cancelled is not found.")
        if record.is_done:
            raise OrderError(
                10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {record.status}.",
            )
        return self._cancel(record, "")

    def _cancel(self, record: OrderRecord, reason: str) -> list[OrderEvent]:
        record.status = "Cancelled"
        record.completed_time = self.clock()
        record.completed_status = reason or "Cancelled by Trader"
        return [
            OrderChanged(record),
            ErrorReported(record, 202, f"Order Canceled - reason:{reason}"),
        ]

    def cancel_all(self) -> list[OrderEvent]:
        """reqGlobalCancel: cancel every open order of every client."""
        events: list[OrderEvent] = []
        for record in self.orders:
            if not record.is_done and record.status != "Rejected":
                events += self._cancel(record, "")
        return events

    def open_orders(self) -> list[OrderRecord]:
        """Orders still working."""
        return [o for o in self.orders if not o.is_done and o.status != "Rejected"]

    def completed_orders(self) -> list[OrderRecord]:
        """Orders that reached Filled, Cancelled or Inactive."""
        return [o for o in self.orders if o.is_done]

    # --------------------------------------------------------------- matching
    def _commission_for(
        self, inst: InstrumentSpec, acct: Account, cum_qty: Decimal, price: Decimal
    ) -> tuple[Decimal, str]:
        """(commission, currency) an order owes for ``cum_qty`` at ``price`` (quoted units)."""
        value = price * cum_qty / inst.price_magnifier
        return commissions.commission(
            self.scenario, self.rates, inst, cum_qty, value, acct.base_currency
        )

    def _fill_price(self, record: OrderRecord) -> Decimal | None:
        req = record.request
        q = self.market.quote(record.instrument.symbol)
        tick = record.instrument.min_tick
        buy = req.action == "BUY"
        if req.algo_strategy == "Adaptive":
            urgency = ADAPTIVE_URGENCY[dict(req.algo_params).get("adaptivePriority", "Normal")]
            half = (q.ask - q.bid) / 2
            px = q.mid + urgency * half if buy else q.mid - urgency * half
            px = _q(px, tick)
        elif req.order_type == "MIDPRICE":
            px = _q(q.mid, tick)
        else:
            px = q.ask if buy else q.bid
        if record.odd_lot and not req.algo_strategy and req.order_type != "MIDPRICE":
            px = self._odd_lot_price(px, buy, record.instrument.quote_tick)
        capped = req.lmt_price is not None and req.order_type in ("LMT", "MIDPRICE")
        if capped and ((buy and px > req.lmt_price) or (not buy and px < req.lmt_price)):  # type: ignore[operator]
            return None
        return px

    def _odd_lot_price(self, touch: Decimal, buy: bool, tick: Decimal) -> Decimal:
        """IB routes an IDEALPRO odd lot to its odd-lot venue, whose quotes are wider: the
        touch moved against the client by ``fx.odd_lot_markup_bps``, to a whole tick."""
        markup = touch * self.scenario.fx.odd_lot_markup_bps / Decimal(10_000)
        px = touch + markup if buy else touch - markup
        rounding = ROUND_CEILING if buy else ROUND_FLOOR
        return (px / tick).to_integral_value(rounding=rounding) * tick

    def _slice(self, record: OrderRecord) -> Decimal:
        fraction = self.faults.partial_fill_fraction or self.scenario.fills.partial_fill_fraction
        remaining = record.remaining
        if not fraction or fraction >= 1:
            return remaining
        inc = record.instrument.size_increment
        raw = record.request.total_quantity * Decimal(str(fraction))
        size = (raw / inc).to_integral_value(rounding=ROUND_CEILING) * inc
        return min(max(size, inc), remaining)

    def match(self) -> list[OrderEvent]:
        """Fill whatever can fill now; return the events."""
        if self.faults.hold_fills:
            return []
        now = self.clock()
        events: list[OrderEvent] = []
        for record in self.open_orders():
            rth = self.is_rth(record.instrument, now)
            if now < record.fillable_at or not (rth or record.request.outside_rth):
                continue
            price = self._fill_price(record)
            if price is not None:
                events += self._fill(record, self._slice(record), price, now)
            if record.request.tif == "IOC" and not record.is_done:
                events += self._cancel(record, "IOC order not fully filled")
        return events

    def _fill(
        self, record: OrderRecord, qty: Decimal, price: Decimal, now: datetime
    ) -> list[OrderEvent]:
        acct = self.accounts[record.account]
        inst = record.instrument
        cum = record.filled + qty
        due, commission_ccy = self._commission_for(inst, acct, cum, price)
        commission = max(due - record.commission_total, ZERO)
        signed = qty if record.request.action == "BUY" else -qty
        realized: Decimal | None
        if inst.sec_type == "CASH":
            route = record.request.contract.exchange
            realized = acct.apply_fx_fill(
                inst.symbol, signed, price, commission, commission_ccy,
                fx_position=route != "FXCONV",
            )  # fmt: skip
            exchange = self.scenario.fx.odd_lot_exchange if record.odd_lot else "IDEALPRO"
        else:
            before = acct.positions.get(inst.symbol)
            reduces = (
                before is not None
                and before.quantity != 0
                and (before.quantity > 0) != (signed > 0)
            )
            unit = price if inst.price_magnifier == 1 else price / inst.price_magnifier
            made = acct.apply_fill(inst.symbol, inst.currency, signed, unit, commission)
            realized = made if reduces else None
            exchange = inst.primary_exchange
        record.avg_fill_price = (record.avg_fill_price * record.filled + price * qty) / cum
        record.filled = cum
        record.last_fill_price = price
        record.commission_total += commission
        self._exec_seq += 1
        execution = Execution(
            exec_id=f"{self._exec_seq:08x}.{int(now.timestamp()):08x}.01.01",
            time=now,
            account=acct.id,
            side="BOT" if signed > 0 else "SLD",
            shares=qty,
            price=price,
            cum_qty=cum,
            avg_price=record.avg_fill_price,
            commission=commission,
            commission_currency=commission_ccy,
            realized_pnl=realized,
            exchange=exchange,
        )
        record.executions.append(execution)
        if record.filled >= record.request.total_quantity:
            record.status = "Filled"
            record.completed_time = now
            record.completed_status = "Filled Size: " + str(record.filled)
        else:
            record.status = "Submitted"
        return [OrderExecuted(record, execution)]

    # ---------------------------------------------------------------- what-if
    def what_if(self, req: OrderRequest) -> WhatIf:
        """Margin and commission impact of an order that is not placed."""
        req = self.sized_by_cash(req)
        inst, acct = self.resolve(req)
        q = self.market.quote(inst.symbol)
        price = q.ask if req.action == "BUY" else q.bid
        if req.order_type == "LMT" and req.lmt_price is not None:
            price = req.lmt_price
        commission, commission_ccy = self._commission_for(inst, acct, req.total_quantity, price)
        signed = req.total_quantity if req.action == "BUY" else -req.total_quantity
        base = acct.base_currency
        rate = self.rates.rate(inst.currency, base)
        gross_before = acct.gross_value(self.prices)
        mark = self.mark(inst.symbol)
        gross_after = gross_before
        if inst.sec_type != "CASH":  # cash is not a position: FX leaves the gross alone
            pos = acct.positions.get(inst.symbol)
            held = pos.quantity if pos else ZERO
            gross_after += (abs((held + signed) * mark) - abs(held * mark)) * rate
        init_b, maint_b = acct.margin(gross_before)
        init_a, maint_a = acct.margin(gross_after)
        elv_b = acct.net_liquidation(self.prices)
        # Trading at the touch costs the spread against the mark, plus commission.
        spread = abs(signed) * abs(price / inst.price_magnifier - mark) * rate
        elv_a = elv_b - self.rates.convert(commission, commission_ccy, base) - spread
        return WhatIf(init_b, maint_b, elv_b, init_a, maint_a, elv_a, commission, commission_ccy)
