"""Which accounts a command means when none is named: the accounts file's default account.

As the event-driven tool's ``dry-run`` takes its first configured account, ``rebalancer
rebalance`` without ``--account`` or ``--group`` takes the accounts file's ``default_account``,
or its only account. The file is ``--accounts-file``/``--config``, else
``REBALANCER_ACCOUNTS_FILE``, else the one the running stack was started with.
"""

from __future__ import annotations

import os
from pathlib import Path

from rebalancer_cli.stackconfig import StackSettings, StackState
from shared.accounts import ACCOUNTS_FILE_ENV, AccountsFileError, load_accounts

INI_SUFFIXES = (".ini", ".cfg")


class ChoiceError(ValueError):
    """No account can be chosen; the message says what to give."""


def accounts_file_of(given: Path | None, home: Path | None) -> Path | None:
    """The accounts file the CLI should read (None when nothing names one)."""
    if given is not None:
        return given
    named = os.environ.get(ACCOUNTS_FILE_ENV)
    if named:
        return Path(named)
    settings = StackSettings(home=home) if home is not None else StackSettings()
    state = StackState.read(settings.state_path)
    if state is not None and state.accounts_file:
        return Path(state.accounts_file)
    return None


def choose_accounts(
    accounts: list[str], group: str | None, given: Path | None, home: Path | None
) -> list[str]:
    """The accounts named, or none for a group, or the accounts file's default account."""
    if given is not None and given.suffix.lower() in INI_SUFFIXES:
        raise ChoiceError(
            f"{given} is an INI settings file (the ETF rebalancer's); `rebalancer import "
            f"{given}` writes an accounts file from it, then give that file to --config"
        )
    if accounts or group:
        return accounts
    path = accounts_file_of(given, home)
    if path is None:
        raise ChoiceError(
            "name --account ID (repeatable) or --group NAME, or give the accounts file "
            "(--config FILE) whose default account to use"
        )
    try:
        loaded = load_accounts(path)
    except AccountsFileError as error:
        raise ChoiceError(str(error)) from None
    chosen = loaded.default_account()
    if chosen is None:
        ids = ", ".join(a.id for a in loaded) or "none"
        raise ChoiceError(
            f"{path} has several accounts ({ids}) and no default_account; name --account ID "
            "or --group NAME, or set `default_account: <ID>` in the file"
        )
    return [chosen]
