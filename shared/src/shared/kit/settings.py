"""Settings base for every service: an env prefix per service, secrets readable from files.

A secret field (``SecretStr``) can be given directly (``PLANNER_API_TOKEN=...``), through a
file named by ``<NAME>_FILE`` (``PLANNER_API_TOKEN_FILE=/run/secrets/token``, the Docker
secrets convention), or as a file named after the prefixed field in ``secrets_dir``
(``/run/secrets/planner_api_token``; ``/run/secrets`` by default). Every default is the safe one.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class SecretFileError(ValueError):
    """A ``*_FILE`` variable names a file that cannot be read."""


class _SecretFileSource(PydanticBaseSettingsSource):
    """Reads ``<PREFIX><FIELD>_FILE`` for every field, the Docker secrets convention."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        prefix = self.config.get("env_prefix", "")
        variable = f"{prefix}{field_name}_FILE".upper()
        path = os.environ.get(variable)
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8").strip(), field_name, False
        except OSError as error:
            raise SecretFileError(
                f"{variable} points to {path!r}, which cannot be read ({error.strerror}); "
                "fix the path or the file's permissions"
            ) from None

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


def default_consumer_name(service: str) -> str:
    """Return a consumer name stable across restarts of one replica: service and host."""
    return f"{service}-{socket.gethostname()}"


class ServiceSettings(BaseSettings):
    """Settings every service shares; subclasses set ``SERVICE`` and an ``env_prefix``."""

    SERVICE: ClassVar[str] = "service"

    model_config = SettingsConfigDict(
        env_prefix="REBALANCER_",
        extra="ignore",
        secrets_dir="/run/secrets" if Path("/run/secrets").is_dir() else None,
        validate_default=True,
    )

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis holding the streams. Put the password in redis_password, not here.",
    )
    redis_username: str = Field(default="default", description="Redis ACL user.")
    redis_password: SecretStr | None = None
    redis_max_connections: int = Field(
        default=512,
        ge=8,
        description="Connections per pool, opened only as needed (redis-py's default of 100 "
        "fails outright under a burst of concurrent publishes).",
    )
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=9100, ge=0, le=65535, description="/health and /metrics.")
    log_level: str = "INFO"
    consumer_name: str | None = Field(
        default=None, description="Stable consumer name; defaults to <service>-<hostname>."
    )
    reclaim_idle_ms: int = Field(
        default=30_000, ge=100, description="A pending message idle this long is reclaimed."
    )
    read_batch_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Entries one XREADGROUP takes (handled one by one). Replicas of one group "
        "share a burst only entry by entry when this is small: 1 for services whose handlers "
        "are slow (the planner's), so a second replica takes the next entry at once.",
    )
    max_deliveries: int = Field(
        default=5, ge=1, description="Deliveries before a failing message is dead-lettered."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order: explicit arguments, environment, ``*_FILE`` files, .env, secrets_dir."""
        return (
            init_settings,
            env_settings,
            _SecretFileSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @property
    def group(self) -> str:
        """Consumer group of this service: its name, shared by its replicas."""
        return self.SERVICE

    @property
    def consumer(self) -> str:
        """Consumer name of this replica."""
        return self.consumer_name or default_consumer_name(self.SERVICE)

    def secret_values(self) -> list[str]:
        """Return every secret value this settings object holds (for log redaction)."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            items = value if isinstance(value, list | tuple) else [value]  # a list of URLs
            for item in items:
                if isinstance(item, SecretStr) and item.get_secret_value():
                    values.append(item.get_secret_value())
        return values
