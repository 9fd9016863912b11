"""Where the local stack lives and which ports it uses (env vars prefixed ``REBALANCER_``)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PASSWORD_FILE = "redis.password"


class StackSettings(BaseSettings):
    """Settings of the local stack started by ``rebalancer up``."""

    model_config = SettingsConfigDict(env_prefix="REBALANCER_", extra="ignore")

    home: Path = Field(default=Path(".rebalancer"), description="Data, logs and reports.")
    redis_port: int = 6390
    ib_port: int = 4002
    ib_admin_port: int = 4003
    bridge_ops_port: int = 9101
    planner_ops_port: int = 9102
    executor_ops_port: int = 9103
    notifier_ops_port: int = 9104
    ledger_ops_port: int = 9105
    console_ops_port: int = 9106
    api_port: int = 8000
    console_port: int = 8080
    scenario: Path | None = None
    accounts_file: Path | None = None
    planner_replicas: int = Field(
        default=1, ge=1, le=8, description="Planners in the planner's consumer group."
    )
    notifier_replicas: int = Field(
        default=1, ge=1, le=8, description="Notifiers in the notifier's consumer group."
    )
    gateway: str | None = Field(
        default=None,
        description="HOST:PORT of the user's own TWS or IB Gateway; none: the embedded emulator.",
    )
    client_id: int = Field(default=17, ge=0, description="The bridge's API client id.")
    allow_orders: bool = Field(
        default=False, description="Let the bridge place orders at the user's gateway."
    )
    live: bool = Field(default=False, description="Also trade live (not DU...) accounts.")

    @property
    def state_path(self) -> Path:
        """Where a running ``up`` records itself."""
        return self.home.resolve() / "stack.json"

    @property
    def password_path(self) -> Path:
        """The local Redis password, generated on the first ``up`` (mode 0600)."""
        return self.home.resolve() / PASSWORD_FILE

    def fallback_redis_url(self) -> str:
        """The Redis of a stack in this home when none is recorded: the configured port,
        with the home's password when it has one."""
        password = read_password(self.password_path)
        return with_password(f"redis://127.0.0.1:{self.redis_port}/0", password)

    def client_redis_url(self) -> str:
        """The Redis a CLI command should use: the running stack's, else the fallback."""
        state = StackState.read(self.state_path)
        return state.client_url() if state is not None else self.fallback_redis_url()


def read_password(path: Path) -> str | None:
    """Return the password kept in ``path``, or None when there is none."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def ensure_password(path: Path) -> str:
    """Return the password kept in ``path``, generating one (readable by its owner only)."""
    existing = read_password(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as sink:
        sink.write(password + "\n")
    return password


def with_password(url: str, password: str | None) -> str:
    """Return ``url`` (``redis://host:port/db``) carrying ``password`` for the default user."""
    if not password or "@" in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://:{quote(password, safe='')}@{rest}"


@dataclass
class StackState:
    """What a running ``up`` writes to ``<home>/stack.json`` for other commands to read."""

    pid: int
    started_at: str
    redis_url: str
    ops_ports: dict[str, int] = field(default_factory=dict)
    ib_port: int = 4002
    ib_admin_port: int = 4003
    api_port: int = 8000
    redis_password_file: str | None = None
    gateway: str | None = None
    """The user's gateway (HOST:PORT) when ``up --gateway`` runs without the emulator."""
    # The pid of each process of the stack and a piece of its command line, so `down` (or
    # the next `up`) can stop the orphans of a supervisor that was killed, and never a
    # stranger that reused a pid.
    children: dict[str, int] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)
    accounts_file: str | None = None

    def client_url(self) -> str:
        """The Redis URL with the stack's password, for clients (never print it)."""
        password = (
            read_password(Path(self.redis_password_file)) if self.redis_password_file else None
        )
        return with_password(self.redis_url, password)

    def write(self, path: Path) -> None:
        """Write atomically, readable by the owner only."""
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            sink.write(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> StackState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def resolve_redis_url(redis_url: str | None, home: Path | None) -> str:
    """The --redis-url option, else the running stack's (``<home>/stack.json``), else the
    configured port (``REBALANCER_REDIS_PORT``, 6390 by default), with the home's password."""
    if redis_url:
        return redis_url
    settings = StackSettings(home=home) if home is not None else StackSettings()
    return settings.client_redis_url()
