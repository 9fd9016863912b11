"""The real stack for end-to-end tests and benchmarks: Redis, the IB emulator, bridge, planner and executor,
each as its own process, with helpers to trigger plans and to look at what happened.

Everything is polled with a deadline; nothing sleeps a fixed time. Each test gets its own
Redis (AOF on), ports and folders, so tests never see each other's streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import yaml
from faststream.redis import RedisBroker

from rebalancer_cli.embedded_redis import RedisServer, free_port
from rebalancer_cli.processes import die_with_parent
from rebalancer_testkit.waiting import eventually
from shared.contracts import catalogue
from shared.contracts.allocations import TargetAllocationSet
from shared.contracts.base import ExecutionMode, Message, TargetWeight, new_id
from shared.contracts.plans import PlanCompleted, PlanExpired, PlanFailed, PlanRejected
from shared.kit.broker import reconnecting
from shared.kit.streams import read
from shared.plans.view import PlanView, fold_all
from shared.rebalancing.ids import plan_id_for

PYTHON = sys.executable
EMULATOR = str(Path(PYTHON).parent / "ib-emulator")
MODULES = {"gateway-bridge": "gateway_bridge", "planner": "planner", "executor": "executor"}
PREFIX = {
    "gateway-bridge": "BRIDGE_",
    "planner": "PLANNER_",
    "executor": "EXECUTOR_",
    "notifier": "NOTIFIER_",
    "ledger": "LEDGER_",
    "console": "CONSOLE_",
}
# Started only when asked (``E2EStack(..., notifier=True)``): the executor's tests need none.
OPTIONAL_MODULES = {"notifier": "notifier"}
BRIDGE_CLIENT_ID = 17
"""The bridge's IB client id (its default); with ``ledger=True`` also the emulator's Master
API client ID, so the bridge hears other clients' executions as the local stack's does."""
LEDGER_MODULES = {"ledger": "ledger"}
CONSOLE_MODULES = {"console": "console"}
ENDINGS = (PlanCompleted, PlanFailed, PlanRejected, PlanExpired)


class E2EStack:
    """Start, kill and restart the stack's processes; trigger plans; read streams and IB."""

    def __init__(
        self,
        root: Path,
        accounts: dict[str, Any],
        *,
        executor_env: dict[str, str] | None = None,
        bridge_env: dict[str, str] | None = None,
        scenario: dict[str, Any] | None = None,
        notifier: bool = False,
        notifier_env: dict[str, str] | None = None,
        ledger: bool = False,
        ledger_env: dict[str, str] | None = None,
        reclaim_idle_ms: int = 1000,
        ready_timeout_s: float = 30,
        console: bool = False,
    ) -> None:
        self.root = root
        self.accounts_file = root / "accounts.yaml"
        self.accounts_file.write_text(yaml.safe_dump(accounts))
        self.scenario_file: Path | None = None
        if scenario is not None:
            self.scenario_file = root / "scenario.yaml"
            self.scenario_file.write_text(yaml.safe_dump(scenario))
        self.redis = RedisServer(root / "redis")
        self.ib_port = free_port()
        self.admin_port = free_port()
        # The notifier (triggers, HTTP API, alerts) joins the default services when asked.
        self.modules = {
            **MODULES,
            **(OPTIONAL_MODULES if notifier or console else {}),
            **(LEDGER_MODULES if ledger or console else {}),
            **(CONSOLE_MODULES if console else {}),
        }
        self.master_client_id = BRIDGE_CLIENT_ID if ledger or console else None
        self.ready_timeout_s = ready_timeout_s
        self.ops = {name: free_port() for name in self.modules}
        self.api_port = free_port()
        self.console_port = free_port()
        self.api_token = "e2e-token"
        self.extra = {
            "executor": executor_env or {},
            "gateway-bridge": bridge_env or {},
            "notifier": notifier_env or {},
            "ledger": ledger_env or {},
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.client: aioredis.Redis | None = None
        self.broker: RedisBroker | None = None
        self.reports_dir = root / "reports"
        # Short for the tests' crash-and-redeliver scenarios; a run whose handlers take longer
        # than this (planning 100 accounts) must raise it, or the entries are handled twice.
        self.reclaim_idle_ms = reclaim_idle_ms

    # ------------------------------------------------------------------ processes

    async def start(self, *names: str, healthy_within_s: float | None = None) -> E2EStack:
        """Start Redis, the emulator and the services (all of them unless named); each must be
        healthy within ``healthy_within_s`` (a loaded machine needs more to start five)."""
        await asyncio.to_thread(self.redis.start)
        # The test's own connections ride through a Redis restart as the services' do.
        self.client = aioredis.Redis.from_url(self.redis.url, **reconnecting())
        self.broker = RedisBroker(self.redis.url, log_level=logging.DEBUG, **reconnecting())
        await self.broker.connect()
        self.start_emulator()
        await eventually(self._emulator_up, 20, "the emulator")
        for name in names or tuple(self.modules):
            self.spawn(name)
        for name in names or tuple(self.modules):
            await self.wait_healthy(name, healthy_within_s)
        return self

    def start_emulator(self) -> None:
        argv = [EMULATOR, "--port", str(self.ib_port), "--admin-port", str(self.admin_port)]
        if self.scenario_file:
            argv += ["--scenario", str(self.scenario_file)]
        if self.master_client_id is not None:
            argv += ["--master-client-id", str(self.master_client_id)]
        self._popen("ib-emulator", argv, {})

    def env_of(self, name: str) -> dict[str, str]:
        """Environment of one process: ``name`` is a service or an instance of one
        (``gateway-bridge.<login>``, ``executor.<shard>``, ``planner.2``; see ``scaled``)."""
        base = name.partition(".")[0]
        p = PREFIX[base]
        env = {
            "REBALANCER_ACCOUNTS_FILE": str(self.accounts_file),
            f"{p}REDIS_URL": self.redis.url,
            f"{p}OPS_PORT": str(self.ops[name]),
            f"{p}CONSUMER_NAME": f"{name}-e2e",
            f"{p}RECLAIM_IDLE_MS": str(self.reclaim_idle_ms),
            f"{p}LOG_LEVEL": "INFO",
        }
        if base == "gateway-bridge":
            env |= {
                "BRIDGE_IB_HOST": "127.0.0.1",
                "BRIDGE_IB_PORT": str(self.ib_port),
                "BRIDGE_READ_ONLY": "false",  # the emulator is paper and fake
                "BRIDGE_DATA_DIR": str(self.root / "bridge"),
                "BRIDGE_BACKOFF_INITIAL_S": "0.2",
                "BRIDGE_BACKOFF_MAX_S": "1",
            }
        if base == "executor":
            env |= {
                "EXECUTOR_DATA_DIR": str(self.root / "executor"),
                "EXECUTOR_REPORTS_DIR": str(self.reports_dir),
                "EXECUTOR_GATEWAY_WAIT_S": "1",
            }
        if base == "ledger":
            env |= {"LEDGER_DATA_DIR": str(self.root / "ledger"), "LEDGER_METRICS_INTERVAL_S": "1"}
        if base == "notifier":
            env |= {
                "NOTIFIER_API_PORT": str(self.api_port),
                "NOTIFIER_API_TOKEN": self.api_token,
                "NOTIFIER_SCHEDULES_ENABLED": "false",
                # Alerts out quickly: a test waits for them, not for a 2 s burst window.
                "NOTIFIER_ALERT_BATCH_WINDOW_S": "0.05",
                "NOTIFIER_ALERT_RETRY_BACKOFF_S": "0.05",
                "NOTIFIER_ALERT_TIMEOUT_S": "2",
                "NOTIFIER_ALLOCATION_BACKOFF_S": "0.05",
            }
        if base == "console":
            env |= {
                "CONSOLE_HTTP_PORT": str(self.console_port),
                "CONSOLE_API_URL": f"http://127.0.0.1:{self.api_port}",
                "CONSOLE_API_TOKEN": self.api_token,
            }
        return env | self.extra.get(base, {}) | self.instance_env(name)

    def instance_env(self, name: str) -> dict[str, str]:
        """What one instance adds to its service's environment (none here; see ``scaled``)."""
        return {}

    def spawn(self, name: str) -> None:
        """Start one service process (again)."""
        self._popen(name, [PYTHON, "-m", self.modules[name]], self.env_of(name))

    def _popen(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 (owned by the process)
        self.processes[name] = subprocess.Popen(
            argv,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A test killed by its timeout must not leave a stack running (it did: whole
            # stacks, trading on, for the rest of the session).
            preexec_fn=die_with_parent(os.getpid()),
        )

    async def wait_healthy(self, name: str, timeout_s: float | None = None) -> None:
        url = f"http://127.0.0.1:{self.ops[name]}/health"
        timeout_s = self.ready_timeout_s if timeout_s is None else timeout_s

        async def ok() -> bool:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}: {self.log(name)}")
            try:
                async with httpx.AsyncClient(timeout=1) as http:
                    return (await http.get(url)).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ok, timeout_s, f"{name} healthy", every=0.1)

    def kill(self, name: str) -> None:
        """SIGKILL one process (no cleanup at all) and reap it."""
        proc = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    async def restart(self, name: str) -> None:
        self.kill(name)
        self.spawn(name)
        await self.wait_healthy(name)

    async def restart_redis(self) -> None:
        """Stop Redis (it writes its AOF) and start it again on the same port and data."""
        await asyncio.to_thread(self.redis.stop)
        await asyncio.to_thread(self.redis.start)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.broker is not None:
            await self.broker.stop()
        if self.client is not None:
            await self.client.aclose()
        await asyncio.to_thread(self.redis.stop)

    # ------------------------------------------------------------------ the emulator

    async def _emulator_up(self) -> bool:
        try:
            await self.emulator("GET", "/state")
            return True
        except (httpx.HTTPError, OSError):
            return False

    async def emulator(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.request(
                method, f"http://127.0.0.1:{self.admin_port}{path}", json=body
            )
            response.raise_for_status()
            return response.json()

    async def ib_orders(self) -> list[dict[str, Any]]:
        return list((await self.emulator("GET", "/orders"))["orders"])

    async def positions(self, account_id: str) -> dict[str, Decimal]:
        state = await self.emulator("GET", "/state")
        for account in state["accounts"]:
            if account["id"] == account_id:
                return {
                    p["symbol"]: Decimal(str(p["quantity"]))
                    for p in account["positions"]
                    if Decimal(str(p["quantity"])) != 0
                }
        raise AssertionError(f"no account {account_id} in the emulator")

    # ------------------------------------------------------------------ streams

    async def publish(self, message: Message) -> None:
        assert self.broker is not None
        await self.broker.publish(
            message.model_dump(mode="json"),
            stream=catalogue.stream_of(message),
            correlation_id=message.correlation_id or message.message_id,
        )

    async def request_plan(
        self,
        account_ids: tuple[str, ...],
        targets: dict[str, str],
        execution: ExecutionMode = ExecutionMode.REBALANCE,
    ) -> dict[str, str]:
        """Publish a TargetAllocationSet; return account -> plan id."""
        allocation_id = f"e2e-{new_id()[:12]}"
        await self.publish(
            TargetAllocationSet(
                source="e2e",
                correlation_id=allocation_id,
                allocation_id=allocation_id,
                account_ids=account_ids,
                targets=tuple(
                    TargetWeight(symbol=s, weight=Decimal(w)) for s, w in targets.items()
                ),
                execution=execution,
            )
        )
        return {a: plan_id_for(allocation_id, a) for a in account_ids}

    async def messages(self, spec: catalogue.StreamSpec) -> list[Message]:
        assert self.client is not None
        return await read(self.client, spec)

    async def plan_events(self, plan_id: str) -> list[Message]:
        return [
            m
            for m in await self.messages(catalogue.PLANS)
            if getattr(m, "plan_id", None) == plan_id
        ]

    async def wait_event(self, plan_id: str, kinds: tuple[type, ...], timeout_s: float = 30) -> Any:
        async def found() -> Message | None:
            return next((m for m in await self.plan_events(plan_id) if isinstance(m, kinds)), None)

        return await eventually(
            found, timeout_s, f"{[k.__name__ for k in kinds]} of {plan_id}", 0.1
        )

    async def wait_end(self, plan_id: str, timeout_s: float = 30) -> Any:
        return await self.wait_event(plan_id, ENDINGS, timeout_s)

    async def view(self, plan_id: str) -> PlanView | None:
        """The plan as every reader sees it: the shared fold of events.plans.v1."""
        return fold_all(await self.messages(catalogue.PLANS)).get(plan_id)

    # ------------------------------------------------------------------ the notifier

    async def publish_trigger(self, trigger: dict[str, Any], channel: str = "rebalance") -> int:
        """PUBLISH a JSON trigger on the notifier's Redis channel, as a user would.

        Returns the number of subscribers that received it (the notifier: 1).
        """
        import json

        assert self.client is not None
        return int(await self.client.publish(channel, json.dumps(trigger)))

    async def api(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        timeout_s: float = 15,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Call the notifier's HTTP API over a real socket with the bearer token."""
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            return await http.request(
                method,
                f"http://127.0.0.1:{self.api_port}{path}",
                json=body,
                headers={"Authorization": f"Bearer {self.api_token}", **(headers or {})},
            )

    async def metrics_text(self, name: str) -> str:
        """The Prometheus text of one service's ops port."""
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"http://127.0.0.1:{self.ops[name]}/metrics")
            response.raise_for_status()
            return response.text

    async def correlated(self, correlation_id: str) -> list[tuple[str, Message]]:
        """Every decodable message of every stream carrying ``correlation_id``, as
        ``(stream, message)`` in stream order (streams in catalogue order)."""
        out: list[tuple[str, Message]] = []
        for spec in catalogue.CATALOGUE.values():
            out += [
                (spec.name, m)
                for m in await self.messages(spec)
                if m.correlation_id == correlation_id
            ]
        return out

    async def wait_status(self, plan_id: str, status: str, timeout_s: float = 30) -> PlanView:
        async def found() -> PlanView | None:
            view = await self.view(plan_id)
            return view if view and view.status == status else None

        return await eventually(found, timeout_s, f"{plan_id} {status}", 0.1)

    async def metric(self, name: str, sample: str) -> float | None:
        """The value of one sample line of a service's /metrics (None when absent)."""
        for line in (await self.metrics_text(name)).splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        return None


def accounts_file(**by_account: dict[str, Any]) -> dict[str, Any]:
    """An accounts file: each keyword an account id with its approval/planning/execution."""
    accounts = []
    for account_id, options in by_account.items():
        accounts.append({"id": account_id, **options})
    return {"accounts": accounts}
