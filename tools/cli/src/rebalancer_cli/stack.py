"""The local stack: an embedded Redis, the IB emulator and the four services, as processes.

Each process gets its own session (so Ctrl-C in the terminal reaches only the supervisor,
which then stops everything in order), a log file under ``<home>/logs`` and a prefixed,
coloured view on the console. A crashed service is restarted with a backoff, as
``restart: unless-stopped`` does under docker compose (FastStream exits 0 when Redis loses a
consumer group, so any exit of a service is a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx

from rebalancer_cli.embedded_redis import RedisServer, port_is_open
from rebalancer_cli.stackconfig import StackSettings, StackState

COLOURS = {
    "redis": "\033[31m",
    "ib-emulator": "\033[35m",
    "gateway-bridge": "\033[36m",
    "planner": "\033[32m",
    "executor": "\033[33m",
    "notifier": "\033[34m",
}
RESET = "\033[0m"
LEVEL_COLOURS = {"WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[41m"}
SHOWN_FIELDS = ("plan_id", "account_id", "client_order_id")


class StackAlreadyRunning(RuntimeError):
    """Another ``rebalancer up`` holds the stack's lock."""


@dataclass
class ProcessSpec:
    """One process of the stack."""

    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str | None = None
    port: int | None = None


@dataclass
class Running:
    spec: ProcessSpec
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)


def service_specs(settings: StackSettings, redis_url: str) -> list[ProcessSpec]:
    """Return the processes of the stack after Redis, in start order."""
    home = settings.home.resolve()
    python = sys.executable
    emulator_argv = [
        str(Path(python).parent / "ib-emulator"),
        "--host", "127.0.0.1",
        "--port", str(settings.ib_port),
        "--admin-port", str(settings.ib_admin_port),
    ]  # fmt: skip
    if settings.scenario:
        emulator_argv += ["--scenario", str(settings.scenario.resolve())]
    common = {"PYTHONUNBUFFERED": "1"}
    accounts = {}
    if settings.accounts_file:
        accounts = {"REBALANCER_ACCOUNTS_FILE": str(settings.accounts_file.resolve())}

    def svc(name: str, module: str, prefix: str, port: int, **extra: str) -> ProcessSpec:
        env = {
            **common,
            **accounts,
            f"{prefix}REDIS_URL": redis_url,
            f"{prefix}OPS_PORT": str(port),
            f"{prefix}CONSUMER_NAME": f"{name}-local",
            **{f"{prefix}{k.upper()}": v for k, v in extra.items()},
        }
        return ProcessSpec(
            name=name,
            argv=[python, "-m", module],
            env=env,
            health_url=f"http://127.0.0.1:{port}/health",
            port=port,
        )

    return [
        ProcessSpec("ib-emulator", emulator_argv, common, port=settings.ib_port),
        svc(
            "gateway-bridge",
            "gateway_bridge",
            "BRIDGE_",
            settings.bridge_ops_port,
            ib_host="127.0.0.1",
            ib_port=str(settings.ib_port),
            # The local stack's gateway is always the embedded emulator (paper, fake money), so
            # its bridge may place orders; against a real gateway READ_ONLY stays on by default.
            read_only="false",
            data_dir=str(home / "data" / "gateway-bridge"),
        ),
        svc("planner", "planner", "PLANNER_", settings.planner_ops_port),
        svc(
            "executor",
            "executor",
            "EXECUTOR_",
            settings.executor_ops_port,
            reports_dir=str(home / "reports"),
            data_dir=str(home / "data" / "executor"),
        ),
        svc(
            "notifier",
            "notifier",
            "NOTIFIER_",
            settings.notifier_ops_port,
            api_port=str(settings.api_port),
        ),
    ]


class ConsoleView:
    """Prints each process's lines with a coloured name prefix and a compact rendering."""

    def __init__(self, out: IO[str] | None = None, colour: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.width = max(len(n) for n in COLOURS)

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<{self.width}} |"
        if self.colour:
            prefix = f"{COLOURS.get(name, '')}{prefix}{RESET}"
        self.out.write(f"{prefix} {self._render(text)}\n")
        self.out.flush()

    def _render(self, text: str) -> str:
        try:
            record = json.loads(text)
        except ValueError:
            return text
        if not isinstance(record, dict) or "message" not in record:
            return text
        level = str(record.get("level", ""))
        stamp = str(record.get("ts", ""))[11:19]
        extras = " ".join(f"{k}={record[k]}" for k in SHOWN_FIELDS if record.get(k))
        level_text = f"{level:<7}"
        if self.colour and level in LEVEL_COLOURS:
            level_text = f"{LEVEL_COLOURS[level]}{level_text}{RESET}"
        shown = f"{stamp} {level_text} {record['message']}"
        if extras:
            shown += f"  [{extras}]"
        if record.get("exception"):
            shown += "\n" + str(record["exception"])
        return shown


class Stack:
    """Start, watch and stop the local stack."""

    def __init__(
        self,
        settings: StackSettings,
        view: ConsoleView | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.view = view or ConsoleView()
        self.echo = echo or (lambda text: self.view.line("rebalancer", text))
        self.redis = RedisServer(self.home / "redis", settings.redis_port)
        self.running: dict[str, Running] = {}
        self._lock_file: IO[str] | None = None
        self._stopping = False

    @property
    def state_path(self) -> Path:
        return self.home / "stack.json"

    def acquire(self) -> None:
        """Take the stack's lock, or raise StackAlreadyRunning naming the running one."""
        self.home.mkdir(parents=True, exist_ok=True)
        lock = open(self.home / "stack.lock", "a+")  # noqa: SIM115 (held while running)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            state = StackState.read(self.state_path)
            who = f" (pid {state.pid}, started {state.started_at})" if state else ""
            raise StackAlreadyRunning(
                f"a stack is already running from {self.home}{who}; use `rebalancer status` "
                "to see it, and stop it with Ctrl-C in its terminal or `rebalancer down`"
            ) from None
        self._lock_file = lock

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.state_path.unlink()
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    async def start(self, ready_timeout_s: float = 90.0) -> None:
        """Start Redis, then each process in order, and wait until all are healthy."""
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.echo(f"starting Redis on 127.0.0.1:{self.redis.port} (AOF in {self.redis.data_dir})")
        await asyncio.to_thread(self.redis.start)
        specs = service_specs(self.settings, self.redis.url)
        for spec in specs:
            if spec.port is not None and port_is_open("127.0.0.1", spec.port):
                raise RuntimeError(
                    f"port {spec.port} for {spec.name} is already in use; stop what uses it or "
                    f"choose another port (see `rebalancer up --help`)"
                )
        StackState(
            pid=os.getpid(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            redis_url=self.redis.url,
            ops_ports={s.name: s.port for s in specs if s.health_url and s.port},
            ib_port=self.settings.ib_port,
            ib_admin_port=self.settings.ib_admin_port,
            api_port=self.settings.api_port,
        ).write(self.state_path)
        for spec in specs:
            await self._spawn(spec)
            if spec.name == "ib-emulator":
                await self._wait_port(spec, ready_timeout_s)
        await self._wait_healthy(specs, ready_timeout_s)

    async def _spawn(self, spec: ProcessSpec, restarts: int = 0) -> None:
        env = {**os.environ, **spec.env}
        log_path = self.home / "logs" / f"{spec.name}.log"
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        pump = asyncio.create_task(self._pump(spec, process, log_path))
        self.running[spec.name] = Running(spec, process, pump, restarts)
        self.echo(f"started {spec.name} (pid {process.pid}), log in {log_path}")

    async def _pump(
        self, spec: ProcessSpec, process: asyncio.subprocess.Process, log: Path
    ) -> None:
        assert process.stdout is not None
        with open(log, "a", encoding="utf-8") as sink:  # noqa: ASYNC230 (tiny, local, line-buffered)
            while raw := await process.stdout.readline():
                text = raw.decode(errors="replace").rstrip("\n")
                sink.write(text + "\n")
                sink.flush()
                self.view.line(spec.name, text)
        code = await process.wait()
        if not self._stopping:
            await self._restart(spec, code)

    async def _restart(self, spec: ProcessSpec, code: int) -> None:
        entry = self.running.get(spec.name)
        restarts = (entry.restarts if entry else 0) + 1
        delay = min(30.0, 0.5 * 2 ** min(restarts, 6))
        self.echo(f"{spec.name} exited with code {code}; restarting in {delay:.1f} s")
        await asyncio.sleep(delay)
        if not self._stopping:
            await self._spawn(spec, restarts)

    async def _wait_port(self, spec: ProcessSpec, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if port_is_open("127.0.0.1", spec.port or 0):
                return
            entry = self.running[spec.name]
            if entry.process.returncode is not None:
                raise RuntimeError(f"{spec.name} exited at start; see {self.home}/logs")
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{spec.name} did not open port {spec.port} within {timeout_s:g} s")

    async def _wait_healthy(self, specs: list[ProcessSpec], timeout_s: float) -> None:
        pending = {s.name: s.health_url for s in specs if s.health_url}
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while pending and time.monotonic() < deadline:
                for name, url in list(pending.items()):
                    try:
                        if (await client.get(url)).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                await asyncio.sleep(0.2)
        if pending:
            raise TimeoutError(
                f"not healthy after {timeout_s:g} s: {', '.join(pending)}; "
                f"see their logs in {self.home / 'logs'}"
            )
        self.echo("stack ready: every service reports healthy (`rebalancer status` for details)")

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Stop services in reverse order (SIGTERM, then SIGKILL), then Redis."""
        self._stopping = True
        for name in reversed(list(self.running)):
            entry = self.running[name]
            if entry.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    entry.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(entry.process.wait(), timeout_s)
                except TimeoutError:
                    self.echo(f"{name} did not stop within {timeout_s:g} s; killing it")
                    with contextlib.suppress(ProcessLookupError):
                        entry.process.kill()
                    await entry.process.wait()
            with contextlib.suppress(asyncio.CancelledError):
                await entry.pump
            self.echo(f"stopped {name}")
        await asyncio.to_thread(self.redis.stop)
        self.echo("stopped Redis")


async def run_until_interrupted(stack: Stack) -> None:
    """Start the stack and keep it up until SIGINT or SIGTERM; always stop what started."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        start = asyncio.create_task(stack.start())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({start, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()
            await stop.wait()
        else:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await start
        stack.echo("stopping the stack")
    finally:
        await stack.stop()
