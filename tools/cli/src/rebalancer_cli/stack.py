"""The local stack: an embedded Redis, the IB emulator, the four services, the ledger and the web console, as processes.

Each process gets its own session (so Ctrl-C in the terminal reaches only the supervisor,
which then stops everything in order), a log file under ``<home>/logs`` and a prefixed,
coloured view on the console. A crashed process (Redis included) is restarted with a
backoff, as ``restart: unless-stopped`` does under docker compose (FastStream exits 0 when
Redis loses a consumer group, so any exit of a service is a restart); the backoff starts over
once a process has run for ``STABLE_AFTER_S``.

Children die with their supervisor: on Linux each gets SIGTERM when ``up`` dies, even by
``kill -9``; elsewhere ``rebalancer down`` or the next ``up`` stops them from the pids recorded
in ``stack.json``. The local Redis requires a password, generated on the first ``up`` and kept
in ``<home>/redis.password`` (mode 0600).
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
import redis.asyncio as aioredis

from rebalancer_cli.embedded_redis import RedisServer, port_is_open
from rebalancer_cli.gateway import GatewayProbe, parse_address, port_note, probe_gateway
from rebalancer_cli.processes import die_with_parent, orphans_of, stop_processes
from rebalancer_cli.scaleout import scale_out
from rebalancer_cli.stackconfig import StackSettings, StackState, ensure_password, with_password

COLOURS = {
    "redis": "\033[31m",
    "ib-emulator": "\033[35m",
    "gateway-bridge": "\033[36m",
    "planner": "\033[32m",
    "executor": "\033[33m",
    "notifier": "\033[34m",
    "ledger": "\033[94m",
    "console": "\033[96m",
}
RESET = "\033[0m"
LEVEL_COLOURS = {"WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[41m"}
SHOWN_FIELDS = ("plan_id", "account_id", "client_order_id")
STABLE_AFTER_S = 60.0
"""A process that ran this long before exiting is restarted with the shortest backoff again."""
READ_CHUNK = 64 * 1024
MAX_SHOWN_CHARS = 2_000
"""Longer lines are cut on the console (the log file keeps every byte)."""
MARKERS = {
    "redis": "redis-server",
    "ib-emulator": "ib-emulator",
    "gateway-bridge": "gateway_bridge",
    "planner": "planner",
    "executor": "executor",
    "notifier": "notifier",
    "ledger": "ledger",
    "console": "console",
}


class StackAlreadyRunning(RuntimeError):
    """Another ``rebalancer up`` holds the stack's lock."""


class StackConfigError(RuntimeError):
    """A service refused its configuration (exit code 2): restarting it would loop."""


CONFIG_EXIT_CODE = 2


@dataclass
class ProcessSpec:
    """One process of the stack."""

    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str | None = None
    port: int | None = None
    marker: str = ""
    """A piece of the command line that identifies this process (see ``orphans_of``)."""


@dataclass
class Running:
    spec: ProcessSpec
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)


def service_specs(
    settings: StackSettings, redis_url: str, password_file: Path | None = None
) -> list[ProcessSpec]:
    """Return the processes of the stack after Redis, in start order."""
    home = settings.home.resolve()
    python = sys.executable
    emulator_argv = [
        str(Path(python).parent / "ib-emulator"),
        "--host", "127.0.0.1",
        "--port", str(settings.ib_port),
        "--admin-port", str(settings.ib_admin_port),
        # The bridge's client id is the emulator's Master API client ID, so the bridge hears
        # executions of orders placed by any other client (TWS, the phone, a script).
        "--master-client-id", str(settings.client_id),
    ]  # fmt: skip
    if settings.scenario:
        emulator_argv += ["--scenario", str(settings.scenario.resolve())]
    common = {"PYTHONUNBUFFERED": "1"}
    own = parse_address(settings.gateway) if settings.gateway else None
    ib_host, ib_port = own or ("127.0.0.1", settings.ib_port)
    accounts = {}
    if settings.accounts_file:
        accounts = {"REBALANCER_ACCOUNTS_FILE": str(settings.accounts_file.resolve())}

    def svc(name: str, module: str, prefix: str, port: int, **extra: str) -> ProcessSpec:
        auth = {f"{prefix}REDIS_PASSWORD_FILE": str(password_file)} if password_file else {}
        env = {
            **common,
            **accounts,
            **auth,
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
            marker=MARKERS[name],
        )

    emulator = ProcessSpec(
        "ib-emulator", emulator_argv, common, port=settings.ib_port, marker="ib-emulator"
    )
    return [
        *([] if own else [emulator]),
        svc(
            "gateway-bridge",
            "gateway_bridge",
            "BRIDGE_",
            settings.bridge_ops_port,
            ib_host=ib_host,
            ib_port=str(ib_port),
            ib_client_id=str(settings.client_id),
            # The embedded emulator is paper money: its bridge may place orders. The user's own
            # gateway stays read-only unless `--allow-orders`, and live accounts need `--live`.
            read_only="false" if own is None or settings.allow_orders else "true",
            allow_live="true" if settings.live else "false",
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
        svc(
            "ledger",
            "ledger",
            "LEDGER_",
            settings.ledger_ops_port,
            data_dir=str(home / "data" / "ledger"),
        ),
        svc(
            "console",
            "console",
            "CONSOLE_",
            settings.console_ops_port,
            http_port=str(settings.console_port),
            api_url=f"http://127.0.0.1:{settings.api_port}",
            # The console's login is the notifier's API token (passed on when set for `up`).
            **_console_token(),
        ),
    ]


def _console_token() -> dict[str, str]:
    token = os.environ.get("CONSOLE_API_TOKEN") or os.environ.get("NOTIFIER_API_TOKEN")
    return {"api_token": token} if token else {}


class ConsoleView:
    """Prints each process's lines with a coloured name prefix and a compact rendering."""

    def __init__(self, out: IO[str] | None = None, colour: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.width = max(len(n) for n in COLOURS)

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<{self.width}} |"
        if self.colour:
            prefix = f"{COLOURS.get(name.partition('.')[0], '')}{prefix}{RESET}"
        shown = self._render(text)
        if len(shown) > MAX_SHOWN_CHARS:
            shown = f"{shown[:MAX_SHOWN_CHARS]}... [{len(shown):,} characters; see the log file]"
        self.out.write(f"{prefix} {shown}\n")
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
        stable_after_s: float = STABLE_AFTER_S,
    ) -> None:
        self.settings = settings
        self.stable_after_s = stable_after_s
        self.home = settings.home.resolve()
        self.view = view or ConsoleView()
        self.echo = echo or (lambda text: self.view.line("rebalancer", text))
        self.redis = RedisServer(self.home / "redis", settings.redis_port, log_to_file=False)
        self.running: dict[str, Running] = {}
        self._lock_file: IO[str] | None = None
        self._stopping = False
        self._state: StackState | None = None
        self._password: str | None = None
        self.failed = asyncio.Event()
        self.failure: str | None = None
        self.probe: GatewayProbe | None = None

    @property
    def state_path(self) -> Path:
        return self.home / "stack.json"

    @property
    def redis_url(self) -> str:
        """The stack's Redis URL with its password, for clients in this process."""
        return with_password(self.redis.url, self._password)

    def acquire(self) -> None:
        """Take the stack's lock, or raise StackAlreadyRunning naming the running one.

        Holding the lock proves the previous supervisor of this home is gone; processes it
        left behind (where children cannot be tied to their parent) are stopped first.
        """
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
        self._stop_orphans()

    def _stop_orphans(self) -> None:
        previous = StackState.read(self.state_path)
        if previous is None:
            return
        left = orphans_of(previous.children, previous.markers)
        if left:
            listed = ", ".join(f"{name} (pid {pid})" for name, pid in left.items())
            self.echo(f"stopping processes left by a stack whose supervisor died: {listed}")
            stop_processes(left.values())
        with contextlib.suppress(OSError):
            self.state_path.unlink()

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
        if self.settings.gateway:
            await self._probe_gateway()
        self._password = ensure_password(self.settings.password_path)
        specs = service_specs(self.settings, self.redis.url, self.settings.password_path)
        # Logins and executor shards of the accounts file, planner/notifier replicas.
        specs = scale_out(self.settings, specs)
        for spec in [self._redis_spec(), *specs]:
            if spec.port is not None and port_is_open("127.0.0.1", spec.port):
                raise RuntimeError(
                    f"port {spec.port} for {spec.name} is already in use; stop what uses it or "
                    f"choose another port (see `rebalancer up --help`)"
                )
        self._state = StackState(
            pid=os.getpid(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            redis_url=self.redis.url,
            ops_ports={s.name: s.port for s in specs if s.health_url and s.port},
            ib_port=self.settings.ib_port,
            ib_admin_port=self.settings.ib_admin_port,
            api_port=self.settings.api_port,
            redis_password_file=str(self.settings.password_path),
            accounts_file=(
                str(self.settings.accounts_file.resolve()) if self.settings.accounts_file else None
            ),
            gateway=self.settings.gateway,
        )
        self._state.write(self.state_path)
        self.echo(f"starting Redis on 127.0.0.1:{self.redis.port} (AOF in {self.redis.data_dir})")
        await self.spawn(self._redis_spec())
        await self._wait_redis(ready_timeout_s)
        for spec in specs:
            await self.spawn(spec)
            if spec.name.partition(".")[0] == "ib-emulator":
                await self._wait_port(spec, ready_timeout_s)
        await self._wait_healthy(specs, ready_timeout_s)

    async def _probe_gateway(self) -> None:
        """Ask the user's gateway before anything starts; say which accounts could trade."""
        host, port = parse_address(self.settings.gateway or "")
        probe_id = 900 + self.settings.client_id % 100  # not the bridge's id
        self.probe = await asyncio.to_thread(probe_gateway, host, port, client_id=probe_id)
        for line in self.gateway_summary(self.probe):
            self.echo(line)

    def gateway_summary(self, probe: GatewayProbe) -> list[str]:
        """What ``up`` prints about the user's gateway before any order can go."""
        s = self.settings
        named = ", ".join(
            f"{a} ({'paper' if a in probe.paper else 'LIVE'})" for a in probe.accounts
        )
        lines = [
            f"gateway {probe.host}:{probe.port} answers the TWS API (server version "
            f"{probe.server_version}); accounts: {named or 'none'}"
        ]
        if note := port_note(probe.port):
            lines.append(f"careful: {note}")
        if not s.allow_orders:
            lines.append("read-only: the bridge places no order (pass --allow-orders to trade)")
        elif probe.paper:
            lines.append(f"orders allowed for the paper accounts {', '.join(probe.paper)}")
        if probe.live and not s.live:
            lines.append(
                f"live accounts {', '.join(probe.live)}: every order refused (pass --live as "
                "well to trade them)"
            )
        elif probe.live and s.allow_orders:
            lines.append(f"LIVE TRADING (real money) allowed for {', '.join(probe.live)}")
        return lines

    def _redis_spec(self) -> ProcessSpec:
        self.redis.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [*self.redis.command(), "--loglevel", "warning"]
        if self._password:
            # In a file readable by its owner only, not on the command line (`ps` shows that).
            conf = self.redis.data_dir / "auth.conf"
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as sink:
                sink.write(f'requirepass "{self._password}"\n')
            argv.insert(1, str(conf))  # redis-server [config file] [--options]
        return ProcessSpec("redis", argv, {}, port=self.redis.port, marker=MARKERS["redis"])

    async def spawn(self, spec: ProcessSpec, restarts: int = 0) -> None:
        """Start one process and watch it: its output to its log and the console, and a
        restart with backoff whenever it exits (until the stack stops)."""
        env = {**os.environ, **spec.env}
        log_path = self.home / "logs" / f"{spec.name}.log"
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()),
        )
        pump = asyncio.create_task(self._pump(spec, process, log_path))
        self.running[spec.name] = Running(spec, process, pump, restarts)
        if self._state is not None:
            self._state.children[spec.name] = process.pid
            self._state.markers[spec.name] = spec.marker
            self._state.write(self.state_path)
        self.echo(f"started {spec.name} (pid {process.pid}), log in {log_path}")

    async def _pump(
        self, spec: ProcessSpec, process: asyncio.subprocess.Process, log: Path
    ) -> None:
        """Copy the child's output to its log and the console until it exits, then restart it.

        Reads chunks, not lines: a line longer than asyncio's 64 KiB limit would otherwise
        kill the reader, and the child would then block for good writing its output.
        """
        assert process.stdout is not None
        with open(log, "ab") as sink:  # noqa: ASYNC230 (local file, flushed per chunk)
            pending, skipping = b"", False
            while chunk := await process.stdout.read(READ_CHUNK):
                sink.write(chunk)
                sink.flush()
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    if not skipping:
                        self._show(spec.name, raw)
                    skipping = False
                if len(pending) > READ_CHUNK and not skipping:
                    # A very long line: show its start now, skip the rest up to its end.
                    self._show(spec.name, pending, cut=True)
                    skipping = True
                if skipping:
                    pending = b""
            if pending and not skipping:
                self._show(spec.name, pending)
        code = await process.wait()
        if not self._stopping:
            await self._restart(spec, code)

    def _show(self, name: str, raw: bytes, *, cut: bool = False) -> None:
        text = raw.decode(errors="replace").rstrip("\r")
        if cut:
            text += f"... [cut: the whole line is in {self.home / 'logs' / (name + '.log')}]"
        try:
            self.view.line(name, text)
        except (OSError, ValueError) as error:  # a closed terminal must not stop the pump
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"rebalancer: console output failed: {error}\n")

    async def _restart(self, spec: ProcessSpec, code: int) -> None:
        if code == CONFIG_EXIT_CODE and spec.name != "redis":
            # The service said why in its output; starting it again would only repeat that.
            self.failure = (
                f"{spec.name} refused its configuration (exit code 2, the reason is above and "
                f"in {self.home / 'logs' / (spec.name + '.log')}); fix it and run `up` again"
            )
            self.failed.set()
            return
        entry = self.running.get(spec.name)
        restarts = entry.restarts if entry else 0
        if entry is not None and time.monotonic() - entry.started >= self.stable_after_s:
            restarts = 0  # it ran a while: this is a new failure, not a crash loop
        restarts += 1
        delay = min(30.0, 0.5 * 2 ** min(restarts, 6))
        self.echo(f"{spec.name} exited with code {code}; restarting in {delay:.1f} s")
        await asyncio.sleep(delay)
        if self._stopping:
            return
        await self.spawn(spec, restarts)
        if spec.name == "redis":
            with contextlib.suppress(TimeoutError, RuntimeError):
                await self._wait_redis(30.0)

    async def _wait_redis(self, timeout_s: float) -> None:
        """Wait until Redis answers PING and has loaded its AOF."""
        deadline = time.monotonic() + timeout_s
        client = aioredis.Redis.from_url(self.redis_url, socket_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                entry = self.running["redis"]
                if entry.process.returncode is not None:
                    raise RuntimeError(
                        f"redis-server exited at start; see {self.home}/logs/redis.log"
                    )
                with contextlib.suppress(aioredis.RedisError, OSError):
                    info = await client.info("persistence")
                    if not info.get("loading", 0):
                        return
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise TimeoutError(
            f"redis-server on port {self.redis.port} did not answer within {timeout_s:g} s"
        )

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
                if self.failure:
                    raise StackConfigError(self.failure)
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
        """Stop services in reverse order (SIGTERM, then SIGKILL), Redis last."""
        self._stopping = True
        for name in reversed(list(self.running)):
            entry = self.running[name]
            if entry.process.returncode is not None:
                entry.pump.cancel()  # exited before the stop: its pump waits to restart it
            else:
                with contextlib.suppress(ProcessLookupError):
                    entry.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(entry.process.wait(), timeout_s)
                except TimeoutError:
                    self.echo(f"{name} did not stop within {timeout_s:g} s; killing it")
                    with contextlib.suppress(ProcessLookupError):
                        entry.process.kill()
                    await entry.process.wait()
            try:
                await asyncio.wait_for(entry.pump, timeout_s)
            except (TimeoutError, asyncio.CancelledError):
                entry.pump.cancel()
            except Exception as error:  # a broken pump must not stop the shutdown
                self.echo(f"output of {name} failed: {error!r}")
            self.echo("stopped Redis" if name == "redis" else f"stopped {name}")


async def run_until_interrupted(stack: Stack) -> None:
    """Start the stack and keep it up until SIGINT or SIGTERM; always stop what started."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        start = asyncio.create_task(stack.start())
        stopper = asyncio.create_task(stop.wait())
        failed = asyncio.create_task(stack.failed.wait())
        done, _ = await asyncio.wait({start, stopper, failed}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()
            await asyncio.wait({stopper, failed}, return_when=asyncio.FIRST_COMPLETED)
        else:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await start
        stack.echo("stopping the stack")
    finally:
        await stack.stop()
        for task in (stopper, failed):
            task.cancel()
    if stack.failure:
        raise StackConfigError(stack.failure)
