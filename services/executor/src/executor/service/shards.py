"""Sharding by account: which messages this executor acts on, and where its commands go.

Each executor shard (``EXECUTOR_SHARD``) reads every stream in a consumer group of its own
(``executor.<shard>``), so every plan's events and commands reach every shard, and acts only on
the accounts the accounts file gives it (``executor_shard``): a PlanProposed, an order event of
another shard's account is skipped (``rebalancer_messages_ignored_total``); ApprovePlan and
CancelPlan name a plan, which only its owner knows (the others ignore unknown plans already);
HaltTrading and ResumeTrading are global and every shard obeys them.

Commands go to the bridge of the account's IB login (``Topology.orders_stream_of``); the
gateway's state that counts is that of the shard's own logins: orders flow only while every
one of them is reconciled (a shard spanning two logins pauses both while one reconnects).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from shared.contracts.base import Message
from shared.contracts.gateway import (
    GatewayConnected,
    GatewayDisconnected,
    GatewayStatus,
    ReconciliationCompleted,
)
from shared.contracts.order_commands import CancelAllOrders, CancelOrder, SubmitOrder
from shared.kit.service import Dispatch
from shared.topology import DEFAULT, Topology, orders_stream

BRIDGE = "gateway-bridge"
Publish = Callable[[Message], Awaitable[None]]
PublishOn = Callable[..., Awaitable[None]]


def login_of_source(source: str) -> str:
    """The login of a bridge's message: ``gateway-bridge.<login>``, else the default login."""
    prefix = f"{BRIDGE}."
    return source[len(prefix) :] if source.startswith(prefix) else DEFAULT


class Ownership:
    """The accounts and logins of one shard."""

    def __init__(self, topology: Topology, shard: str) -> None:
        self.topology = topology
        self.shard = shard
        logins = set(topology.logins_of_shard(shard))
        if shard == DEFAULT:
            logins.add(DEFAULT)  # unlisted accounts: the default shard, on the default login
        self.logins = tuple(sorted(logins))

    def owns(self, account_id: str) -> bool:
        """Whether this shard acts on ``account_id``."""
        return self.topology.shard_of(account_id) == self.shard

    def concerns(self, message: Message) -> bool:
        """Whether this shard handles ``message`` (see the module)."""
        if isinstance(
            message,
            GatewayConnected | GatewayDisconnected | ReconciliationCompleted | GatewayStatus,
        ):
            return login_of_source(message.source) in self.logins
        account = getattr(message, "account_id", None)
        return not isinstance(account, str) or self.owns(account)

    def filter(self, table: Dispatch, ignored: Callable[[Message], None]) -> Dispatch:
        """The dispatch table with every handler skipping messages of other shards."""

        def guarded(handler: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
            async def handle(message: Message) -> None:
                if self.concerns(message):
                    await handler(message)
                else:
                    ignored(message)

            return handle

        return {kind: guarded(handler) for kind, handler in table.items()}


class GatewayReadiness:
    """Reconciled or not, per login of the shard; ready only when all of them are."""

    def __init__(self, logins: Iterable[str]) -> None:
        self.ready = dict.fromkeys(logins, False)

    def apply(self, event: Message) -> bool:
        """Fold one gateway event (of one of the shard's logins); return overall readiness."""
        login = login_of_source(event.source)
        if login in self.ready:
            if isinstance(event, GatewayStatus):  # the trimmed stream's last word
                self.ready[login] = event.connected and event.reconciled
            else:
                self.ready[login] = isinstance(event, ReconciliationCompleted)
        return self.all_ready

    @property
    def all_ready(self) -> bool:
        return all(self.ready.values())


class Router:
    """Publishes order commands on the stream of the account's login, the rest as usual."""

    def __init__(self, ownership: Ownership, publish: Publish, publish_on: PublishOn) -> None:
        self._ownership = ownership
        self._publish = publish
        self._publish_on = publish_on

    async def publish(self, message: Message) -> None:
        for stream, routed in self.routes(message):
            if stream is None:
                await self._publish(routed)
            else:
                await self._publish_on(routed, stream=stream)

    def routes(self, message: Message) -> list[tuple[str | None, Message]]:
        """(stream, message) pairs to publish; stream None: the message's own stream."""
        topology = self._ownership.topology
        if isinstance(message, SubmitOrder):
            return [(topology.orders_stream_of(message.account_id), message)]
        if isinstance(message, CancelOrder):
            return [(topology.orders_stream_of(message.account_id or ""), message)]
        if isinstance(message, CancelAllOrders):
            if not message.account_ids:  # every account: each of the shard's logins
                return [(orders_stream(login).name, message) for login in self._ownership.logins]
            by_login: dict[str, list[str]] = {}
            for account in message.account_ids:
                by_login.setdefault(topology.login_of(account), []).append(account)
            return [
                (orders_stream(login).name, message.model_copy(update={"account_ids": tuple(ids)}))
                for login, ids in sorted(by_login.items())
            ]
        return [(None, message)]
