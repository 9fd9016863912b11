"""Where the local stack lives and which ports it uses (env vars prefixed ``REBALANCER_``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REDIS_URL = "redis://127.0.0.1:6390/0"


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
    api_port: int = 8000
    scenario: Path | None = None
    accounts_file: Path | None = None


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

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: Path) -> StackState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def resolve_redis_url(redis_url: str | None, home: Path | None) -> str:
    """The --redis-url option, else the running stack's (``<home>/stack.json``), else 6390."""
    if redis_url:
        return redis_url
    settings = StackSettings(home=home) if home is not None else StackSettings()
    state = StackState.read(settings.home.resolve() / "stack.json")
    return state.redis_url if state is not None else DEFAULT_REDIS_URL
