"""The accounts file (YAML): every account, its sources, triggers, approval and overrides.

One file, read by the notifier (sources, triggers), the planner (planning policy) and the
executor (approval, execution policy, risk limits). It is validated as a whole at start; an
error names the file, the account and the field. See ``docs/accounts.md`` for the format.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.contracts.base import ExecutionMode
from shared.policy import ApprovalMode, ExecutionPolicy, PlanningPolicy, merge_policy
from shared.topology import NAME, NAME_RULE

ACCOUNTS_FILE_ENV = "REBALANCER_ACCOUNTS_FILE"


class AccountsFileError(ValueError):
    """The accounts file is missing, not YAML, or invalid; the message says where and what."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InlineTarget(_Strict):
    symbol: str = Field(min_length=1)
    weight: Decimal


class AllocationSource(_Strict):
    """Exactly one of: an allocation API ``url``, a portfolio ``csv``, inline ``targets``."""

    url: str | None = None
    api_key_env: str | None = Field(
        default=None,
        description="Environment variable holding the API key (or <VAR>_FILE naming a file).",
    )
    timeout_s: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0)
    max_age_hours: float = Field(default=72.0, gt=0, description="Staleness guard on as_of.")
    csv: Path | None = None
    column: str | None = Field(
        default=None, description="The model column of a multi-model portfolio CSV."
    )
    targets: tuple[InlineTarget, ...] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AllocationSource:
        given = [k for k in ("url", "csv", "targets") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of url, csv or targets (found {', '.join(given) or 'none'})"
            )
        if self.column is not None and self.csv is None:
            raise ValueError("column chooses a column of a csv; give csv too")
        return self


class Schedule(_Strict):
    """A cron schedule in a time zone, e.g. ``30 15 1 * *`` in ``America/New_York``."""

    cron: str
    timezone: str = "UTC"
    execution: ExecutionMode = ExecutionMode.DRY_RUN


class Triggers(_Strict):
    redis: bool = Field(default=True, description="Accept triggers from the Redis channel.")
    http: bool = Field(default=True, description="Accept triggers from the HTTP API.")
    ably_channel: str | None = None
    schedules: tuple[Schedule, ...] = ()


class AccountConfig(_Strict):
    """One account of the accounts file."""

    id: str = Field(min_length=1)
    name: str | None = None
    groups: tuple[str, ...] = ()
    allocation: AllocationSource | None = None
    triggers: Triggers = Triggers()
    approval: ApprovalMode = ApprovalMode.DRY_RUN
    default: bool = Field(
        default=False,
        description="The account a command means when it names none (at most one account).",
    )
    planning: dict[str, Any] = Field(default_factory=dict)
    execution: dict[str, Any] = Field(default_factory=dict)
    login: str | None = Field(
        default=None,
        description="The IB login (bridge) that holds this account; none: the default login. "
        "Its orders and portfolio requests go to that login's bridge only (docs/gateway-bridge.md).",
    )
    executor_shard: str | None = Field(
        default=None,
        description="The executor shard that owns this account; none: the default shard.",
    )

    @field_validator("login", "executor_shard")
    @classmethod
    def _name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not NAME.fullmatch(value):
            raise ValueError(f"{info.field_name} {value!r} is not a valid name: use {NAME_RULE}")
        return value


class Defaults(_Strict):
    planning: dict[str, Any] = Field(default_factory=dict)
    execution: dict[str, Any] = Field(default_factory=dict)


class GroupSchedule(_Strict):
    group: str
    schedule: Schedule


class AccountsFile(_Strict):
    """The whole file: defaults, accounts and optional group schedules."""

    defaults: Defaults = Defaults()
    default_account: str | None = Field(
        default=None,
        description="The account `rebalancer rebalance` uses when none is named.",
    )
    accounts: tuple[AccountConfig, ...]
    group_schedules: tuple[GroupSchedule, ...] = ()


class Account(BaseModel):
    """An account with its effective (defaults + overrides) policies."""

    model_config = ConfigDict(frozen=True)

    config: AccountConfig
    planning: PlanningPolicy
    execution: ExecutionPolicy

    @property
    def id(self) -> str:
        return self.config.id


class Accounts:
    """Every configured account, by id and by group."""

    def __init__(
        self, accounts: list[Account], source: Path | None = None, file: AccountsFile | None = None
    ) -> None:
        self.by_id = {a.id: a for a in accounts}
        self.source = source
        self.file = file

    def __contains__(self, account_id: object) -> bool:
        return account_id in self.by_id

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, account_id: str) -> Account | None:
        return self.by_id.get(account_id)

    def group(self, name: str) -> list[Account]:
        """Return the accounts of group ``name`` (empty if none)."""
        return [a for a in self.by_id.values() if name in a.config.groups]

    def groups(self) -> set[str]:
        return {g for a in self.by_id.values() for g in a.config.groups}

    def default_account(self) -> str | None:
        """The account to use when none is named: the file's ``default_account``, else the one
        account marked ``default: true``, else the only account; None when none is meant."""
        if self.file is not None and self.file.default_account is not None:
            return self.file.default_account
        marked = [a.id for a in self.by_id.values() if a.config.default]
        if marked:
            return marked[0]
        if len(self.by_id) == 1:
            return next(iter(self.by_id))
        return None

    @property
    def default(self) -> Account | None:
        """The account meant when none is named (see :meth:`default_account`)."""
        found = self.default_account()
        return None if found is None else self.by_id.get(found)

    def planning_policy(self, account_id: str, default: PlanningPolicy) -> PlanningPolicy:
        """Return the account's planning policy, or ``default`` for an unconfigured account."""
        account = self.by_id.get(account_id)
        return account.planning if account else default

    def execution_policy(self, account_id: str, default: ExecutionPolicy) -> ExecutionPolicy:
        """Return the account's execution policy, or ``default`` for an unconfigured account."""
        account = self.by_id.get(account_id)
        return account.execution if account else default


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """Turn a pydantic location into 'account DU1: planning.min_order_value'."""
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "accounts" and isinstance(parts[1], int):
        index = parts[1]
        try:
            name = data["accounts"][index].get("id") or f"#{index + 1}"
        except (KeyError, IndexError, TypeError, AttributeError):
            name = f"#{index + 1}"
        rest = ".".join(str(p) for p in parts[2:])
        return f"account {name}" + (f": {rest}" if rest else "")
    return ".".join(str(p) for p in parts) or "(top level)"


def parse_accounts(data: Any, source: Path | None = None) -> Accounts:
    """Validate already-loaded YAML data into Accounts, or raise AccountsFileError."""
    label = str(source) if source else "accounts file"
    if not isinstance(data, dict):
        raise AccountsFileError(f"{label}: expected a mapping with an `accounts:` list at the top")
    try:
        parsed = AccountsFile.model_validate(data)
    except ValidationError as error:
        lines = [f"{label}: {_where(e['loc'], data)}: {e['msg']}" for e in error.errors()]
        raise AccountsFileError("\n".join(lines)) from None

    seen: set[str] = set()
    accounts: list[Account] = []
    base_planning = _merge(
        PlanningPolicy(), parsed.defaults.planning, f"{label}: defaults.planning"
    )
    base_execution = _merge(
        ExecutionPolicy(), parsed.defaults.execution, f"{label}: defaults.execution"
    )
    for config in parsed.accounts:
        if config.id in seen:
            raise AccountsFileError(
                f"{label}: account {config.id}: listed twice; ids must be unique"
            )
        seen.add(config.id)
        where = f"{label}: account {config.id}"
        planning = _merge(base_planning, config.planning, f"{where}: planning")
        execution_overrides = {"approval": config.approval, **config.execution}
        execution = _merge(base_execution, execution_overrides, f"{where}: execution")
        if (
            config.allocation
            and config.allocation.csv
            and source
            and not config.allocation.csv.is_absolute()
        ):
            allocation = config.allocation.model_copy(
                update={"csv": source.parent / config.allocation.csv}
            )
            config = config.model_copy(update={"allocation": allocation})
        accounts.append(Account(config=config, planning=planning, execution=execution))
    _check_defaults(parsed.default_account, accounts, seen, label)
    groups = {g for a in accounts for g in a.config.groups}
    for entry in parsed.group_schedules:
        if entry.group not in groups:
            raise AccountsFileError(
                f"{label}: group_schedules: group {entry.group!r} has no account; "
                f"known groups: {', '.join(sorted(groups)) or 'none'}"
            )
    return Accounts(accounts, source, parsed)


def _check_defaults(
    default_account: str | None, accounts: list[Account], seen: set[str], label: str
) -> None:
    """The default account is named once: ``default_account`` or one ``default: true``."""
    if default_account is not None and default_account not in seen:
        raise AccountsFileError(
            f"{label}: default_account: {default_account!r} is not one of the accounts "
            f"({', '.join(sorted(seen))}); name one of them or remove default_account"
        )
    defaults = [a.id for a in accounts if a.config.default]
    if len(defaults) > 1:
        raise AccountsFileError(
            f"{label}: accounts {', '.join(defaults)} are all marked default: true; mark one"
        )
    if defaults and default_account not in (None, defaults[0]):
        raise AccountsFileError(
            f"{label}: default_account is {default_account!r} but {defaults[0]} is marked "
            "default: true; keep one of the two"
        )


def _merge(base: Any, overrides: dict[str, Any], where: str) -> Any:
    try:
        return merge_policy(base, overrides)
    except ValidationError as error:
        lines = [
            f"{where}.{'.'.join(str(p) for p in e['loc']) or '(all)'}: {e['msg']}"
            for e in error.errors()
        ]
        raise AccountsFileError("\n".join(lines)) from None


def load_accounts(path: Path | str) -> Accounts:
    """Read and validate an accounts file, or raise AccountsFileError naming what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AccountsFileError(
            f"{path}: cannot read the accounts file ({error.strerror})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AccountsFileError(f"{path}: not valid YAML: {error}") from None
    return parse_accounts(data, path)


def accounts_from_env(default: Path | None = None) -> Accounts:
    """Load the file named by REBALANCER_ACCOUNTS_FILE (or ``default``); empty when neither."""
    name = os.environ.get(ACCOUNTS_FILE_ENV)
    path = Path(name) if name else default
    if path is None:
        return Accounts([])
    return load_accounts(path)


ApprovalLiteral = Literal["dry_run", "manual", "auto"]
