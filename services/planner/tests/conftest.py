"""Planner tests: make the shared test kit (builders, fake bridge) importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
