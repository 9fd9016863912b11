"""Settings of the executor service (environment variables prefixed `EXECUTOR_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings


class ExecutorSettings(ServiceSettings):
    """Approval mode, risk limits and ops port. Dry run by default."""

    SERVICE: ClassVar[str] = "executor"
    model_config = SettingsConfigDict(env_prefix="EXECUTOR_", extra="ignore")

    ops_port: int = Field(default=9103, ge=0, le=65535, description="/health and /metrics.")
