"""Which accounts the bridge may trade: the accounts file, read by the bridge itself.

Defence in depth: anyone who can write to the command stream could otherwise trade any
account IB serves. The executor already trades only accounts whose approval is ``manual`` or
``auto``; the bridge checks the same file again, independently, for every SubmitOrder. No
file, an unreadable file, an account not in it, or one in ``dry_run``: the order is refused
with a sentence saying which. The file is read again when it changes (its modification time),
so editing it does not need a restart; a file that became invalid refuses every order until
it is fixed (fail closed).
"""

from __future__ import annotations

import logging
from pathlib import Path

from shared.accounts import ACCOUNTS_FILE_ENV, Accounts, AccountsFileError, load_accounts
from shared.contracts.base import Reason
from shared.policy import ApprovalMode
from shared.topology import DEFAULT, label, orders_stream

log = logging.getLogger(__name__)

TRADING_APPROVALS = frozenset({ApprovalMode.MANUAL, ApprovalMode.AUTO})


class TradingPermissions:
    """The accounts file's approval mode per account, kept current."""

    def __init__(
        self, path: Path | None, accounts: Accounts | None = None, *, login: str = DEFAULT
    ) -> None:
        self._login = login
        self._path = path
        self._accounts = accounts
        self._error: str | None = None
        self._mtime: float | None = None
        if accounts is None:
            self._reload()

    def check(self, account_id: str) -> Reason | None:
        """Return why ``account_id`` may not trade, or None."""
        self._reload()
        if self._accounts is None:
            if self._path is None:
                return Reason(
                    code="not_tradable",
                    field="account_id",
                    message="the bridge has no accounts file and trades no account; set "
                    f"{ACCOUNTS_FILE_ENV} to the accounts file (accounts with approval "
                    "manual or auto may trade)",
                )
            return Reason(
                code="not_tradable",
                field="account_id",
                message=f"the accounts file cannot be used ({self._error}); every order is "
                "refused until it is fixed",
            )
        account = self._accounts.get(account_id)
        where = self._path or "the accounts file"
        if account is None:
            return Reason(
                code="not_tradable",
                field="account_id",
                message=f"account {account_id!r} is not in {where}; add it with approval "
                "manual or auto to trade it",
            )
        approval = account.execution.approval
        if approval not in TRADING_APPROVALS:
            return Reason(
                code="dry_run_account",
                field="account_id",
                message=f"account {account_id} has approval {approval.value} in {where}, so "
                "it never trades; set approval to manual or auto to trade it",
            )
        owner = account.config.login or DEFAULT
        if owner != self._login:
            # Only a misrouted or hand-written command gets here: the executor routes by the
            # same file. Never sent: another login's account must not trade on this one.
            return Reason(
                code="wrong_login",
                field="account_id",
                message=f"account {account_id} belongs to {label(owner)} in {where}, but this "
                f"bridge holds {label(self._login)}; nothing was sent. Send its orders to "
                f"{orders_stream(owner).name} (the executor does so by the accounts file)",
            )
        return None

    def _reload(self) -> None:
        if self._path is None:
            return
        try:
            mtime = self._path.stat().st_mtime
        except OSError as error:
            self._accounts, self._mtime = None, None
            self._error = f"{self._path}: {error.strerror}"
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self._accounts = load_accounts(self._path)
            self._error = None
            log.info("accounts file %s read: %d accounts", self._path, len(self._accounts))
        except AccountsFileError as error:
            self._accounts = None
            self._error = str(error).splitlines()[0]
            log.error("accounts file %s is invalid; refusing every order: %s", self._path, error)
