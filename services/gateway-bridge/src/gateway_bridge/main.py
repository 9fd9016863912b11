"""Entry point of the gateway-bridge service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

from gateway_bridge.settings import GatewayBridgeSettings
from shared.kit.service import Service


def create_app(settings: GatewayBridgeSettings | None = None) -> Service:
    """Build the gateway-bridge service from its settings (read from the environment when None)."""
    settings = settings or GatewayBridgeSettings()
    return Service(settings)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM."""
    create_app().serve_forever()
