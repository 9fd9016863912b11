"""Fixtures of the cross-service tests: the real stack as processes (see ``e2e_stack.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
