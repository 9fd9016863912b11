"""Read a targets file (``--targets``): CSV or YAML, in the formats every service reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.contracts.base import TargetWeight
from shared.rebalancing.targets import parse_target_csv, parse_target_mapping


class TargetsFileError(ValueError):
    """The targets file cannot be read; the message says where and what."""


def load_targets(path: Path) -> tuple[TargetWeight, ...]:
    """Read targets from CSV (``symbol,weight``; header optional) or YAML (list or mapping).

    The formats are the notifier's (:mod:`shared.rebalancing.targets`); whether the weights
    suit the account is the notifier's check when the request arrives.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TargetsFileError(f"{path}: cannot read the targets file ({error.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise TargetsFileError(f"{path}: not valid YAML: {error}") from None
        parsed = parse_target_mapping(data, str(path))
    else:
        parsed = parse_target_csv(text, str(path))
    if not parsed.ok:
        raise TargetsFileError("; ".join(r.message for r in parsed.reasons))
    return parsed.targets
