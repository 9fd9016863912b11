"""``rebalancer import``: the configuration of the tools our users run today, as an accounts file.

* the ETF rebalancer's ``settings.ini`` and its portfolio CSVs (:mod:`.etf`);
* the event-driven rebalancer's ``accounts.yaml`` (:mod:`.event`).

The file written says, option by option, where each value came from; what could not be
translated is listed at its top and printed as warnings (see ``docs/migrating.md``).
"""

from __future__ import annotations

from pathlib import Path

from rebalancer_cli.importing.etf import EtfOptions, import_etf_ini
from rebalancer_cli.importing.event import import_event_yaml
from rebalancer_cli.importing.model import Imported, ImportError_

__all__ = ["EtfOptions", "ImportError_", "Imported", "import_source"]


def import_source(source: Path, output: Path, options: EtfOptions) -> Imported:
    """Translate ``source`` by its kind (INI: the ETF rebalancer; YAML: the event-driven one)."""
    suffix = source.suffix.lower()
    if suffix in (".ini", ".cfg"):
        return import_etf_ini(source, output, options)
    if suffix in (".yaml", ".yml"):
        if options.csv is not None or options.column is not None:
            raise ImportError_("--csv and --column belong to the ETF rebalancer's settings.ini")
        return import_event_yaml(source, options.approval)
    raise ImportError_(
        f"{source}: expected the ETF rebalancer's settings.ini or the event-driven "
        "rebalancer's accounts.yaml (by the file's suffix)"
    )
