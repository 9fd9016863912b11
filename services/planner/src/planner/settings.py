"""Settings of the planner service (environment variables prefixed `PLANNER_`)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings


class PlannerSettings(ServiceSettings):
    """Ops port, the bridge's answer time, and the planning defaults for unlisted accounts."""

    SERVICE: ClassVar[str] = "planner"
    model_config = SettingsConfigDict(env_prefix="PLANNER_", extra="ignore")

    ops_port: int = Field(default=9102, ge=0, le=65535, description="/health and /metrics.")
    portfolio_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long to wait for the bridge's PortfolioView before rejecting the plan.",
    )
    default_planning: dict[str, Any] = Field(
        default_factory=dict,
        description="PlanningPolicy overrides (JSON) for accounts the accounts file does not "
        "list, applied before the file's own `defaults.planning`.",
    )
