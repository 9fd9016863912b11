"""The event-driven rebalancer's ``accounts.yaml``: a list of accounts, each with its Ably
channel and its allocation API.

::

    - account_id: "DU123456"
      notification:
        channel: "rebalance-primary"
      allocations:
        url: "https://your-api.com/allocations/primary"

Its allocation API key is global (``ALLOCATIONS_API_KEY`` in its ``.env``) and its Ably key
too (``REALTIME_API_KEY``). Its CLI's ``dry-run`` without ``--account-id`` takes the first
account: the first becomes the ``default_account``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rebalancer_cli.importing.model import Draft, Imported, ImportError_
from rebalancer_cli.importing.yaml_out import Entry

API_KEY_ENV = "ALLOCATIONS_API_KEY"
KNOWN = {"account_id", "notification", "allocations"}


def _items(data: Any, where: str) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("accounts"), list):
        return list(data["accounts"])
    if isinstance(data, list):
        return data
    raise ImportError_(
        f"{where}: expected the event-driven rebalancer's accounts.yaml, a list of "
        "`- account_id: ...` entries"
    )


def _account(item: Any, n: int, where: str, warnings: list[str]) -> Draft:
    if not isinstance(item, dict) or not item.get("account_id"):
        raise ImportError_(f"{where}: entry {n} has no account_id")
    account_id = str(item["account_id"])
    at = f"{where}: {account_id}"
    draft = Draft(account_id, f"{Path(where).name}: entry {n}, account_id")
    for key in sorted(set(item) - KNOWN):
        warnings.append(f"{at}: {key}: unknown option, not translated")
    notification = item.get("notification") or {}
    if isinstance(notification, dict):
        for key in sorted(set(notification) - {"channel"}):
            warnings.append(f"{at}: notification.{key}: unknown option, not translated")
        if notification.get("channel"):
            draft.triggers.append(
                Entry(
                    "ably_channel",
                    str(notification["channel"]),
                    'notification.channel; only {"execution": "rebalance"} trades, as there',
                )
            )
    allocations = item.get("allocations") or {}
    if isinstance(allocations, dict):
        for key in sorted(set(allocations) - {"url"}):
            warnings.append(f"{at}: allocations.{key}: unknown option, not translated")
        if allocations.get("url"):
            draft.allocation += [
                Entry("url", str(allocations["url"]), "allocations.url"),
                Entry("api_key_env", API_KEY_ENV, "their global key variable, from .env"),
                Entry(
                    "max_age_hours",
                    72,
                    "new here: an answer whose as_of is older is refused as stale; raise it if "
                    "your API's as_of lags",
                ),
            ]
    if not draft.allocation:
        warnings.append(f"{at}: no allocations.url; give the account a source before trading")
    return draft


def import_event_yaml(path: Path, approval: str | None) -> Imported:
    """Translate the event-driven rebalancer's accounts.yaml."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ImportError_(f"{where}: cannot read it ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ImportError_(f"{where}: not valid YAML: {error}") from None
    warnings: list[str] = []
    drafts = [_account(item, n, where, warnings) for n, item in enumerate(_items(data, where), 1)]
    if not drafts:
        raise ImportError_(f"{where}: lists no account")
    chosen = approval or "dry_run"
    why = (
        "from --approval"
        if approval
        else 'their tool traded on {"execution": "rebalance"}; here that needs `auto` '
        "(or `manual`); dry_run until you have checked the dry runs"
    )
    for draft in drafts:
        draft.approval = (chosen, why)
    drafts[0].default = True
    notes = [
        "REALTIME_API_KEY (their Ably key) -> NOTIFIER_ABLY_API_KEY for the notifier",
        f"{API_KEY_ENV} -> the same variable, read by the notifier (or {API_KEY_ENV}_FILE)",
        "IBKR_USERNAME / IBKR_PASSWORD -> the IB Gateway's login, never ours",
        "TRADING_MODE=paper -> BRIDGE_IB_PORT=4002 (live 4001) for the gateway-bridge",
    ]
    return Imported(where, drafts, warnings=warnings, notes=notes)
