"""Limits IB enforces that clients must cope with, each switchable (``None`` means off).

Defaults are IB's: 100 concurrent market data lines (error 101 beyond), 20 working orders
per contract, side and account (error 201), and a snapshot holding a line for the 11 s
IB takes to end it. See docs/ib-emulator.md for the sources.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field

LIMIT_NAMES = frozenset({"market_data_lines", "orders_per_contract_side", "snapshot_seconds"})


@dataclass
class Limits:
    """The limits in force, and the snapshot lines currently held."""

    market_data_lines: int | None = 100
    orders_per_contract_side: int | None = 20
    snapshot_seconds: float | None = 11.0
    _snapshots: deque[float] = field(default_factory=deque, repr=False)

    def snapshot_lines(self, now: float) -> int:
        """Lines held by snapshots requested within the last ``snapshot_seconds``."""
        window = self.snapshot_seconds or 0.0
        while self._snapshots and now - self._snapshots[0] >= window:
            self._snapshots.popleft()
        return len(self._snapshots)

    def hold_snapshot_line(self, now: float) -> None:
        """Count a snapshot against the lines for its window."""
        if self.snapshot_seconds:
            self._snapshots.append(now)

    def update(self, **changes: float | None) -> None:
        """Change some limits by name; ``None`` switches one off, an omitted one is kept."""
        for name, value in changes.items():
            if name not in LIMIT_NAMES:
                raise ValueError(f"unknown limit {name!r}; known: {sorted(LIMIT_NAMES)}")
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise ValueError(f"{name} must be a non-negative number or null, got {value!r}")
            if name != "snapshot_seconds" and value is not None:
                value = int(value)
            setattr(self, name, value)
        self._snapshots.clear()

    def snapshot(self) -> dict[str, object]:
        """The limits as JSON-ready data."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}
