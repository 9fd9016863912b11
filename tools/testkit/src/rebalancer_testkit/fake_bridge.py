"""A stand-in for the gateway-bridge: a real peer over Redis, with plain state.

It consumes ``rpc.portfolio.v1`` and ``commands.orders.v1`` in its own consumer group through
the service kit (as the bridge does) and answers as the bridge would:

* portfolio requests from ``views`` (a view built per request, so quotes are fresh), else from
  a simulated account in ``accounts``; ``unavailable`` accounts get a PortfolioUnavailable,
  ``silent`` ones nothing, ``raw_replies`` ones a raw JSON reply (e.g. holding a NaN);
* orders against ``accounts``: accepted, then filled at once at the account's price (with a
  commission report), unless ``hold_fills``; cancels of working orders are confirmed.

``requests`` and ``orders`` keep what arrived, in order. Tests that need the real bridge and
the IB emulator start those instead; this one answers on demand what they cannot be made to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from shared.contracts import catalogue
from shared.contracts.base import Message, Side, new_id, utc_now
from shared.contracts.gateway import ReconciliationCompleted
from shared.contracts.order_commands import CancelAllOrders, CancelOrder, SubmitOrder
from shared.contracts.orders import CommissionReported, OrderAccepted, OrderCancelled, OrderFilled
from shared.contracts.portfolio import GetPortfolio, PortfolioUnavailable, PortfolioView, Quote
from shared.contracts.positions import Position
from shared.kit.rpc import reply_key, send_reply
from shared.kit.service import Service
from shared.kit.settings import ServiceSettings

ViewFactory = Callable[[GetPortfolio], PortfolioView]


class FakeBridgeSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "fake-bridge"


@dataclass
class SimAccount:
    """A paper account: cash, positions and the price of every symbol it may trade."""

    cash: Decimal
    positions: dict[str, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)

    @property
    def net_liquidation(self) -> Decimal:
        held = sum((q * self.prices[s] for s, q in self.positions.items()), Decimal(0))
        return self.cash + held

    def view(self, request: GetPortfolio) -> PortfolioView:
        now = utc_now()
        symbols = set(self.positions) | set(request.symbols)
        return PortfolioView(
            source="fake-bridge",
            correlation_id=request.correlation_id,
            account_id=request.account_id,
            net_liquidation=self.net_liquidation,
            total_cash=self.cash,
            positions=tuple(
                Position(
                    symbol=s, quantity=q, average_cost=self.prices[s], market_price=self.prices[s]
                )
                for s, q in self.positions.items()
            ),
            quotes=tuple(
                Quote(
                    symbol=s, bid=self.prices[s], ask=self.prices[s], last=self.prices[s], as_of=now
                )
                for s in sorted(symbols)
                if s in self.prices
            ),
            positions_as_of=now,
            account_as_of=now,
        )


class FakeBridge:
    """Answers GetPortfolio and works SubmitOrder / CancelOrder from its tables."""

    def __init__(self, redis_url: str, name: str = "fake-bridge-1") -> None:
        self.service = Service(FakeBridgeSettings(redis_url=redis_url, consumer_name=name))
        self.service.subscribe(
            catalogue.PORTFOLIO_RPC, {GetPortfolio: self.on_get_portfolio}, polling_interval_ms=10
        )
        self.service.subscribe(
            catalogue.ORDER_COMMANDS,
            {
                SubmitOrder: self.on_submit_order,
                CancelOrder: self.on_cancel_order,
                CancelAllOrders: self.on_cancel_all_orders,
            },
            polling_interval_ms=10,
        )
        self.views: dict[str, ViewFactory] = {}
        self.accounts: dict[str, SimAccount] = {}
        self.unavailable: dict[str, str] = {}
        self.silent: set[str] = set()
        self.raw_replies: dict[str, str] = {}
        self.hold_fills = False
        self.commission_per_share = Decimal("0.005")
        self.requests: list[GetPortfolio] = []
        self.orders: list[Message] = []
        self.working: dict[str, SubmitOrder] = {}

    # ------------------------------------------------------------------ portfolio

    async def on_get_portfolio(self, request: GetPortfolio) -> None:
        self.requests.append(request)
        account = request.account_id
        if account in self.silent:
            return
        if account in self.raw_replies:
            key = reply_key(request)
            await self.service.redis.rpush(key, self.raw_replies[account])
            await self.service.redis.expire(key, 60)
            return
        reply: PortfolioView | PortfolioUnavailable
        if account in self.views:
            reply = self.views[account](request)
        elif account in self.accounts and account not in self.unavailable:
            reply = self.accounts[account].view(request)
        else:
            reply = PortfolioUnavailable(
                source="fake-bridge",
                correlation_id=request.correlation_id,
                account_id=account,
                code="unknown_account",
                reason=self.unavailable.get(account, f"{account} is not managed by this login"),
            )
        await send_reply(self.service.redis, request, reply)

    # ------------------------------------------------------------------ orders

    def _ids(self, command: SubmitOrder) -> dict[str, Any]:
        return {
            "source": "fake-bridge",
            "correlation_id": command.correlation_id,
            "client_order_id": command.client_order_id,
            "plan_id": command.plan_id,
            "account_id": command.account_id,
            "symbol": command.symbol,
        }

    async def on_submit_order(self, command: SubmitOrder) -> None:
        self.orders.append(command)
        if command.client_order_id in {
            o.client_order_id for o in self.orders[:-1] if isinstance(o, SubmitOrder)
        }:
            return  # once per client order id, as the real bridge's journal
        await self.service.publish(
            OrderAccepted(
                **self._ids(command),
                side=command.side,
                quantity=command.quantity,
                status="Submitted",
            )
        )
        self.working[command.client_order_id] = command
        if not self.hold_fills:
            await self.fill(command.client_order_id)

    async def fill(self, client_order_id: str) -> None:
        """Fill a working order completely at its account's price."""
        command = self.working.pop(client_order_id)
        account = self.accounts[command.account_id]
        price = account.prices[command.symbol]
        signed = command.quantity if command.side == Side.BUY else -command.quantity
        account.positions[command.symbol] = (
            account.positions.get(command.symbol, Decimal(0)) + signed
        )
        if account.positions[command.symbol] == 0:
            del account.positions[command.symbol]
        fee = max(Decimal(1), command.quantity * self.commission_per_share)
        account.cash -= signed * price + fee
        exec_id = new_id()
        ids = self._ids(command)
        await self.service.publish(
            OrderFilled(
                **ids, exec_id=exec_id, side=command.side, last_quantity=command.quantity,
                last_price=price, cumulative_quantity=command.quantity, average_price=price,
            )
        )  # fmt: skip
        await self.service.publish(CommissionReported(**ids, exec_id=exec_id, commission=fee))

    async def release(self) -> None:
        """Fill every working order (after ``hold_fills``)."""
        self.hold_fills = False
        for client_order_id in list(self.working):
            await self.fill(client_order_id)

    async def on_cancel_order(self, command: CancelOrder) -> None:
        self.orders.append(command)
        working = self.working.pop(command.client_order_id, None)
        if working is not None:
            await self.service.publish(OrderCancelled(**self._ids(working), reason=command.reason))

    async def on_cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.orders.append(command)
        for client_order_id, working in list(self.working.items()):
            if not command.account_ids or working.account_id in command.account_ids:
                del self.working[client_order_id]
                await self.service.publish(
                    OrderCancelled(**self._ids(working), reason=command.reason)
                )

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, reconciled: bool = True) -> FakeBridge:
        await self.service.start()
        if reconciled:
            await self.service.publish(
                ReconciliationCompleted(source="fake-bridge", accounts=tuple(self.accounts))
            )
        return self

    async def stop(self) -> None:
        await self.service.stop()
