"""What request handlers and background loops may use of the emulator: a small Protocol.

Handlers depend on this, not on the server, so the import graph stays a tree:
``server -> handlers -> context``; ``server -> session``; nothing imports ``server`` back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from .faults import FaultState
from .limits import Limits
from .market import Market
from .matching import MatchingEngine, OrderEvent
from .scenario import Scenario
from .session import Session


class EmulatorContext(Protocol):
    """The emulator as one handler sees it: the books, the clock, the limits, the clients."""

    @property
    def scenario(self) -> Scenario:
        """The scenario the emulator was started with."""
        ...

    @property
    def broker(self) -> MatchingEngine:
        """Accounts, orders and matching."""
        ...

    @property
    def market(self) -> Market:
        """Current quotes."""
        ...

    @property
    def fault_state(self) -> FaultState:
        """Injected faults in force."""
        ...

    @property
    def limits(self) -> Limits:
        """IB's limits in force (market data lines, orders per side, snapshots)."""
        ...

    @property
    def errors_sent(self) -> dict[int, int]:
        """How many of each error/warning code the clients were sent."""
        ...

    def clock(self) -> datetime:
        """Now, as an aware datetime."""
        ...

    def clients(self) -> Iterable[Session]:
        """Every open client connection."""
        ...

    def deliver(self, events: list[OrderEvent], ack: bool = False) -> None:
        """Send order events to the clients that should see them (``ack``: a new order)."""
        ...

    def claim_client_id(self, client_id: int, session: Session) -> bool:
        """Reserve a client id for a session; False if another live session holds it."""
        ...
