"""Each account's effective planning policy (the accounts file over the service's defaults)."""

from __future__ import annotations

from typing import Any

from shared.accounts import Accounts
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
