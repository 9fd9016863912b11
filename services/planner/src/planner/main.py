"""Entry point of the planner service: `create_app` is the one place dependencies are chosen."""

from __future__ import annotations

from planner.settings import PlannerSettings
from shared.kit.service import Service


def create_app(settings: PlannerSettings | None = None) -> Service:
    """Build the planner service from its settings (read from the environment when None)."""
    settings = settings or PlannerSettings()
    return Service(settings)


def run() -> None:
    """Console script: serve until SIGINT/SIGTERM."""
    create_app().serve_forever()
