"""What the console knows from the streams it follows, and the live event each message makes.

Fed in stream order by one reader (``console.live.Hub``) for every browser: plan proposals
(the drift table, legs, warnings), each plan's orders and fills, recent alerts, the gateway's
connection, the kill switch and each account's last values. Bounded: the oldest plans are
forgotten first (their final results stay in the notifier's plan view).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from console.core.alerts import AlertRow, alert_of
from console.core.progress import OrderProgress, apply
from shared.contracts.account import AccountSnapshot
from shared.contracts.base import Message
from shared.contracts.gateway import GatewayConnected, GatewayDisconnected, ReconciliationCompleted
from shared.contracts.orders import OrderEvent
from shared.contracts.plan_commands import HaltTrading, ResumeTrading
from shared.contracts.plans import PlanProposed
from shared.plans.view import HaltView, PlanView, fold, fold_halt, plan_key

T = TypeVar("T")
Kind = Literal["plan", "order", "alert", "gateway", "halt", "account"]
MAX_PLANS = 2000
MAX_ALERTS = 200
KIND_OF_STREAM: dict[str, Kind] = {
    "events.plans.v1": "plan",
    "events.orders.v1": "order",
    "commands.alerts.v1": "alert",
    "events.gateway.v1": "gateway",
    "commands.plans.v1": "halt",
    "events.account.v1": "account",
}


@dataclass(frozen=True)
class LiveEvent:
    """What a browser is told: something of this kind changed (it re-reads what it shows)."""

    kind: Kind
    type: str
    plan_id: str | None = None
    account_id: str | None = None
    alert: bool = False

    def as_json(self) -> dict[str, str | bool | None]:
        return {
            "kind": self.kind,
            "type": self.type,
            "plan_id": self.plan_id,
            "account_id": self.account_id,
            "alert": self.alert,
        }


@dataclass(frozen=True)
class GatewayState:
    connected: bool | None = None
    """None until the console saw a gateway event."""
    detail: str = "no gateway event seen yet"


class ConsoleState:
    """The followed streams, folded."""

    def __init__(self) -> None:
        self.proposals: OrderedDict[str, PlanProposed] = OrderedDict()
        self.views: OrderedDict[str, PlanView] = OrderedDict()
        self.orders: OrderedDict[str, dict[str, OrderProgress]] = OrderedDict()
        self.alerts: deque[AlertRow] = deque(maxlen=MAX_ALERTS)
        self.gateway = GatewayState()
        self.halt = HaltView()
        self.accounts: dict[str, AccountSnapshot] = {}

    def apply(self, stream: str, message: Message) -> LiveEvent | None:
        """Fold one message of ``stream``; return the live event it makes, if any."""
        kind = KIND_OF_STREAM.get(stream)
        if kind is None:
            return None
        alert = alert_of(message)
        if alert is not None:
            self.alerts.appendleft(alert)
        self._fold(message)
        if kind == "plan":
            self._fold_plan(message)
        return LiveEvent(
            kind=kind,
            type=str(getattr(message, "type", type(message).__name__)),
            plan_id=getattr(message, "plan_id", None),
            account_id=getattr(message, "account_id", None),
            alert=alert is not None,
        )

    def _fold(self, message: Message) -> None:
        if isinstance(message, PlanProposed):
            self.proposals[message.plan_id] = message
            _bound(self.proposals)
        elif isinstance(message, OrderEvent) and message.plan_id:
            orders = self.orders.setdefault(message.plan_id, {})
            self.orders.move_to_end(message.plan_id)
            updated = apply(orders.get(message.client_order_id), message)
            if updated is not None:
                orders[message.client_order_id] = updated
            _bound(self.orders)
        elif isinstance(message, HaltTrading | ResumeTrading):
            self.halt = fold_halt(self.halt, message)
        elif isinstance(message, GatewayConnected | ReconciliationCompleted):
            self.gateway = GatewayState(True, _since("connected", message))
        elif isinstance(message, GatewayDisconnected):
            self.gateway = GatewayState(False, f"disconnected: {message.reason}")
        elif isinstance(message, AccountSnapshot):
            self.accounts[message.account_id] = message

    def _fold_plan(self, message: Message) -> None:
        key = plan_key(message)
        if key is None:
            return
        view = fold(self.views.get(key), message)
        if view is not None:
            self.views[key] = view
            self.views.move_to_end(key)
            _bound(self.views)

    def newest(self, plan: dict[str, Any]) -> dict[str, Any]:
        """The notifier's plan object, or this console's fold of the same stream where it has
        seen more: the event that made a page re-read may not have reached the notifier yet."""
        mine = self.views.get(str(plan.get("plan_id")))
        if mine is not None and len(mine.history) > len(plan.get("history") or ()):
            return mine.as_json()
        return plan

    def orders_of(self, plan_id: str) -> list[OrderProgress]:
        """The plan's orders, by leg."""
        rows = list(self.orders.get(plan_id, {}).values())
        return sorted(
            rows, key=lambda o: (o.leg if o.leg is not None else 1_000_000, o.client_order_id)
        )


def _since(word: str, message: Message) -> str:
    return f"{word} since {message.ts_event:%Y-%m-%d %H:%M:%S} UTC"


def _bound(table: OrderedDict[str, T]) -> None:
    while len(table) > MAX_PLANS:
        table.popitem(last=False)
