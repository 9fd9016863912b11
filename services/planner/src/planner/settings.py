"""Settings of the planner service (environment variables prefixed `PLANNER_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings


class PlannerSettings(ServiceSettings):
    """Planning defaults and ops port."""

    SERVICE: ClassVar[str] = "planner"
    model_config = SettingsConfigDict(env_prefix="PLANNER_", extra="ignore")

    ops_port: int = Field(default=9102, ge=0, le=65535, description="/health and /metrics.")
