"""The JSON schema of every stream only ever changes additively (else: a new *.v2 stream)."""

from __future__ import annotations

import copy
import json

import pytest

from shared.contracts.schemas import SNAPSHOT_DIR, all_schemas, breaking_changes

CURRENT = all_schemas()


@pytest.mark.parametrize("stream", sorted(CURRENT))
def test_stream_schema_is_an_additive_change_of_its_snapshot(stream: str) -> None:
    path = SNAPSHOT_DIR / f"{stream}.json"
    assert path.exists(), (
        f"no schema snapshot for {stream}; run `uv run python -m shared.contracts.schemas --write`"
    )
    problems = breaking_changes(json.loads(path.read_text()), CURRENT[stream])
    assert not problems, (
        f"non-additive change to {stream}: {problems}. Publish a {stream[:-3]}.v2 stream instead "
        "(ARCHITECTURE.md, Contracts), or revert."
    )


ORDERS = CURRENT["events.orders.v1"]


def _edited(edit) -> dict:  # type: ignore[no-untyped-def]
    schema = copy.deepcopy(ORDERS)
    edit(schema["$defs"])
    return schema


def test_checker_accepts_a_new_optional_field_and_a_new_enum_value() -> None:
    def add(defs: dict) -> None:
        defs["OrderFilled"]["properties"]["venue"] = {"type": "string", "default": None}
        defs["Side"]["enum"].append("SHORT")

    assert breaking_changes(ORDERS, _edited(add)) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["OrderFilled"]["properties"].pop("exec_id"),
            "OrderFilled.exec_id was removed",
        ),
        (
            lambda d: d["OrderFilled"]["properties"].update(exec_id={"type": "integer"}),
            "OrderFilled.exec_id changed type",
        ),
        (
            lambda d: d["OrderFilled"]["required"].append("remaining_quantity"),
            "OrderFilled.remaining_quantity became required",
        ),
        (
            lambda d: (
                d["OrderFilled"]["properties"].update(venue={"type": "string"}),
                d["OrderFilled"]["required"].append("venue"),
            ),
            "OrderFilled.venue is a new required field",
        ),
        (lambda d: d.pop("OrderRejected"), "OrderRejected was removed"),
        (lambda d: d["Side"]["enum"].remove("SELL"), "Side lost the values ['SELL']"),
    ],
    ids=[
        "removed",
        "retyped",
        "now-required",
        "new-required",
        "message-removed",
        "enum-value-removed",
    ],
)
def test_checker_refuses_non_additive_changes(edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert expected in breaking_changes(ORDERS, _edited(edit))
