"""Our SubmitOrder -> an ib_async Contract and Order (the one place IB order fields are set)."""

from __future__ import annotations

from ib_async import Contract, Order, Stock, TagValue

from shared.contracts.order_commands import OrderType, SubmitOrder
from shared.rebalancing.fx import fx_pair_of

FX_EXCHANGES = frozenset({"IDEALPRO", "FXCONV"})
"""Where FX pairs trade (IDEALPRO) or convert (FXCONV, IB's conversion route)."""

ORDER_TYPE: dict[OrderType, str] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.MIDPRICE: "MIDPRICE",
    # IB's Adaptive algo rides on a market order (or a limit order when a price is given).
    OrderType.ADAPTIVE: "MKT",
}


def contract_for(symbol: str, currency: str = "USD", exchange: str = "SMART") -> Contract:
    """Return an unqualified contract: an FX pair (``EUR.USD`` on IDEALPRO), else a stock."""
    pair = fx_pair_of(symbol)
    if pair is not None and exchange in FX_EXCHANGES:
        return Contract(secType="CASH", symbol=pair.base, currency=pair.quote, exchange=exchange)
    return Stock(symbol, exchange, currency)


def order_for(command: SubmitOrder, ib_order_id: int) -> Order:
    """Return the IB order for a validated command; ``orderRef`` carries client_order_id."""
    kind = ORDER_TYPE[command.order_type]
    if command.order_type == OrderType.ADAPTIVE and command.limit_price is not None:
        kind = "LMT"
    order = Order(
        orderId=ib_order_id,
        action=command.side.value,
        totalQuantity=float(command.quantity),
        orderType=kind,
        tif=command.time_in_force.value,
        outsideRth=command.outside_rth,
        orderRef=command.client_order_id,
        account=command.account_id,
        transmit=True,
    )
    if command.limit_price is not None and kind in ("LMT", "MIDPRICE"):
        order.lmtPrice = float(command.limit_price)
    if command.order_type == OrderType.ADAPTIVE:
        order.algoStrategy = "Adaptive"
        priority = command.adaptive_priority.value if command.adaptive_priority else "Normal"
        order.algoParams = [TagValue("adaptivePriority", priority)]
    return order
