"""Settings of the console (environment variables prefixed ``CONSOLE_``).

Safe defaults: the web server listens on loopback; with no API token the console refuses
every login (it has nothing to check a login against and nothing to call the API with).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """The web server, the notifier's API it calls, sessions, and the ops port."""

    SERVICE: ClassVar[str] = "console"
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    ops_port: int = Field(default=9106, ge=0, le=65535, description="/health and /metrics.")
    http_host: str = Field(default="127.0.0.1", description="Bind address of the web console.")
    http_port: int = Field(default=8080, ge=0, le=65535)
    api_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The notifier's HTTP API, called server side with the token.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="The notifier's API token: the login of the console and its bearer token.",
    )
    api_timeout_s: float = Field(default=15.0, gt=0)
    ledger_timeout_s: float = Field(default=5.0, gt=0, description="rpc.ledger.v1 answers.")
    session_ttl_s: int = Field(
        default=8 * 3600, gt=0, description="A session ends this long after its login."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set true behind a TLS reverse proxy).",
    )
    login_failures_per_minute: int = Field(
        default=10, gt=0, description="Failed logins allowed per minute, for all clients."
    )
    seed_entries: int = Field(
        default=5000,
        ge=0,
        description="Newest entries of each followed stream read at start (plans, orders, "
        "alerts, gateway, account values) to know the recent state.",
    )
