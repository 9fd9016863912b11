"""The embedded Redis keeps its data across a crash (AOF); the accounts file fails clearly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import redis

from rebalancer_cli.embedded_redis import RedisServer, find_redis_server
from shared.accounts import AccountsFileError, load_accounts, parse_accounts
from shared.policy import ApprovalMode, PlanningPolicy, TradeMode


def test_killed_redis_restarts_with_its_aof(fresh_redis: RedisServer) -> None:
    client = redis.Redis.from_url(fresh_redis.url)
    client.xadd("commands.orders.v1", {"k": "v"})
    client.xgroup_create("commands.orders.v1", "gateway-bridge", id="0")
    client.close()
    import time

    time.sleep(1.2)  # appendfsync everysec: what a crash can lose is at most the last second
    fresh_redis.kill()
    fresh_redis.restart()
    client = redis.Redis.from_url(fresh_redis.url)
    assert client.xlen("commands.orders.v1") == 1
    assert client.xinfo_groups("commands.orders.v1")[0]["name"] == b"gateway-bridge"
    client.close()


def test_a_redis_binary_is_found() -> None:
    assert Path(find_redis_server()).exists()


EXAMPLE = """
defaults:
  planning: {min_order_value: 50}
  execution: {order_type: adaptive}
accounts:
  - id: DU111111
    groups: [core]
    approval: auto
    allocation: {targets: [{symbol: SPY, weight: 0.6}, {symbol: AGG, weight: 0.4}]}
    planning: {fractional: true, min_order_value: 10, mode: buy_only}
  - id: DU222222
    groups: [core]
    allocation: {csv: portfolios.csv}
group_schedules:
  - group: core
    schedule: {cron: "30 15 1 * *", timezone: America/New_York}
"""


def test_accounts_file_applies_defaults_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(EXAMPLE)
    accounts = load_accounts(path)
    first, second = accounts.get("DU111111"), accounts.get("DU222222")
    assert first is not None
    assert second is not None
    assert first.planning.fractional is True
    assert first.planning.min_order_value == Decimal("10")
    assert first.planning.mode is TradeMode.BUY_ONLY
    assert first.execution.approval is ApprovalMode.AUTO
    assert second.planning.min_order_value == Decimal("50")
    assert second.execution.approval is ApprovalMode.DRY_RUN  # the safe default
    assert second.execution.order_type == "adaptive"
    assert second.config.allocation is not None
    assert second.config.allocation.csv == tmp_path / "portfolios.csv"
    assert [a.id for a in accounts.group("core")] == ["DU111111", "DU222222"]
    assert accounts.planning_policy("DU999", PlanningPolicy()) == PlanningPolicy()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"accounts": [{"id": "DU1", "planning": {"min_order_value": -5}}]},
            "account DU1: planning.min_order_value",
        ),
        ({"accounts": [{"id": "DU1", "approval": "yolo"}]}, "account DU1: approval"),
        (
            {"accounts": [{"id": "DU1", "allocation": {"url": "https://x", "csv": "a.csv"}}]},
            "exactly one of url, csv or targets",
        ),
        ({"accounts": [{"id": "DU1"}, {"id": "DU1"}]}, "account DU1: listed twice"),
        ({"accounts": [{"id": "DU1", "planning": {"max_leverage": 2}}]}, "needs allow_leverage"),
        ({"accounts": [{"id": "DU1", "triggers": {"ably": "x"}}]}, "account DU1: triggers.ably"),
        (
            {
                "accounts": [{"id": "DU1", "groups": ["a"]}],
                "group_schedules": [{"group": "b", "schedule": {"cron": "0 0 * * *"}}],
            },
            "group 'b' has no account",
        ),
        (["DU1"], "expected a mapping"),
    ],
)
def test_invalid_accounts_file_names_the_file_the_account_and_the_field(
    data: object, message: str
) -> None:
    with pytest.raises(AccountsFileError, match=r"accounts\.yaml") as error:
        parse_accounts(data, Path("accounts.yaml"))
    assert message in str(error.value)


def test_unreadable_or_non_yaml_accounts_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(AccountsFileError, match="cannot read"):
        load_accounts(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("accounts: [\n")
    with pytest.raises(AccountsFileError, match="not valid YAML"):
        load_accounts(broken)
