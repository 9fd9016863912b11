"""Fixtures of the deploy tests: the compose file as data, and the external tools they need.

The tools come from Debian packages (bookworm): ``docker-compose``, ``prometheus`` (promtool and
the server), ``prometheus-redis-exporter``, ``redis-server``. Locally a missing tool skips the
test with the install line; in CI (``CI=true``) it fails, so a CI image without the package can
never pass these tests silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# tool -> the Debian (bookworm) package that ships it
PACKAGES = {
    "docker-compose": "docker-compose",
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
    "redis-server": "redis-server",
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(name: str) -> str:
    """Return the path of ``name``; skip (locally) or fail (CI) naming its Debian package."""
    path = shutil.which(name)
    if path:
        return path
    message = (
        f"`{name}` is not on PATH; install the Debian package: "
        f"apt-get install -y {PACKAGES.get(name, name)}"
    )
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """``tool("promtool")`` -> its path, or skip/fail naming the package to install."""
    return require_tool


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml with its YAML anchors and merge keys resolved (no interpolation)."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())
