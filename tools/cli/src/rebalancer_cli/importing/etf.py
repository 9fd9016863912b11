"""The ETF rebalancer's ``settings.ini`` and its portfolio CSVs.

Sections read: ``[ibkr]``, ``[models]``, ``[rebalance]``, ``[pricing]``, ``[execution]``,
``[io]``, ``[accounts]`` (``ids``, ``path``, ``confirm_mode``, ``pacing_sec``, ``parallel``) and
``[account:<ID>]`` overrides (the ``[rebalance]`` options and ``path``). Paths are relative to
the ini's folder, as there; comments start with ``;`` or ``#``, inline too. Every option is
translated, explained (no equivalent: what we do instead), or listed as unknown.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rebalancer_cli.importing.model import Draft, Imported, ImportError_
from rebalancer_cli.importing.yaml_out import Entry
from shared.rebalancing.portfolio_csv import parse_portfolio_csv, percent_text
from shared.rebalancing.targets import ParsedTargets

HUNDRED = Decimal(100)
Out = list[tuple[str, Entry]]
"""Translated options: ("planning" | "execution", entry)."""


@dataclass
class Context:
    """What the translation of one file collects besides the options."""

    ini: Path
    current: configparser.SectionProxy | None = None
    """The section being translated (options read together, such as the cash buffer)."""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def warn(self, where: str, key: str, text: str) -> None:
        self.warnings.append(f"[{where}] {key}: {text}")


def _decimal(raw: str, where: str, key: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ImportError_(f"[{where}] {key} = {raw!r} is not a number") from None
    if not value.is_finite():
        raise ImportError_(f"[{where}] {key} = {raw!r} is not a finite number")
    return value


def _bool(raw: str, where: str, key: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ImportError_(f"[{where}] {key} = {raw!r} is not true or false")


# ----------------------------------------------------------------- [rebalance] options


def _rebalance(section: configparser.SectionProxy, where: str, ctx: Context) -> Out:
    """The [rebalance] options (also those of an [account:<ID>] block)."""
    out: Out = []
    mode = section.get("trigger_mode", "per_holding").strip().lower()
    ctx.current = section
    for key, raw in section.items():
        origin = f"[{where}] {key} = {raw}"
        handler = REBALANCE.get(key)
        if handler is None:
            if key not in ("path", "trigger_mode"):
                ctx.warn(where, key, "unknown option, not translated")
            continue
        out.extend(handler(raw, where, key, origin, mode, ctx))
    return out


def _min_order(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    return [("planning", Entry("min_order_value", _decimal(raw, where, key), origin))]


def _fractional(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    return [("planning", Entry("fractional", _bool(raw, where, key), origin))]


def _holding_band(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    if mode == "total_drift":
        ctx.warn(where, key, "not used with trigger_mode = total_drift (as there)")
        return []
    pct = _decimal(raw, where, key) / HUNDRED
    return [("planning", Entry("drift_band_abs_pct", pct, f"{origin} (basis points -> %)"))]


def _total_band(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    if mode != "total_drift":
        ctx.warn(where, key, "used only with trigger_mode = total_drift (as there)")
        return []
    pct = _decimal(raw, where, key) / HUNDRED
    return [("planning", Entry("portfolio_drift_band_pct", pct, f"{origin} (bps -> %)"))]


def _cash_buffer(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    return []  # read with cash_buffer_type


def _cash_type(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    section = ctx.current
    kind = raw.strip().lower()
    pct = section.get("cash_buffer_pct", "0") if section is not None else "0"
    absolute = section.get("cash_buffer_abs", "0") if section is not None else "0"
    if kind == "abs":
        if _decimal(absolute, where, "cash_buffer_abs") != 0:
            ctx.warn(
                where,
                "cash_buffer_abs",
                "no equivalent: the buffer here is a share of net liquidation "
                "(planning.cash_buffer_pct); set it by hand",
            )
        return []
    value = _decimal(pct, where, "cash_buffer_pct") * HUNDRED
    origin = f"[{where}] cash_buffer_type = pct, cash_buffer_pct = {pct} (fraction -> %)"
    return [("planning", Entry("cash_buffer_pct", value, origin))]


def _leverage(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    value = _decimal(raw, where, key)
    if value <= 1:
        return []
    return [
        ("planning", Entry("allow_leverage", True, origin)),
        ("planning", Entry("max_leverage", value, origin)),
        ("execution", Entry("max_post_leverage", value, f"{origin}: the risk gate's limit")),
    ]


def _maintenance(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    ctx.warn(
        where,
        key,
        "no equivalent (not enforced there either); the risk gate's execution."
        "max_post_leverage and IB's own margin checks apply",
    )
    return []


def _rth(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    outside = not _bool(raw, where, key)
    return [("execution", Entry("outside_rth", outside, origin))]


def _hours(raw: str, where: str, key: str, origin: str, mode: str, ctx: Context) -> Out:
    value = raw.strip().lower()
    if value not in ("rth", "eth"):
        raise ImportError_(f"[{where}] {key} = {raw!r}: expected rth or eth")
    return [("execution", Entry("outside_rth", value == "eth", origin))]


Handler = Callable[[str, str, str, str, str, Context], Out]
REBALANCE: dict[str, Handler] = {
    "min_order_usd": _min_order,
    "allow_fractional": _fractional,
    "per_holding_band_bps": _holding_band,
    "portfolio_total_band_bps": _total_band,
    "cash_buffer_type": _cash_type,
    "cash_buffer_pct": _cash_buffer,
    "cash_buffer_abs": _cash_buffer,
    "max_leverage": _leverage,
    "maintenance_buffer_pct": _maintenance,
    "prefer_rth": _rth,
    "trading_hours": _hours,
}


# ----------------------------------------------------------------- the other sections


def _execution(section: configparser.SectionProxy, ctx: Context) -> Out:
    out: Out = []
    for key, raw in section.items():
        origin = f"[execution] {key} = {raw}"
        value = raw.strip().lower()
        if key == "algo_preference":
            style = {"adaptive": "adaptive", "midprice": "midprice", "none": "market"}.get(value)
            if style is None:
                raise ImportError_(f"[execution] {key} = {raw!r}: expected adaptive, midprice "
                                   "or none")  # fmt: skip
            out.append(("execution", Entry("order_type", style, origin)))
        elif key == "adaptive_priority":
            out.append(("execution", Entry("adaptive_priority", value.capitalize(), origin)))
        elif key == "fallback_plain_market":
            out.append(("execution", Entry("fallback_to_market", _bool(raw, "execution", key), origin)))  # fmt: skip
        elif key == "order_type":
            if value != "market":
                ctx.warn("execution", key, f"{raw}: only market there; see order_type here")
        elif key == "batch_orders":
            ctx.warn("execution", key, "no equivalent: the executor sends the sells, waits for "
                     "their fills, then the buys (each under IB's pacing)")  # fmt: skip
        elif key == "commission_report_timeout":
            ctx.warn("execution", key, "no equivalent: commissions are recorded by the ledger "
                     "whenever IB reports them")  # fmt: skip
        else:
            ctx.warn("execution", key, "unknown option, not translated")
    return out


def _pricing(section: configparser.SectionProxy, ctx: Context) -> Out:
    out: Out = []
    for key, raw in section.items():
        value = raw.strip().lower()
        origin = f"[pricing] {key} = {raw}"
        if key == "price_source" and value in ("last", "bid", "ask"):
            chosen = "last" if value == "last" else "bid_ask"
            out.append(("planning", Entry("sizing_price", chosen, origin)))
        elif key == "price_source":
            ctx.warn("pricing", key, f"{raw}: no equivalent; sizing uses the mid price "
                     "(planning.sizing_price: mid | bid_ask | last)")  # fmt: skip
        elif key == "fallback_to_snapshot":
            ctx.warn("pricing", key, "no equivalent: the gateway-bridge streams quotes; a plan "
                     "is refused when they are older than planning.max_quote_age_s")  # fmt: skip
        else:
            ctx.warn("pricing", key, "unknown option, not translated")
    return out


def _ibkr(section: configparser.SectionProxy, ctx: Context) -> None:
    env = {"host": "BRIDGE_IB_HOST", "port": "BRIDGE_IB_PORT", "client_id": "BRIDGE_IB_CLIENT_ID"}
    for key, raw in section.items():
        if key in env:
            ctx.notes.append(f"[ibkr] {key} = {raw} -> {env[key]}={raw} for the gateway-bridge")
        elif key not in ("account_id", "read_only"):
            ctx.warn("ibkr", key, "unknown option, not translated")


def _io(section: configparser.SectionProxy, ctx: Context) -> None:
    for key, raw in section.items():
        if key == "report_dir":
            ctx.notes.append(f"[io] report_dir = {raw} -> EXECUTOR_REPORTS_DIR={raw}")
        elif key == "log_level":
            ctx.notes.append(f"[io] log_level = {raw} -> <SERVICE>_LOG_LEVEL={raw}")
        else:
            ctx.warn("io", key, "unknown option, not translated")


def _accounts_section(section: configparser.SectionProxy, ctx: Context) -> None:
    for key, raw in section.items():
        if key == "confirm_mode":
            ctx.notes.append(
                f"[accounts] confirm_mode = {raw} -> `rebalancer rebalance --confirm-mode {raw}`"
                " (per_account is the default)"
            )
        elif key == "pacing_sec":
            ctx.notes.append(
                f"[accounts] pacing_sec = {raw}: not needed; the gateway-bridge paces every IB "
                "request under IB's limits, across accounts (docs/gateway-bridge.md)"
            )
        elif key == "parallel":
            ctx.notes.append(
                f"[accounts] parallel = {raw}: accounts are always planned concurrently here; "
                "prompts stay one at a time"
            )
        elif key not in ("ids", "path"):
            ctx.warn("accounts", key, "unknown option, not translated")


# ----------------------------------------------------------------- portfolios


@dataclass
class Portfolio:
    """The allocation of one account, from its CSV."""

    entries: list[Entry]
    cash: Decimal | None


def _read_csv(path: Path, column: str | None, origin: str) -> ParsedTargets:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImportError_(
            f"{origin}: portfolio CSV {path} cannot be read ({error.strerror})"
        ) from None
    parsed = parse_portfolio_csv(text, str(path), column)
    if not parsed.ok:
        raise ImportError_("; ".join(r.message for r in parsed.reasons))
    return parsed


def _blend(path: Path, models: dict[str, Decimal], origin: str) -> Portfolio:
    """[models] weights blend the CSV's model columns into inline targets."""
    weights: dict[str, Decimal] = {}
    cash = Decimal(0)
    for name, share in models.items():
        parsed = _read_csv(path, name, origin)
        for target in parsed.targets:
            key = target.symbol.strip().upper()
            weights[key] = weights.get(key, Decimal(0)) + share * target.weight
        cash += share * (parsed.cash_weight or Decimal(0))
    blend = ", ".join(f"{share} x {name}" for name, share in models.items())
    rows: list[list[Entry]] = [
        [Entry("symbol", symbol), Entry("weight", weight)] for symbol, weight in weights.items()
    ]
    comment = f"{origin}, blended by [models] ({blend}) at import: import again after editing it"
    return Portfolio([Entry("targets", rows, comment)], cash)


def _portfolio(
    path: Path, column: str | None, models: dict[str, Decimal], origin: str, output: Path
) -> Portfolio:
    if models and column is None:
        return _blend(path, models, origin)
    parsed = _read_csv(path, column, origin)
    where = _relative(path, output)
    entries = [Entry("csv", where, f"{origin}; written relative to this file")]
    if column is not None:
        entries.append(Entry("column", column, "from --column"))
    return Portfolio(entries, parsed.cash_weight)


def _relative(path: Path, output: Path) -> str:
    """The CSV's path as the accounts file will resolve it (relative to its folder)."""
    try:
        return os.path.relpath(path.resolve(), output.resolve().parent)
    except ValueError:  # another drive
        return str(path.resolve())


def _cash_entries(cash: Decimal | None, origin: str) -> Out:
    if cash is None or cash == 0:
        return []
    if cash > 0:
        return [("planning", Entry("target_cash_weight", cash, f"the CASH row of {origin}"))]
    gross = Decimal(1) - cash
    comment = f"the CASH row of {origin} borrows {percent_text(-cash)} %"
    return [
        ("planning", Entry("allow_leverage", True, comment)),
        ("planning", Entry("max_leverage", gross, comment)),
        ("execution", Entry("max_post_leverage", gross, comment)),
    ]


# ----------------------------------------------------------------- the file


def _parser(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        inline_comment_prefixes=(";", "#"), comment_prefixes=(";", "#"), interpolation=None
    )
    try:
        with path.open(encoding="utf-8") as source:
            parser.read_file(source)
    except OSError as error:
        raise ImportError_(f"{path}: cannot read it ({error.strerror})") from None
    except configparser.Error as error:
        raise ImportError_(f"{path}: not a valid INI file: {error}") from None
    return parser


def _ids(parser: configparser.ConfigParser, path: Path) -> list[str]:
    if parser.has_option("accounts", "ids"):
        ids = [i.strip() for i in parser.get("accounts", "ids").split(",") if i.strip()]
    elif parser.has_option("ibkr", "account_id"):
        ids = [parser.get("ibkr", "account_id").strip()]
    else:
        ids = []
    if not ids:
        raise ImportError_(f"{path}: no account: give [accounts] ids or [ibkr] account_id")
    return ids


def _models(parser: configparser.ConfigParser) -> dict[str, Decimal]:
    if not parser.has_section("models"):
        return {}
    models = {k: _decimal(v, "models", k) for k, v in parser.items("models")}
    return {k: v for k, v in models.items() if v != 0}


def _approval(parser: configparser.ConfigParser, given: str | None) -> tuple[str, str]:
    if given:
        return given, "from --approval"
    if parser.has_option("ibkr", "read_only") and parser.getboolean("ibkr", "read_only"):
        return "dry_run", "[ibkr] read_only = true: never trades"
    return "manual", "their tool asked before trading: `--execute` prompts, then trades"


def _unknown_sections(parser: configparser.ConfigParser, ids: list[str], ctx: Context) -> None:
    for name in parser.sections():
        if name not in KNOWN_SECTIONS and not name.startswith("account:"):
            for key in parser[name]:
                ctx.warn(name, key, "unknown section, not translated")
        elif name.startswith("account:") and name[len("account:") :].strip() not in ids:
            ctx.warn(name, "*", "account not in [accounts] ids, not imported")


def _globals(parser: configparser.ConfigParser, ctx: Context) -> tuple[list[Entry], list[Entry]]:
    """defaults.planning and defaults.execution from [rebalance], [execution], [pricing]; the
    notes of [ibkr], [io] and [accounts]."""
    out: Out = []
    if parser.has_section("rebalance"):
        out += _rebalance(parser["rebalance"], "rebalance", ctx)
    if parser.has_section("execution"):
        out += _execution(parser["execution"], ctx)
    if parser.has_section("pricing"):
        out += _pricing(parser["pricing"], ctx)
    for name, handle in (("ibkr", _ibkr), ("io", _io), ("accounts", _accounts_section)):
        if parser.has_section(name):
            handle(parser[name], ctx)
    planning = [entry for part, entry in out if part == "planning"]
    execution = [entry for part, entry in out if part == "execution"]
    return planning, execution


KNOWN_SECTIONS = {"ibkr", "models", "rebalance", "pricing", "execution", "io", "accounts"}


@dataclass
class EtfOptions:
    """What the command line adds: the global CSV (their ``--csv``), a column, an approval."""

    csv: Path | None = None
    column: str | None = None
    approval: str | None = None


def import_etf_ini(path: Path, output: Path, options: EtfOptions) -> Imported:
    """Translate the ETF rebalancer's settings.ini and its portfolio CSVs."""
    parser = _parser(path)
    ctx = Context(path)
    ids = _ids(parser, path)
    _unknown_sections(parser, ids, ctx)
    planning, execution = _globals(parser, ctx)
    models = _models(parser)
    approval = _approval(parser, options.approval)
    group = path.stem
    drafts = [
        _draft(parser, account_id, group, approval, models, options, output, ctx)
        for account_id in ids
    ]
    if len(drafts) == 1:
        drafts[0].default = True
    return Imported(str(path), drafts, planning, execution, ctx.warnings, ctx.notes)


def _draft(
    parser: configparser.ConfigParser,
    account_id: str,
    group: str,
    approval: tuple[str, str],
    models: dict[str, Decimal],
    options: EtfOptions,
    output: Path,
    ctx: Context,
) -> Draft:
    section = f"account:{account_id}"
    origin = "[accounts] ids" if parser.has_option("accounts", "ids") else "[ibkr] account_id"
    draft = Draft(account_id, origin, approval=approval, groups=[group])
    out: Out = []
    if parser.has_section(section):
        out += _rebalance(parser[section], section, ctx)
    csv, where = _csv_of(parser, section, options, ctx.ini.parent)
    if csv is None:
        raise ImportError_(
            f"{ctx.ini}: no portfolio CSV for {account_id}: give [accounts] path, "
            f"[{section}] path, or --csv FILE (as their --csv)"
        )
    portfolio = _portfolio(csv, options.column, models, where, output)
    draft.allocation = portfolio.entries
    out += _cash_entries(portfolio.cash, where)
    for part, entry in out:
        (draft.planning if part == "planning" else draft.execution).append(entry)
    return draft


def _csv_of(
    parser: configparser.ConfigParser, section: str, options: EtfOptions, base: Path
) -> tuple[Path | None, str]:
    for name in (section, "accounts"):
        if name == "accounts" and options.csv is not None:
            return options.csv, f"--csv {options.csv}"
        if parser.has_option(name, "path"):
            raw = parser.get(name, "path").strip()
            return base / raw, f"[{name}] path = {raw} (relative to the ini)"
    return None, ""
