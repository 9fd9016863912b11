"""The real stack scaled out: one emulator and one bridge per IB login, executor shards, and
planner replicas in one consumer group, each as its own process (see docs/gateway-bridge.md,
"Scale-out layout").

Instances are named ``gateway-bridge.<login>``, ``ib-emulator.<login>``, ``executor.<shard>``
and ``planner.<n>``. The accounts file written for the services carries each account's
``login`` and ``executor_shard``; each emulator holds only its login's accounts, as an IB login
does.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml

from rebalancer_cli.embedded_redis import free_port
from rebalancer_testkit.e2e import EMULATOR, MODULES, E2EStack
from shared.topology import check_name


class ScaledStack(E2EStack):
    """E2EStack with several logins, executor shards and planner replicas."""

    def __init__(
        self,
        root: Path,
        accounts: dict[str, Any],
        *,
        logins: dict[str, list[str]],
        shards: dict[str, list[str]] | None = None,
        planner_replicas: int = 1,
        scenario: dict[str, Any],
        planner_env: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        self.logins = {check_name(name, "login"): list(ids) for name, ids in logins.items()}
        shards = shards if shards is not None else dict(self.logins)
        self.shards = {check_name(name, "shard"): list(ids) for name, ids in shards.items()}
        super().__init__(root, _with_topology(accounts, self.logins, self.shards), **options)
        self.login_of = {a: login for login, ids in self.logins.items() for a in ids}
        self.emulators: dict[str, tuple[int, int]] = {}
        self.scenario_files: dict[str, Path] = {}
        for login, ids in self.logins.items():
            self.emulators[login] = (free_port(), free_port())
            own = copy.deepcopy(scenario)
            own["accounts"] = [a for a in scenario["accounts"] if a["id"] in ids]
            self.scenario_files[login] = root / f"scenario-{login}.yaml"
            self.scenario_files[login].write_text(yaml.safe_dump(own))
        self.modules = {
            **{f"gateway-bridge.{login}": MODULES["gateway-bridge"] for login in self.logins},
            **{f"planner.{n}": MODULES["planner"] for n in range(1, planner_replicas + 1)},
            **{f"executor.{shard}": MODULES["executor"] for shard in self.shards},
        }
        self.ops = {name: free_port() for name in self.modules}
        self.extra["planner"] = planner_env or {}

    def instance_env(self, name: str) -> dict[str, str]:
        base, _, instance = name.partition(".")
        if base == "gateway-bridge":
            ib_port, _ = self.emulators[instance]
            return {
                "BRIDGE_LOGIN": instance,
                "BRIDGE_IB_PORT": str(ib_port),
                "BRIDGE_DATA_DIR": str(self.root / f"bridge-{instance}"),
            }
        if base == "executor":
            return {
                "EXECUTOR_SHARD": instance,
                "EXECUTOR_DATA_DIR": str(self.root / f"executor-{instance}"),
            }
        return {}

    # ------------------------------------------------------------------ the emulators

    def start_emulator(self) -> None:
        for login, (ib_port, admin_port) in self.emulators.items():
            argv = [EMULATOR, "--port", str(ib_port), "--admin-port", str(admin_port)]
            argv += ["--scenario", str(self.scenario_files[login])]
            self._popen(f"ib-emulator.{login}", argv, {})

    async def _emulator_up(self) -> bool:
        for login in self.emulators:
            try:
                await self.emulator("GET", "/state", login=login)
            except (httpx.HTTPError, OSError):
                return False
        return True

    async def emulator(
        self, method: str, path: str, body: Any = None, *, login: str | None = None
    ) -> Any:
        """Call one login's emulator (the first login's when none is named)."""
        _, admin_port = self.emulators[login or next(iter(self.emulators))]
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.request(method, f"http://127.0.0.1:{admin_port}{path}", json=body)
            response.raise_for_status()
            return response.json()

    async def each_emulator(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Call every login's emulator; login -> its answer."""
        return {
            login: await self.emulator(method, path, body, login=login) for login in self.logins
        }

    async def ib_orders(self, login: str | None = None) -> list[dict[str, Any]]:
        """The orders one login's IB received (every login's, each tagged ``login``, if none)."""
        names = [login] if login else list(self.logins)
        out = []
        for name in names:
            orders = (await self.emulator("GET", "/orders", login=name))["orders"]
            out += [{**order, "login": name} for order in orders]
        return out

    async def positions(self, account_id: str) -> dict[str, Decimal]:
        state = await self.emulator("GET", "/state", login=self.login_of[account_id])
        for account in state["accounts"]:
            if account["id"] == account_id:
                return {
                    p["symbol"]: Decimal(str(p["quantity"]))
                    for p in account["positions"]
                    if Decimal(str(p["quantity"])) != 0
                }
        raise AssertionError(f"no account {account_id} at login {self.login_of[account_id]}")


def _with_topology(
    accounts: dict[str, Any], logins: dict[str, list[str]], shards: dict[str, list[str]]
) -> dict[str, Any]:
    """The accounts file with each account's ``login`` and ``executor_shard`` set."""
    login_of = {a: login for login, ids in logins.items() for a in ids}
    shard_of = {a: shard for shard, ids in shards.items() for a in ids}
    out = copy.deepcopy(accounts)
    for entry in out["accounts"]:
        if entry["id"] in login_of:
            entry["login"] = login_of[entry["id"]]
        if entry["id"] in shard_of:
            entry["executor_shard"] = shard_of[entry["id"]]
    return out
