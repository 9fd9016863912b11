"""Fault injection: the state that bends the emulator's behaviour, and the controls for it.

``FaultState`` is plain data read by the broker and the sessions. ``Faults`` is the control
surface used by tests in-process and by the admin HTTP API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Protocol

RejectMode = Literal["reject", "inactive"]


@dataclass
class FaultState:
    """Current faults. Defaults mean 'behave like a healthy gateway'."""

    reject_remaining: int = 0
    reject_code: int = 201
    reject_reason: str = "Rejected by fault injection"
    reject_mode: RejectMode = "reject"
    hold_fills: bool = False
    partial_fill_fraction: float | None = None
    ack_delay_seconds: float = 0.0
    pacing_enforced: bool = False
    pacing_limit: int = 50
    pacing_max_violations: int = 3
    nan_prices: bool = False
    lag_account_values: bool = False

    def take_rejection(self) -> tuple[RejectMode, int, str] | None:
        """Consume one pending rejection, if any."""
        if self.reject_remaining <= 0:
            return None
        self.reject_remaining -= 1
        return self.reject_mode, self.reject_code, self.reject_reason


class FaultActions(Protocol):
    """What the server does for faults that act on connections."""

    def drop_connections(self) -> int: ...

    def connectivity_blip(self, lost_seconds: float, restore_code: int) -> None: ...

    def refuse_connections(self, seconds: float) -> None: ...

    def competing_session(self) -> int: ...

    def prices_changed(self) -> None: ...

    def fills_may_proceed(self) -> None: ...


class Faults:
    """Control surface for fault injection (in-process and behind the admin API)."""

    def __init__(self, state: FaultState, actions: FaultActions) -> None:
        self.state = state
        self._actions = actions

    def reject_next(
        self,
        n: int = 1,
        code: int = 201,
        reason: str = "Rejected by fault injection",
        mode: RejectMode = "reject",
    ) -> None:
        """Reject the next ``n`` orders: error ``code`` (mode reject) or status Inactive."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if mode not in ("reject", "inactive"):
            raise ValueError("mode must be 'reject' or 'inactive'")
        self.state.reject_remaining = n
        self.state.reject_code = code
        self.state.reject_reason = reason
        self.state.reject_mode = mode

    def hold_fills(self, enabled: bool = True) -> None:
        """Keep orders working without filling (released fills happen at once)."""
        self.state.hold_fills = enabled
        if not enabled:
            self._actions.fills_may_proceed()

    def lag_account_values(self, enabled: bool = True) -> None:
        """Send account values after a fill only with the periodic update, as IB does (its
        values trail the fills by up to 3 minutes); positions and portfolio rows stay prompt."""
        self.state.lag_account_values = enabled

    def partial_fills(self, fraction: float | None) -> None:
        """Fill each order in slices of ``fraction`` of its size (None: scenario default)."""
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        self.state.partial_fill_fraction = fraction

    def delay_acks(self, seconds: float) -> None:
        """Delay the first openOrder/orderStatus of every new order."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self.state.ack_delay_seconds = seconds

    def pacing(self, enforced: bool = True, limit: int = 50, max_violations: int = 3) -> None:
        """Enforce IB's message rate limit: error 100, then disconnect when abused."""
        self.state.pacing_enforced = enforced
        self.state.pacing_limit = limit
        self.state.pacing_max_violations = max_violations

    def nan_prices(self, enabled: bool = True) -> None:
        """Serve missing prices: no price ticks, so ib_async reports NaN."""
        self.state.nan_prices = enabled
        self._actions.prices_changed()

    def drop_connections(self) -> int:
        """Close every client connection now; return how many were closed."""
        return self._actions.drop_connections()

    def connectivity_lost(self, restore_after: float = 1.0, restore_code: int = 1102) -> None:
        """Send 1100, then 1101 (data lost) or 1102 (data kept) after a delay."""
        if restore_code not in (1101, 1102):
            raise ValueError("restore_code must be 1101 or 1102")
        self._actions.connectivity_blip(restore_after, restore_code)

    def refuse_connections(self, seconds: float) -> None:
        """Drop everyone and stop listening for a while, like the daily restart."""
        self._actions.refuse_connections(seconds)

    def competing_session(self) -> int:
        """Send 10197 for every market data subscription; return how many were told."""
        return self._actions.competing_session()

    def reset(self) -> None:
        """Clear every fault."""
        fresh = FaultState()
        for k, v in asdict(fresh).items():
            setattr(self.state, k, v)
        self._actions.fills_may_proceed()
        self._actions.prices_changed()

    def snapshot(self) -> dict[str, object]:
        """Current fault state as JSON-ready data."""
        return asdict(self.state)
