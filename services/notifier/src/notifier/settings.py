"""Settings of the notifier service (environment variables prefixed `NOTIFIER_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    """Trigger channels, HTTP API, alert destinations and ops port."""

    SERVICE: ClassVar[str] = "notifier"
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    ops_port: int = Field(default=9104, ge=0, le=65535, description="/health and /metrics.")
