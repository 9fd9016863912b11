"""Sharding by account, as tables: who owns what, which gateway counts, where commands go."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from executor.service.shards import GatewayReadiness, Ownership, Router, login_of_source
from shared.accounts import parse_accounts
from shared.contracts.base import Message, Side, utc_now
from shared.contracts.gateway import GatewayDisconnected, ReconciliationCompleted
from shared.contracts.order_commands import CancelAllOrders, CancelOrder, SubmitOrder
from shared.contracts.orders import OrderRejected
from shared.contracts.plan_commands import HaltTrading
from shared.topology import Topology

TOPOLOGY = Topology.of(
    parse_accounts(
        {
            "accounts": [
                {"id": "DU1", "login": "login-a", "executor_shard": "a"},
                {"id": "DU2", "login": "login-b", "executor_shard": "b"},
                {"id": "DU3"},
            ]
        }
    )
)
LATER = utc_now() + timedelta(minutes=1)


def accepted(account: str) -> OrderRejected:
    return OrderRejected(
        source="gateway-bridge", client_order_id="p.0.0", account_id=account, reason="x"
    )


def test_each_account_has_exactly_one_owning_shard() -> None:
    shards = {name: Ownership(TOPOLOGY, name) for name in ("", "a", "b")}
    for account in ("DU1", "DU2", "DU3", "DU404"):
        owners = [name for name, shard in shards.items() if shard.owns(account)]
        assert len(owners) == 1, (account, owners)
    assert shards["a"].logins == ("login-a",)
    assert shards[""].logins == ("",)  # the default shard's unlisted accounts: default login


def test_a_shard_skips_other_accounts_and_other_logins_gateways_but_obeys_a_halt() -> None:
    shard = Ownership(TOPOLOGY, "a")
    assert shard.concerns(accepted("DU1"))
    assert not shard.concerns(accepted("DU2"))
    assert shard.concerns(GatewayDisconnected(source="gateway-bridge.login-a", reason="x"))
    assert not shard.concerns(GatewayDisconnected(source="gateway-bridge.login-b", reason="x"))
    assert shard.concerns(HaltTrading(source="api", reason="stop", valid_until=LATER))
    assert login_of_source("gateway-bridge") == ""


def test_orders_flow_only_while_every_login_of_the_shard_is_reconciled() -> None:
    readiness = GatewayReadiness(("login-a", "login-b"))
    done = {"accounts": (), "source": "gateway-bridge.login-a"}
    assert not readiness.apply(ReconciliationCompleted(**done))
    assert readiness.apply(ReconciliationCompleted(**{**done, "source": "gateway-bridge.login-b"}))
    assert not readiness.apply(GatewayDisconnected(source="gateway-bridge.login-a", reason="x"))


async def test_commands_go_to_the_stream_of_the_accounts_login() -> None:
    sent: list[tuple[str | None, Message]] = []

    async def publish(message: Message) -> None:
        sent.append((None, message))

    async def publish_on(message: Message, *, stream: str) -> None:
        sent.append((stream, message))

    router = Router(Ownership(TOPOLOGY, ""), publish, publish_on)
    order = SubmitOrder(
        source="executor", client_order_id="p.0.0", account_id="DU2", symbol="SPY",
        side=Side.BUY, quantity=Decimal(1), valid_until=LATER,
    )  # fmt: skip
    await router.publish(order)
    await router.publish(
        CancelOrder(source="executor", client_order_id="p.0.0", account_id="DU3", valid_until=LATER)
    )
    await router.publish(
        CancelAllOrders(source="executor", account_ids=("DU1", "DU2", "DU3"), valid_until=LATER)
    )
    await router.publish(accepted("DU1"))
    streams = [stream for stream, _ in sent]
    assert streams == [
        "commands.orders.v1.login-b",
        "commands.orders.v1",
        "commands.orders.v1",
        "commands.orders.v1.login-a",
        "commands.orders.v1.login-b",
        None,
    ]
    split = [m.account_ids for s, m in sent if isinstance(m, CancelAllOrders)]
    assert split == [("DU3",), ("DU1",), ("DU2",)]
