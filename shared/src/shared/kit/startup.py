"""A service's start with a bad configuration: every problem in sentences, then exit 2.

Without this a service given an invalid accounts file (or an invalid setting) died with a
traceback, and its supervisor (compose's ``restart: unless-stopped``, ``rebalancer up``)
started it again in a loop. Exit code 2 says "configuration": ``rebalancer up`` stops the
stack on it instead of restarting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from shared.accounts import ACCOUNTS_FILE_ENV, AccountsFileError
from shared.checks import check_accounts_file

T = TypeVar("T")
CONFIG_EXIT_CODE = 2


def config_problems() -> list[str]:
    """The problems of the accounts file named by REBALANCER_ACCOUNTS_FILE (none: [])."""
    name = os.environ.get(ACCOUNTS_FILE_ENV)
    if not name:
        return []
    return [str(p) for p in check_accounts_file(Path(name)) if p.file == name]


def build_or_exit(service: str, build: Callable[[], T]) -> T:
    """Check the accounts file, then ``build()`` the service; on a problem exit 2 saying it."""
    problems = config_problems()
    if not problems:
        try:
            return build()
        except ValidationError as error:
            problems = [
                f"setting {'.'.join(str(p) for p in e['loc']) or '(all)'}: {e['msg']}"
                for e in error.errors()
            ]
        except (AccountsFileError, ValueError) as error:
            problems = str(error).splitlines()
    for problem in problems:
        print(f"{service}: {problem}", file=sys.stderr)
    hint = (
        f" (`rebalancer validate --accounts-file {os.environ[ACCOUNTS_FILE_ENV]}`)"
        if (os.environ.get(ACCOUNTS_FILE_ENV))
        else ""
    )
    print(
        f"{service}: not started: fix the configuration above{hint} and start it again",
        file=sys.stderr,
    )
    raise SystemExit(CONFIG_EXIT_CODE)
