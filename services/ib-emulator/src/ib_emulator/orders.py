"""Order and execution records: what a client asked for and what happened to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .scenario import InstrumentSpec

# Statuses after which IB no longer reports an order as open.
DONE = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


@dataclass(frozen=True)
class ContractQuery:
    """The contract fields a client sent (only the ones that identify a stock)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""


@dataclass(frozen=True)
class OrderRequest:
    """A placeOrder as received, reduced to the fields the emulator acts on."""

    order_id: int
    client_id: int
    contract: ContractQuery
    action: str
    total_quantity: Decimal
    order_type: str
    lmt_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    algo_strategy: str
    algo_params: tuple[tuple[str, str], ...]
    what_if: bool
    unsupported: str = ""  # why the request cannot be honoured (combo, conditions, ...)
    cash_qty: Decimal | None = None  # an FX order sized in its quote currency


@dataclass
class Execution:
    """One fill of one order."""

    exec_id: str
    time: datetime
    account: str
    side: str  # BOT / SLD, as IB reports executions
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    commission: Decimal
    commission_currency: str
    realized_pnl: Decimal | None  # None for opening fills (IB sends an unset double)
    exchange: str = ""  # where it executed (IDEALFX for an IDEALPRO odd lot)


@dataclass
class OrderRecord:
    """An order the emulator received, with its life so far."""

    request: OrderRequest
    instrument: InstrumentSpec
    perm_id: int
    account: str
    status: str
    received_at: datetime
    fillable_at: datetime
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    commission_total: Decimal = Decimal(0)
    executions: list[Execution] = field(default_factory=list)
    completed_time: datetime | None = None
    completed_status: str = ""
    why_held: str = ""
    reject_reason: str = ""
    odd_lot: bool = False  # an FX order below IDEALPRO's minimum (IB's odd-lot venue)

    @property
    def order_id(self) -> int:
        """The client's order id."""
        return self.request.order_id

    @property
    def client_id(self) -> int:
        """The client id that placed the order."""
        return self.request.client_id

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill (zero once done)."""
        if self.status in DONE:
            return Decimal(0)
        return self.request.total_quantity - self.filled

    @property
    def is_done(self) -> bool:
        """Whether the order has reached a final status."""
        return self.status in DONE

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary for the admin API."""
        r = self.request
        return {
            "account": self.account,
            "order_ref": r.order_ref,
            "order_id": r.order_id,
            "client_id": r.client_id,
            "perm_id": self.perm_id,
            "contract": {
                "symbol": self.instrument.symbol,
                "con_id": self.instrument.con_id,
                "sec_type": self.instrument.sec_type,
                "currency": self.instrument.currency,
            },
            "side": r.action,
            "quantity": str(r.total_quantity),
            "order_type": r.order_type,
            "lmt_price": None if r.lmt_price is None else str(r.lmt_price),
            "tif": r.tif,
            "outside_rth": r.outside_rth,
            "algo_strategy": r.algo_strategy,
            "algo_params": dict(r.algo_params),
            "status": self.status,
            "filled": str(self.filled),
            "remaining": str(self.remaining),
            "avg_fill_price": str(self.avg_fill_price),
            "reject_reason": self.reject_reason,
            "odd_lot": self.odd_lot,
            "received_at": self.received_at.isoformat(),
            "fills": [
                {
                    "exec_id": e.exec_id,
                    "time": e.time.isoformat(),
                    "shares": str(e.shares),
                    "price": str(e.price),
                    "commission": str(e.commission),
                    "commission_currency": e.commission_currency,
                    "exchange": e.exchange,
                    "realized_pnl": None if e.realized_pnl is None else str(e.realized_pnl),
                }
                for e in self.executions
            ],
        }
