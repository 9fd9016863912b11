"""The local stack scaled out: an emulator and a bridge per IB login, an executor per shard,
planner and notifier replicas (``rebalancer up``; see docs/gateway-bridge.md, "Scale-out").

Logins and shards come from the accounts file (``login:`` and ``executor_shard:`` per account),
the same map the services route by; replicas from ``--planner-replicas`` /
``--notifier-replicas`` (``REBALANCER_PLANNER_REPLICAS`` / ``REBALANCER_NOTIFIER_REPLICAS``).
The n-th extra instance of a process uses its base ports plus ``10 * n`` (the notifier's HTTP
API: plus ``n``): login ``b`` as the first named login gets the emulator on ``ib_port + 10``,
its admin API on ``ib_admin_port + 10`` and its bridge's ops port on ``bridge_ops_port + 10``.

Each login's emulator holds only the scenario's accounts of that login, as an IB login does;
the default login keeps the rest (and is left out when no account is left for it).
"""

from __future__ import annotations

import copy
import importlib.resources
from pathlib import Path
from typing import Any

import yaml

from rebalancer_cli.stackconfig import StackSettings
from shared.accounts import load_accounts
from shared.topology import DEFAULT, Topology

PORT_STEP = 10
REPLICA_BATCH = {"PLANNER_READ_BATCH_SIZE": "1", "NOTIFIER_READ_BATCH_SIZE": "1"}
"""Replicas read one entry at a time, so a busy one leaves the next entry to the other."""


def topology_of(settings: StackSettings) -> Topology:
    """The accounts file's logins and shards (none without a file)."""
    if settings.accounts_file is None:
        return Topology()
    return Topology.of(load_accounts(settings.accounts_file))


def scenario_data(settings: StackSettings) -> dict[str, Any]:
    """The emulator's scenario: the given file, else the emulator's own default."""
    if settings.scenario is not None:
        data = yaml.safe_load(settings.scenario.read_text(encoding="utf-8"))
    else:
        default = importlib.resources.files("ib_emulator") / "default_scenario.yaml"
        data = yaml.safe_load(default.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"the scenario {settings.scenario} is not a YAML mapping")
    return data


def scale_out(settings: StackSettings, specs: list[Any]) -> list[Any]:
    """Return ``specs`` (the one-login stack of ``service_specs``) scaled out as configured."""
    topology = topology_of(settings)
    logins = [name for name in topology.all_logins() if name != DEFAULT]
    shards = sorted({s for s in topology.shards.values() if s != DEFAULT})
    if not logins and not shards and settings.planner_replicas == settings.notifier_replicas == 1:
        return specs
    by_name = {spec.name: spec for spec in specs}
    out: list[Any] = []
    emulators: list[Any] = []
    bridges: list[Any] = []
    if logins:
        emulators, bridges = _logins(settings, topology, logins, by_name)
    for spec in specs:
        if spec.name == "ib-emulator":
            out += emulators
        elif spec.name == "gateway-bridge":
            out += bridges
        elif spec.name == "executor":
            out += [spec, *_shards(spec, shards)]
        elif spec.name in ("planner", "notifier"):
            out += _replicas(settings, spec)
        else:
            out.append(spec)
    return out


def _logins(
    settings: StackSettings, topology: Topology, logins: list[str], by_name: dict[str, Any]
) -> tuple[list[Any], list[Any]]:
    """One emulator and one bridge per login (the default one only if it has accounts)."""
    scenario = scenario_data(settings)
    home = settings.home.resolve()
    folder = home / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    emulator, bridge = by_name["ib-emulator"], by_name["gateway-bridge"]
    emulators: list[Any] = []
    bridges: list[Any] = []
    default_accounts = [
        a for a in scenario.get("accounts", []) if topology.login_of(str(a["id"])) == DEFAULT
    ]
    if default_accounts:
        own = _write_scenario(scenario, default_accounts, folder / "default.yaml")
        emulators.append(_with_scenario(emulator, own))
        bridges.append(bridge)
    for n, login in enumerate(logins, start=1):
        ib_port = settings.ib_port + PORT_STEP * n
        admin_port = settings.ib_admin_port + PORT_STEP * n
        accounts = [
            a for a in scenario.get("accounts", []) if topology.login_of(str(a["id"])) == login
        ]
        own = _write_scenario(scenario, accounts, folder / f"{login}.yaml")
        argv = _with_scenario(emulator, own).argv
        argv = _set_option(
            _set_option(argv, "--port", str(ib_port)), "--admin-port", str(admin_port)
        )
        emulators.append(_copy(emulator, f"ib-emulator.{login}", argv=argv, port=ib_port))
        ops = settings.bridge_ops_port + PORT_STEP * n
        env = {
            **bridge.env,
            "BRIDGE_LOGIN": login,
            "BRIDGE_IB_PORT": str(ib_port),
            "BRIDGE_OPS_PORT": str(ops),
            "BRIDGE_CONSUMER_NAME": f"gateway-bridge-{login}-local",
            "BRIDGE_DATA_DIR": str(home / "data" / f"gateway-bridge-{login}"),
        }
        bridges.append(_copy(bridge, f"gateway-bridge.{login}", env=env, port=ops))
    return emulators, bridges


def _shards(executor: Any, shards: list[str]) -> list[Any]:
    """One executor per named shard, next to the default one (unlisted accounts)."""
    out = []
    base_port = int(executor.env["EXECUTOR_OPS_PORT"])
    data = Path(executor.env["EXECUTOR_DATA_DIR"])
    for n, shard in enumerate(shards, start=1):
        ops = base_port + PORT_STEP * n
        env = {
            **executor.env,
            "EXECUTOR_SHARD": shard,
            "EXECUTOR_OPS_PORT": str(ops),
            "EXECUTOR_CONSUMER_NAME": f"executor-{shard}-local",
            "EXECUTOR_DATA_DIR": str(data.parent / f"executor-{shard}"),
        }
        out.append(_copy(executor, f"executor.{shard}", env=env, port=ops))
    return out


def _replicas(settings: StackSettings, spec: Any) -> list[Any]:
    """The planner or notifier, ``n`` times in its consumer group."""
    count = settings.planner_replicas if spec.name == "planner" else settings.notifier_replicas
    if count == 1:
        return [spec]
    prefix = "PLANNER_" if spec.name == "planner" else "NOTIFIER_"
    batch = {f"{prefix}READ_BATCH_SIZE": REPLICA_BATCH[f"{prefix}READ_BATCH_SIZE"]}
    out = [_copy(spec, spec.name, env={**spec.env, **batch})]
    base_port = int(spec.env[f"{prefix}OPS_PORT"])
    for n in range(1, count):
        ops = base_port + PORT_STEP * n
        env = {
            **spec.env,
            **batch,
            f"{prefix}OPS_PORT": str(ops),
            f"{prefix}CONSUMER_NAME": f"{spec.name}-local-{n + 1}",
        }
        if spec.name == "notifier":
            env["NOTIFIER_API_PORT"] = str(settings.api_port + n)
        out.append(_copy(spec, f"{spec.name}.{n + 1}", env=env, port=ops))
    return out


def _write_scenario(scenario: dict[str, Any], accounts: list[Any], path: Path) -> Path:
    data = copy.deepcopy(scenario)
    data["accounts"] = accounts
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _with_scenario(spec: Any, path: Path) -> Any:
    return _copy(spec, spec.name, argv=_set_option(spec.argv, "--scenario", str(path)))


def _set_option(argv: list[str], option: str, value: str) -> list[str]:
    out = list(argv)
    if option in out:
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


def _copy(spec: Any, name: str, **changes: Any) -> Any:
    """A copy of a ProcessSpec under another name (its health URL follows its port)."""
    clone = copy.copy(spec)
    clone.name = name
    for key, value in changes.items():
        setattr(clone, key, value)
    if spec.health_url and "port" in changes:
        clone.health_url = f"http://127.0.0.1:{changes['port']}/health"
    return clone
