"""Entry point of the notifier service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

from notifier.settings import NotifierSettings
from shared.kit.service import Service


def create_app(settings: NotifierSettings | None = None) -> Service:
    """Build the notifier service from its settings (read from the environment when None)."""
    settings = settings or NotifierSettings()
    return Service(settings)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM."""
    create_app().serve_forever()
