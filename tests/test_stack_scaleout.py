"""`rebalancer up` scaled out by the accounts file and the replica options: which processes it
starts, with which logins, shards, ports, folders and consumer names (the processes themselves
run in tests/test_e2e_scaleout.py and tests/test_local_stack.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rebalancer_cli.scaleout import scale_out
from rebalancer_cli.stack import service_specs
from rebalancer_cli.stackconfig import StackSettings
from shared.accounts import AccountsFileError

DEFAULT_SCENARIO = (
    Path(__file__).resolve().parents[1]
    / "services/ib-emulator/src/ib_emulator/default_scenario.yaml"
)
ACCOUNTS = {
    "accounts": [
        {"id": "DU1000001", "approval": "auto", "login": "login-a", "executor_shard": "a"},
        {"id": "DU1000002", "approval": "auto", "login": "login-b", "executor_shard": "b"},
        {"id": "DU1000003", "approval": "auto"},
    ]
}


def specs(tmp_path: Path, accounts: dict | None = ACCOUNTS, **settings: object) -> dict:
    file = None
    if accounts is not None:
        file = tmp_path / "accounts.yaml"
        file.write_text(yaml.safe_dump(accounts))
    scenario = tmp_path / "scenario.yaml"
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["accounts"] = [{**data["accounts"][0], "id": f"DU100000{n}"} for n in (1, 2, 3)]
    scenario.write_text(yaml.safe_dump(data))
    stack = StackSettings(  # type: ignore[arg-type]
        home=tmp_path / "home", accounts_file=file, scenario=scenario, **settings
    )
    return {s.name: s for s in scale_out(stack, service_specs(stack, "redis://127.0.0.1:1/0"))}


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_without_logins_shards_or_replicas_the_stack_is_the_one_login_stack(tmp_path: Path) -> None:
    names = list(specs(tmp_path, None))
    assert names == [
        "ib-emulator",
        "gateway-bridge",
        "planner",
        "executor",
        "notifier",
        "ledger",
        "console",
    ]


def test_each_login_gets_an_emulator_with_its_accounts_and_a_bridge_of_its_own(
    tmp_path: Path,
) -> None:
    found = specs(tmp_path)
    emulators = {n: s for n, s in found.items() if n.startswith("ib-emulator")}
    assert set(emulators) == {"ib-emulator", "ib-emulator.login-a", "ib-emulator.login-b"}
    held = {
        name: [a["id"] for a in yaml.safe_load(Path(option(s.argv, "--scenario")).read_text())["accounts"]]
        for name, s in emulators.items()
    }  # fmt: skip
    # Each account at exactly one login, as at IB; the unnamed one stays on the default login.
    assert held == {
        "ib-emulator": ["DU1000003"],
        "ib-emulator.login-a": ["DU1000001"],
        "ib-emulator.login-b": ["DU1000002"],
    }
    bridges = {n: s for n, s in found.items() if n.startswith("gateway-bridge")}
    assert {n: s.env.get("BRIDGE_LOGIN", "") for n, s in bridges.items()} == {
        "gateway-bridge": "",
        "gateway-bridge.login-a": "login-a",
        "gateway-bridge.login-b": "login-b",
    }
    for name, bridge in bridges.items():
        emulator = emulators[name.replace("gateway-bridge", "ib-emulator")]
        assert bridge.env["BRIDGE_IB_PORT"] == option(emulator.argv, "--port")
    for key in ("BRIDGE_OPS_PORT", "BRIDGE_DATA_DIR", "BRIDGE_CONSUMER_NAME"):
        assert len({b.env[key] for b in bridges.values()}) == 3, key  # never a shared journal
    ports = [s.port for s in found.values() if s.port is not None]
    assert len(ports) == len(set(ports))


def test_each_shard_gets_an_executor_and_replicas_share_a_group_one_entry_at_a_time(
    tmp_path: Path,
) -> None:
    found = specs(tmp_path, planner_replicas=2, notifier_replicas=2)
    executors = {
        n: s.env.get("EXECUTOR_SHARD", "") for n, s in found.items() if n.startswith("executor")
    }
    assert executors == {"executor": "", "executor.a": "a", "executor.b": "b"}
    for service, prefix in (("planner", "PLANNER_"), ("notifier", "NOTIFIER_")):
        replicas = [s for n, s in found.items() if n.partition(".")[0] == service]
        assert len(replicas) == 2
        assert len({s.env[f"{prefix}CONSUMER_NAME"] for s in replicas}) == 2
        assert {s.env[f"{prefix}READ_BATCH_SIZE"] for s in replicas} == {"1"}
    apis = {s.env["NOTIFIER_API_PORT"] for n, s in found.items() if n.startswith("notifier")}
    assert len(apis) == 2


def test_a_login_name_that_cannot_be_a_stream_name_is_refused_naming_the_account(
    tmp_path: Path,
) -> None:
    bad = {"accounts": [{"id": "DU1", "login": "Login A"}]}
    with pytest.raises(
        AccountsFileError, match=r"account DU1: login: .*'Login A' is not a valid name"
    ):
        specs(tmp_path, bad)
