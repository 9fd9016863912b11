"""The planner's one outside dependency: the bridge's portfolio view, behind a Protocol.

The adapter is the kit's :class:`~shared.kit.portfolio.PortfolioClient` (the executor and the
notifier use the same one); a fake in the tests satisfies the same Protocol.
"""

from __future__ import annotations

from typing import Protocol

from shared.contracts.portfolio import PortfolioView


class PortfolioSource(Protocol):
    """Where the planner gets an account's positions, cash and quotes."""

    async def get(
        self, account_id: str, symbols: tuple[str, ...] = (), correlation_id: str | None = None
    ) -> PortfolioView:
        """Return the account's view, or raise ``PortfolioUnavailableError`` saying why."""
        ...
