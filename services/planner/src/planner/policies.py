"""Which accounts an allocation names, and each account's effective planning policy."""

from __future__ import annotations

from typing import Any

from shared.accounts import Accounts
from shared.contracts.allocations import TargetAllocationSet
from shared.policy import PlanningPolicy, merge_policy


class AccountPolicies:
    """The accounts file's policies, with a default for accounts the file does not list.

    The default is ``PlanningPolicy()`` with the service's ``default_planning`` and then the
    file's ``defaults.planning`` applied, so an unlisted account gets what a listed account
    without overrides gets.
    """

    def __init__(self, accounts: Accounts, default_overrides: dict[str, Any] | None = None) -> None:
        self._accounts = accounts
        default = merge_policy(PlanningPolicy(), default_overrides)
        if accounts.file is not None:
            default = merge_policy(default, accounts.file.defaults.planning)
        self.default = default

    def policy(self, account_id: str) -> PlanningPolicy:
        """Return the effective planning policy of ``account_id``."""
        return self._accounts.planning_policy(account_id, self.default)

    def accounts_of(self, event: TargetAllocationSet) -> tuple[str, ...]:
        """Return the accounts to plan for: those named, else the group's members (sorted)."""
        if event.account_ids:
            return tuple(dict.fromkeys(event.account_ids))
        if event.group:
            return tuple(sorted(a.id for a in self._accounts.group(event.group)))
        return ()
