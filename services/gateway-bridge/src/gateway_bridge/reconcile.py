"""Reconciliation: re-read IB's truth after every (re)connect, before any order command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ib_async import IB

from gateway_bridge.accounts import AccountSubscriptions
from gateway_bridge.orders import OrderDesk
from gateway_bridge.state import StateFeed
from shared.contracts.gateway import ReconciliationCompleted

log = logging.getLogger(__name__)


async def reconcile(
    ib: IB,
    desk: OrderDesk,
    state: StateFeed,
    subscriptions: AccountSubscriptions,
    accounts: Callable[[], frozenset[str]],
    timeout_s: float,
    source: str = "gateway-bridge",
) -> ReconciliationCompleted:
    """Positions, account values, open and completed orders, executions; then snapshots.

    Account values of accounts the connect sync did not cover are subscribed and awaited
    before the snapshots (see ``accounts.py``).

    Orders of earlier runs are matched by ``orderRef``; fills not yet in the journal are
    published once (deduplicated by ``exec_id``).
    """
    desk.on_connected()
    await asyncio.wait_for(ib.reqPositionsAsync(), timeout_s)
    open_trades = await asyncio.wait_for(ib.reqAllOpenOrdersAsync(), timeout_s)
    completed = await asyncio.wait_for(ib.reqCompletedOrdersAsync(False), timeout_s)
    # Executions after the orders, so each fill finds its order (as ib_async's own sync does).
    fills = await asyncio.wait_for(ib.reqExecutionsAsync(), timeout_s)
    adopted, recovered = desk.reconcile([*open_trades, *completed], fills)
    await subscriptions.subscribe(accounts())
    state.open_market_data()
    # Not forget_subscriptions() here: the disconnect already dropped the tickers, and while
    # connected (1101/1102) forgetting them would leak their market data lines at IB.
    await state.publish_snapshots()
    state.resubscribe_soon()
    served = tuple(sorted(accounts()))
    log.info(
        "reconciled %s: %d open orders, %d adopted, %d fills recovered",
        ", ".join(served),
        len(open_trades),
        adopted,
        recovered,
    )
    return ReconciliationCompleted(
        source=source,
        accounts=served,
        open_orders=len(open_trades),
        adopted_orders=adopted,
        recovered_fills=recovered,
    )
