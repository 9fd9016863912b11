"""Settings of the gateway-bridge service (environment variables prefixed `BRIDGE_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.kit.settings import ServiceSettings


class GatewayBridgeSettings(ServiceSettings):
    """Connection to IB Gateway, order journal and ops port. Paper port and read-only by default."""

    SERVICE: ClassVar[str] = "gateway-bridge"
    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    ops_port: int = Field(default=9101, ge=0, le=65535, description="/health and /metrics.")
