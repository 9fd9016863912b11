"""JSON-schema snapshots of every stream, and the check that a change is only additive.

A change is additive when every message, field and enum value of the snapshot still exists
with the same type, no optional field became required, and no required field was added.
New messages, new optional fields and new enum values are additive. Anything else needs a
new ``*.v2`` stream (see ARCHITECTURE.md, "Contracts").

Refresh the snapshots after an additive change with::

    uv run python -m shared.contracts.schemas --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.contracts.catalogue import CATALOGUE, REPLY_SPECS, StreamSpec

SNAPSHOT_DIR = Path(__file__).resolve().parents[3] / "schemas"
_NOISE = {"title", "description", "default", "examples"}


def stream_schema(spec: StreamSpec) -> dict[str, Any]:
    """Return the JSON schema a reader of ``spec``'s stream validates against."""
    schema: dict[str, Any] = spec.adapter.json_schema(mode="validation")
    return schema


def all_schemas() -> dict[str, dict[str, Any]]:
    """Return the schema of every stream (and of the RPC replies), by name."""
    specs = [*CATALOGUE.values(), *REPLY_SPECS]
    return {spec.name: stream_schema(spec) for spec in specs}


def _normalise(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _normalise(v) for k, v in sorted(node.items()) if k not in _NOISE}
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return node


def _objects(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every named definition of a schema (a single-model schema is named by its title)."""
    defs = dict(schema.get("$defs", {}))
    if "properties" in schema:
        defs[schema.get("title", "<root>")] = schema
    return defs


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Return a sentence per non-additive difference from ``old`` to ``new`` (empty if none)."""
    problems: list[str] = []
    old_defs, new_defs = _objects(old), _objects(new)
    for name, old_def in old_defs.items():
        new_def = new_defs.get(name)
        if new_def is None:
            problems.append(f"{name} was removed")
            continue
        if "enum" in old_def:
            lost = set(old_def["enum"]) - set(new_def.get("enum", []))
            if lost:
                problems.append(f"{name} lost the values {sorted(lost)}")
            continue
        old_props, new_props = old_def.get("properties", {}), new_def.get("properties", {})
        old_required = set(old_def.get("required", []))
        new_required = set(new_def.get("required", []))
        for field, old_schema in old_props.items():
            if field not in new_props:
                problems.append(f"{name}.{field} was removed")
            elif _normalise(old_schema) != _normalise(new_props[field]):
                problems.append(f"{name}.{field} changed type")
            elif field in new_required - old_required:
                problems.append(f"{name}.{field} became required")
        for field in new_required - set(old_props):
            problems.append(f"{name}.{field} is a new required field")
    return problems


def write_snapshots(directory: Path = SNAPSHOT_DIR) -> list[Path]:
    """Write the current schema of every stream to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main() -> None:
    """Command line: ``--write`` refreshes the snapshots, ``--check`` compares (exit 1 if broken)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="refresh the snapshots")
    args = parser.parse_args()
    if args.write:
        for path in write_snapshots():
            print(f"wrote {path}")
        return
    failed = False
    for name, schema in all_schemas().items():
        path = SNAPSHOT_DIR / f"{name}.json"
        if not path.exists():
            print(f"{name}: no snapshot at {path}")
            failed = True
            continue
        for problem in breaking_changes(json.loads(path.read_text()), schema):
            print(f"{name}: {problem}")
            failed = True
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
