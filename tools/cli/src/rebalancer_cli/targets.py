"""Read a targets file (``--targets``/``--csv``): CSV or YAML, in the formats every service reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.rebalancing.portfolio_csv import parse_portfolio_csv, percent_text
from shared.rebalancing.targets import ParsedTargets, parse_target_mapping


class TargetsFileError(ValueError):
    """The targets file cannot be read; the message says where and what."""


def load_targets(path: Path, column: str | None = None) -> ParsedTargets:
    """Read targets from a CSV (``symbol,weight``, or one column per model with ``column``) or
    YAML (list or mapping); the result's notes say how an ambiguous file was read.

    The formats are the notifier's (:mod:`shared.rebalancing.portfolio_csv`); whether the
    weights suit the account is the notifier's check when the request arrives. A CASH row
    above 0 is refused here: the account's ``planning.target_cash_weight`` keeps cash, so give
    the file as the account's ``allocation.csv`` (``rebalancer import`` sets both).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TargetsFileError(f"{path}: cannot read the targets file ({error.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        if column is not None:
            raise TargetsFileError(f"{path}: --column chooses a column of a CSV, not of YAML")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise TargetsFileError(f"{path}: not valid YAML: {error}") from None
        parsed = parse_target_mapping(data, str(path))
    else:
        parsed = parse_portfolio_csv(text, str(path), column)
    if not parsed.ok:
        raise TargetsFileError("; ".join(r.message for r in parsed.reasons))
    if parsed.cash_weight is not None and parsed.cash_weight > 0:
        raise TargetsFileError(
            f"{path}: the CASH row keeps {percent_text(parsed.cash_weight)} % in cash, which inline "
            "targets cannot carry; make the file the account's `allocation.csv` with "
            f"`planning.target_cash_weight: {parsed.cash_weight}` (rebalancer import does), or "
            "remove the CASH row"
        )
    return parsed
