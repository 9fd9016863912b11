"""Every problem of an accounts file and the portfolio (targets) files it names, at once.

``rebalancer validate`` prints these problems; ``rebalancer up`` and every service stop at
start with the same sentences (exit 2) rather than restarting in a loop. Each problem has a
stable ``code``:

| code | what |
|---|---|
| ``unreadable`` | the file cannot be read (missing, permissions) |
| ``not_yaml`` | the accounts file (or a YAML targets file) is not valid YAML |
| ``not_a_mapping`` | the accounts file is not a mapping with an ``accounts:`` list |
| ``unknown_key`` | a key the format does not have (a typo: ``aproval``) |
| ``missing_key`` | a required key is absent (``id``, ``accounts``) |
| ``invalid_value`` | a value of the wrong kind or out of range (``approval: always``) |
| ``duplicate_account`` | an account id listed twice |
| ``unknown_group`` | ``group_schedules`` names a group no account has |
| ``invalid_schedule`` | a cron expression that is not one |
| ``invalid_timezone`` | a schedule's time zone is unknown |
| ``invalid_csv``, ``invalid_targets`` | a CSV or YAML targets row that cannot be read (blank symbol, blank or non-numeric weight) |
| ``weight_negative``, ``weight_above_one``, ``weight_above_max_leverage``, ``weight_not_finite`` | a weight out of range |
| ``weights_sum``, ``leverage_above_max`` | the weights do not add up (to 1, or within the leverage limit) |
| ``duplicate_symbol``, ``invalid_symbol``, ``empty_target`` | a symbol twice, a symbol that cannot be one, no target at all |

``check_targets_file`` checks a targets file alone (``--targets``), with an account's planning
policy or the defaults. Both return a list (empty: valid) and never raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import ValidationError

from shared.accounts import (
    AccountConfig,
    AccountsFile,
    AccountsFileError,
    Defaults,
    GroupSchedule,
    Schedule,
    _where,
    parse_accounts,
)
from shared.contracts.base import TargetWeight
from shared.policy import ExecutionPolicy, PlanningPolicy, merge_policy
from shared.rebalancing.portfolio_csv import invested, parse_portfolio_csv, percent_text
from shared.rebalancing.targets import (
    ParsedTargets,
    parse_target_mapping,
    validate_targets,
)


@dataclass(frozen=True)
class Problem:
    """One problem, as a sentence naming the file and the place."""

    file: str
    code: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where else ""
        return f"{self.file}: {place}{self.message}"


PYDANTIC_CODES = {"extra_forbidden": "unknown_key", "missing": "missing_key"}


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Load a YAML file, or the problem that stops it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return None, [Problem(str(path), "unreadable", f"cannot read it ({error.strerror})")]
    try:
        return yaml.safe_load(text), []
    except yaml.YAMLError as error:
        return None, [Problem(str(path), "not_yaml", f"not valid YAML: {error}")]


def _pydantic(error: ValidationError, label: str, where: str) -> list[Problem]:
    found = []
    for e in error.errors():
        kind = str(e["type"])
        place = ".".join(str(p) for p in e["loc"])
        found.append(
            Problem(
                label,
                PYDANTIC_CODES.get(kind, "invalid_value"),
                "unknown key (a typo?)" if kind == "extra_forbidden" else str(e["msg"]),
                f"{where}: {place}" if where and place else where or place,
            )
        )
    return found


def check_accounts_file(path: Path) -> list[Problem]:
    """Every problem of the accounts file at ``path`` and of the portfolio files it names."""
    data, problems = read_yaml(path)
    if problems:
        return problems
    label = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
        return [Problem(label, "not_a_mapping", "expected a mapping with an `accounts:` list")]
    for key in sorted(set(data) - set(AccountsFile.model_fields), key=str):
        problems.append(Problem(label, "unknown_key", "unknown key (a typo?)", str(key)))
    defaults = Defaults()
    try:
        defaults = Defaults.model_validate(data.get("defaults") or {})
    except ValidationError as error:
        problems += _pydantic(error, label, "defaults")
    accounts: list[AccountConfig] = []
    for index, item in enumerate(data["accounts"]):
        try:
            accounts.append(AccountConfig.model_validate(item))
        except ValidationError as error:
            problems += _pydantic(error, label, _where(("accounts", index), data))
    schedules: list[GroupSchedule] = []
    for index, item in enumerate(data.get("group_schedules") or []):
        try:
            schedules.append(GroupSchedule.model_validate(item))
        except ValidationError as error:
            problems += _pydantic(error, label, f"group_schedules[{index}]")
    parsed = AccountsFile.model_construct(
        defaults=defaults, accounts=tuple(accounts), group_schedules=tuple(schedules)
    )
    problems += _check_parsed(parsed, path, complete=not problems)
    return problems


def _check_parsed(parsed: AccountsFile, path: Path, *, complete: bool) -> list[Problem]:
    label = str(path)
    planning, problems = _merged(
        PlanningPolicy(), parsed.defaults.planning, label, "defaults.planning"
    )
    execution, found = _merged(
        ExecutionPolicy(), parsed.defaults.execution, label, "defaults.execution"
    )
    problems += found
    seen: set[str] = set()
    for config in parsed.accounts:
        where = f"account {config.id}"
        if config.id in seen:
            problems.append(
                Problem(label, "duplicate_account", "listed twice; ids must be unique", where)
            )
        seen.add(config.id)
        policy, found = _merged(planning, config.planning, label, f"{where}: planning")
        problems += found
        overrides = {"approval": config.approval, **config.execution}
        problems += _merged(execution, overrides, label, f"{where}: execution")[1]
        for index, schedule in enumerate(config.triggers.schedules):
            problems += _schedule(schedule, label, f"{where}: triggers.schedules[{index}]")
        problems += _allocation(config, policy, path, where)
    groups = {g for a in parsed.accounts for g in a.groups}
    for index, entry in enumerate(parsed.group_schedules):
        where = f"group_schedules[{index}]"
        if entry.group not in groups:
            known = ", ".join(sorted(groups)) or "none"
            problems.append(
                Problem(
                    label,
                    "unknown_group",
                    f"group {entry.group!r} has no account; known groups: {known}",
                    where,
                )
            )
        problems += _schedule(entry.schedule, label, f"{where}.schedule")
    if complete and not problems:
        try:
            parse_accounts(yaml.safe_load(path.read_text(encoding="utf-8")), path)
        except (AccountsFileError, OSError, yaml.YAMLError) as error:  # a rule not covered here
            problems.append(Problem(label, "invalid_value", str(error).removeprefix(f"{label}: ")))
    return problems


def _merged(
    base: Any, overrides: dict[str, Any], label: str, where: str
) -> tuple[Any, list[Problem]]:
    """``base`` with ``overrides`` (a policy), or ``base`` and the problems of the overrides."""
    try:
        return merge_policy(base, overrides), []
    except ValidationError as error:
        return base, [
            Problem(
                label,
                PYDANTIC_CODES.get(str(e["type"]), "invalid_value"),
                str(e["msg"]),
                f"{where}.{'.'.join(str(p) for p in e['loc'])}",
            )
            for e in error.errors()
        ]


def _schedule(schedule: Schedule, label: str, where: str) -> list[Problem]:
    problems = []
    if not croniter.is_valid(schedule.cron):
        problems.append(
            Problem(
                label,
                "invalid_schedule",
                f"cron {schedule.cron!r} is not a valid cron expression (e.g. '30 15 1 * *')",
                where,
            )
        )
    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(
                label,
                "invalid_timezone",
                f"time zone {schedule.timezone!r} is unknown (use e.g. America/New_York)",
                where,
            )
        )
    return problems


def _allocation(config: Any, policy: PlanningPolicy, path: Path, where: str) -> list[Problem]:
    allocation = config.allocation
    if allocation is None:
        return []
    if allocation.targets is not None:
        targets = [TargetWeight(symbol=t.symbol, weight=t.weight) for t in allocation.targets]
        return _target_problems(
            ParsedTargets(tuple(targets), ()), policy, str(path), f"{where}: allocation.targets"
        )
    if allocation.csv is not None:
        csv = allocation.csv if allocation.csv.is_absolute() else path.parent / allocation.csv
        return check_targets_file(
            csv, policy, where=f"portfolio of {where}", column=allocation.column
        )
    return []


def load_target_file(
    path: Path, column: str | None = None
) -> tuple[ParsedTargets | None, list[Problem]]:
    """Read a targets file (CSV, or YAML list or mapping) without judging the weights; a
    multi-model CSV's ``column`` (see :mod:`shared.rebalancing.portfolio_csv`)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        data, problems = read_yaml(path)
        if problems:
            return None, problems
        return parse_target_mapping(data, str(path)), []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return None, [Problem(str(path), "unreadable", f"cannot read it ({error.strerror})")]
    return parse_portfolio_csv(text, str(path), column), []


def check_targets_file(
    path: Path,
    policy: PlanningPolicy | None = None,
    *,
    where: str = "",
    column: str | None = None,
) -> list[Problem]:
    """Every problem of a targets file, judged with ``policy`` (the defaults when None).

    A CSV's CASH row above 0 must be the account's ``target_cash_weight`` (the notifier
    refuses it otherwise); the other rows are then judged as shares of the invested part."""
    parsed, problems = load_target_file(path, column)
    if parsed is None:
        return [Problem(p.file, p.code, p.message, where) for p in problems]
    policy = policy or PlanningPolicy()
    cash = parsed.cash_weight
    if cash is not None and cash > 0 and parsed.ok:
        if cash != policy.target_cash_weight:
            message = (
                f"the CASH row keeps {percent_text(cash)} % in cash; set "
                f"`planning.target_cash_weight: {cash}` for the account or remove the CASH row"
            )
            return [Problem(str(path), "invalid_csv", message, where)]
        parsed = ParsedTargets(invested(parsed), parsed.reasons, parsed.notes, cash)
    return _target_problems(parsed, policy, str(path), where)


def _target_problems(
    parsed: ParsedTargets, policy: PlanningPolicy, label: str, where: str
) -> list[Problem]:
    problems = [
        Problem(label, r.code, r.message.removeprefix(f"{label}: "), where) for r in parsed.reasons
    ]
    if parsed.reasons and not parsed.targets:
        return problems
    check = validate_targets(parsed.targets, policy)
    # A sum over the readable rows only would blame the weights for a row that was not read.
    unread = {"weights_sum", "leverage_above_max"} if parsed.reasons else set()
    problems += [
        Problem(label, r.code, r.message, where) for r in check.reasons if r.code not in unread
    ]
    return problems


def _portfolio_symbols(accounts_file: Path) -> list[tuple[list[str], str]]:
    """(symbols, file) of each readable account's inline targets or portfolio file."""
    found: list[tuple[list[str], str]] = []
    data, _ = read_yaml(accounts_file)
    items = data.get("accounts") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        try:
            allocation = AccountConfig.model_validate(item).allocation
        except ValidationError:
            continue
        if allocation is not None and allocation.targets:
            found.append(([t.symbol for t in allocation.targets if t.weight], str(accounts_file)))
        elif allocation is not None and allocation.csv is not None:
            csv = allocation.csv
            path = csv if csv.is_absolute() else accounts_file.parent / csv
            found += _file_symbols(path, allocation.column)
    return found


def _file_symbols(path: Path, column: str | None = None) -> list[tuple[list[str], str]]:
    parsed, _ = load_target_file(path, column)
    if parsed is None:
        return []
    return [([t.symbol for t in parsed.targets if t.weight], str(path))]


def symbols_of(accounts_file: Path | None, targets: list[Path]) -> dict[str, list[str]]:
    """Every target symbol of the accounts file's portfolios and of ``targets``, with the
    files naming it (unreadable parts are skipped: their problems are told already)."""
    found: dict[str, list[str]] = {}
    parts = _portfolio_symbols(accounts_file) if accounts_file else []
    for path in targets:
        parts += _file_symbols(path)
    for symbols, where in parts:
        for symbol in symbols:
            places = found.setdefault(symbol.strip().upper(), [])
            if where not in places:
                places.append(where)
    return {s: w for s, w in found.items() if s}
