"""Entry point of the executor service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

from executor.settings import ExecutorSettings
from shared.kit.service import Service


def create_app(settings: ExecutorSettings | None = None) -> Service:
    """Build the executor service from its settings (read from the environment when None)."""
    settings = settings or ExecutorSettings()
    return Service(settings)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM."""
    create_app().serve_forever()
