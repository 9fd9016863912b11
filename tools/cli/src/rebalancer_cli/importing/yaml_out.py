"""A commented YAML document: each value may carry a comment saying where it came from.

PyYAML writes no comments, so the accounts file ``rebalancer import`` writes is emitted here
from a small tree of :class:`Entry`; scalars are quoted the JSON way (valid YAML), so any
string reads back as the same string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

Scalar = str | int | float | bool | Decimal | None


@dataclass
class Entry:
    """``key: value  # comment``; a value is a scalar, a list of scalars, a mapping (a list of
    entries) or a list of mappings."""

    key: str
    value: Scalar | list[Scalar] | list[Entry] | list[list[Entry]]
    comment: str = ""
    before: list[str] = field(default_factory=list)
    """Comment lines written above the entry."""


def scalar(value: Scalar) -> str:
    """The YAML text of one scalar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def _tail(comment: str) -> str:
    return f"  # {comment}" if comment else ""


def _is_entries(value: object) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], Entry)


def _is_mappings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], list)


def emit(entries: list[Entry], indent: int = 0) -> list[str]:
    """The lines of a mapping."""
    pad = " " * indent
    lines: list[str] = []
    for entry in entries:
        lines.extend(f"{pad}# {line}" if line else f"{pad}#" for line in entry.before)
        value = entry.value
        if _is_entries(value):
            lines.append(f"{pad}{entry.key}:{_tail(entry.comment)}")
            lines.extend(emit(value, indent + 2))  # type: ignore[arg-type]
        elif _is_mappings(value):
            lines.append(f"{pad}{entry.key}:{_tail(entry.comment)}")
            for mapping in value:  # type: ignore[union-attr]
                inner = emit(mapping, indent + 4)  # type: ignore[arg-type]
                first = next(i for i, line in enumerate(inner) if not line.lstrip().startswith("#"))
                inner[first] = f"{pad}  - " + inner[first][indent + 4 :]
                lines.extend(inner)
        elif isinstance(value, list):
            items = ", ".join(scalar(v) for v in value)  # type: ignore[arg-type]
            lines.append(f"{pad}{entry.key}: [{items}]{_tail(entry.comment)}")
        else:
            lines.append(f"{pad}{entry.key}: {scalar(value)}{_tail(entry.comment)}")
    return lines


def document(header: list[str], entries: list[Entry]) -> str:
    """The whole file: the header comment lines, then the mapping."""
    top = [f"# {line}" if line else "#" for line in header]
    return "\n".join([*top, *emit(entries)]) + "\n"
