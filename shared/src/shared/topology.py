"""Scale-out topology: which IB login and which executor shard own each account.

Both come from the accounts file (``login:`` and ``executor_shard:`` per account, see
``docs/accounts.md``), the one file every service already reads, so the executor that routes an
order and the bridge that refuses a foreign one read the same map.

* An account without ``login`` belongs to the **default login**: its order commands and
  portfolio requests travel on today's streams (``commands.orders.v1``, ``rpc.portfolio.v1``),
  served by a bridge started without ``BRIDGE_LOGIN``. An account with ``login: b`` travels on
  ``commands.orders.v1.b`` and ``rpc.portfolio.v1.b``, read only by the bridge with
  ``BRIDGE_LOGIN=b``. One login's backlog therefore never delays another's, and a command can
  only reach the bridge of its login (which checks the map again and refuses a foreign account).
* An account without ``executor_shard`` belongs to the **default shard** (an executor started
  without ``EXECUTOR_SHARD``); one with ``executor_shard: s`` only to the executor with
  ``EXECUTOR_SHARD=s``. Every account has exactly one owner, by construction.

Everything here is pure (no I/O): the services build a :class:`Topology` from their
:class:`~shared.accounts.Accounts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from shared.contracts.catalogue import ORDER_COMMANDS, PORTFOLIO_RPC, StreamSpec

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
"""A login or shard name: lower-case letters, digits and dashes (it becomes part of a stream
name and a consumer group name)."""
NAME_RULE = "1 to 32 of lower-case letters, digits and '-', starting with a letter or digit"
DEFAULT = ""
"""The default login / shard (no name): today's unsuffixed streams and groups."""


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a valid login/shard name, else raise ValueError saying why."""
    if not NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a valid name: use {NAME_RULE}")
    return value


def routed(spec: StreamSpec, login: str) -> StreamSpec:
    """The stream of ``spec`` for one login (the spec itself for the default login)."""
    return spec if login == DEFAULT else replace(spec, name=f"{spec.name}.{login}")


def orders_stream(login: str) -> StreamSpec:
    """``commands.orders.v1`` of one login."""
    return routed(ORDER_COMMANDS, login)


def portfolio_stream(login: str) -> StreamSpec:
    """``rpc.portfolio.v1`` of one login."""
    return routed(PORTFOLIO_RPC, login)


def label(login: str) -> str:
    """How a login is named in messages and logs."""
    return f"login {login!r}" if login else "the default login"


@dataclass(frozen=True)
class Topology:
    """Account -> login and account -> executor shard (absent: the default one)."""

    logins: dict[str, str] = field(default_factory=dict)
    shards: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, accounts: Iterable[object]) -> Topology:
        """Build from :class:`~shared.accounts.Accounts` (anything yielding accounts with a
        ``config`` carrying ``id``, ``login`` and ``executor_shard``)."""
        logins: dict[str, str] = {}
        shards: dict[str, str] = {}
        for account in accounts:
            config = account.config  # type: ignore[attr-defined]
            logins[config.id] = config.login or DEFAULT
            shards[config.id] = config.executor_shard or DEFAULT
        return cls(logins, shards)

    def login_of(self, account_id: str) -> str:
        """The login that owns ``account_id`` (the default login when unlisted)."""
        return self.logins.get(account_id, DEFAULT)

    def shard_of(self, account_id: str) -> str:
        """The executor shard that owns ``account_id`` (the default shard when unlisted)."""
        return self.shards.get(account_id, DEFAULT)

    def all_logins(self) -> tuple[str, ...]:
        """Every login named in the file, the default one first (always included)."""
        return (DEFAULT, *sorted({login for login in self.logins.values() if login}))

    def logins_of_shard(self, shard: str) -> tuple[str, ...]:
        """The logins of the accounts ``shard`` owns (the default login first when used;
        the default login alone for a shard that owns no listed account)."""
        used = {self.logins[a] for a, s in self.shards.items() if s == shard}
        return tuple(sorted(used)) or (DEFAULT,)

    def accounts_of_shard(self, shard: str) -> tuple[str, ...]:
        """The listed accounts ``shard`` owns (unlisted ones belong to the default shard)."""
        return tuple(sorted(a for a, s in self.shards.items() if s == shard))

    def accounts_of_login(self, login: str) -> tuple[str, ...]:
        """The listed accounts of ``login``."""
        return tuple(sorted(a for a, name in self.logins.items() if name == login))

    def orders_stream_of(self, account_id: str) -> str:
        """Where an order command for ``account_id`` goes."""
        return orders_stream(self.login_of(account_id)).name

    def portfolio_stream_of(self, account_id: str) -> str:
        """Where a GetPortfolio for ``account_id`` goes."""
        return portfolio_stream(self.login_of(account_id)).name
