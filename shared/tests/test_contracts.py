"""Every message of the catalogue round-trips through JSON and keeps its guarantees."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from rebalancer_testkit.samples import all_samples
from shared.contracts.base import Message
from shared.contracts.catalogue import CATALOGUE, REPLY_SPECS, spec_of, stream_of
from shared.contracts.orders import OrderFilled
from shared.contracts.triggers import RequestRebalance

SAMPLES = all_samples()


def _spec_for(message: Message):
    for replies in REPLY_SPECS:
        if type(message) in replies.messages:
            return replies
    return spec_of(stream_of(message))


def test_samples_cover_every_message_of_the_catalogue() -> None:
    catalogued = {cls for spec in CATALOGUE.values() for cls in spec.messages}
    catalogued |= {cls for replies in REPLY_SPECS for cls in replies.messages}
    assert {type(m) for m in SAMPLES} == catalogued


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_message_round_trips_through_json(message: Message) -> None:
    decoded = _spec_for(message).decode(message.model_dump_json())
    assert decoded == message
    assert type(decoded) is type(message)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_money_and_quantities_travel_as_strings_never_floats(message: Message) -> None:
    def walk(value: object) -> None:
        assert not isinstance(value, float), f"float in {type(message).__name__}: {value}"
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message.model_dump(mode="json"))


def test_every_command_carries_valid_until_and_every_order_message_a_client_order_id() -> None:
    for spec in CATALOGUE.values():
        for cls in spec.messages:
            if spec.name.startswith("commands.") or spec.name.startswith("rpc."):
                assert "valid_until" in cls.model_fields, cls.__name__
                assert cls.model_fields["valid_until"].is_required(), cls.__name__
            if spec.name == "events.orders.v1":
                assert cls.model_fields["client_order_id"].is_required(), cls.__name__
    submit = CATALOGUE["commands.orders.v1"].messages
    assert all(
        "client_order_id" in c.model_fields for c in submit if c.__name__ != "CancelAllOrders"
    )


def test_messages_are_frozen_values() -> None:
    message = SAMPLES[0]
    with pytest.raises(ValidationError):
        message.source = "someone else"  # type: ignore[misc]


def test_naive_datetimes_are_refused_and_aware_ones_become_utc() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        RequestRebalance(source="t", valid_until=datetime(2026, 1, 1, 12, 0))
    aware = RequestRebalance(source="t", valid_until="2026-01-01T12:00:00+02:00")
    assert aware.valid_until.utcoffset().total_seconds() == 0
    assert aware.valid_until.hour == 10


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_money_is_refused(bad: str) -> None:
    fill = next(m for m in SAMPLES if isinstance(m, OrderFilled))
    data = fill.model_dump(mode="json") | {"last_price": bad}
    with pytest.raises(ValidationError, match="finite"):
        OrderFilled.model_validate(data)


def test_unknown_fields_are_ignored_by_tolerant_readers() -> None:
    fill = next(m for m in SAMPLES if isinstance(m, OrderFilled))
    data = fill.model_dump(mode="json") | {"added_in_a_later_version": 42}
    assert OrderFilled.model_validate(data) == fill


def test_decimal_precision_survives_the_round_trip() -> None:
    fill = next(m for m in SAMPLES if isinstance(m, OrderFilled))
    precise = fill.model_copy(update={"average_price": Decimal("98.123456789012345678")})
    decoded = OrderFilled.model_validate_json(precise.model_dump_json())
    assert decoded.average_price == Decimal("98.123456789012345678")


def test_target_weights_accept_the_reference_allocation_format() -> None:
    trigger = RequestRebalance.model_validate(
        {
            "source": "http",
            "valid_until": "2030-01-01T00:00:00Z",
            "targets": [{"symbol": "QQQ", "allocation": 0.6}, {"symbol": "SPY", "weight": "0.4"}],
        }
    )
    assert [t.weight for t in trigger.targets or ()] == [Decimal("0.6"), Decimal("0.4")]


def test_unknown_stream_names_list_the_known_ones() -> None:
    with pytest.raises(LookupError, match=r"commands\.orders\.v1"):
        spec_of("commands.order.v1")


def _submit(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "SubmitOrder",
        "source": "t",
        "valid_until": "2030-01-01T00:00:00Z",
        "client_order_id": "pl-0123456789ab.3.0",
        "account_id": "DU1000001",
        "symbol": "BRK B",
        "side": "BUY",
        "quantity": "1",
    }
    return {**base, **fields}


def test_an_order_command_with_the_ids_the_executor_makes_is_valid() -> None:
    command = CATALOGUE["commands.orders.v1"].decode(_submit())
    assert command.client_order_id == "pl-0123456789ab.3.0"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"client_order_id": "pl-1.0\x00.0"}, "client_order_id"),  # NUL ends a TWS field
        ({"client_order_id": "pl-1.0.0\n"}, "client_order_id"),
        ({"client_order_id": "x" * 65}, "client_order_id"),
        ({"client_order_id": ""}, "client_order_id"),
        ({"account_id": "DU1\x00"}, "account_id"),
        ({"symbol": "SPY\x00LMT"}, "symbol"),
        ({"symbol": " SPY"}, "symbol"),
        ({"symbol": "SPY\t"}, "symbol"),
        ({"currency": "usd"}, "currency"),
        ({"exchange": "SMART\x00"}, "exchange"),
        ({"type": "CancelOrder", "client_order_id": "a\x1fb"}, "client_order_id"),
        ({"type": "CancelAllOrders", "account_ids": ["DU1", "DU\x002"]}, "account_ids"),
    ],
)
def test_a_string_that_would_shift_the_tws_wire_fields_is_refused_naming_the_field(
    fields: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        CATALOGUE["commands.orders.v1"].decode(_submit(**fields))
    [error] = refused.value.errors()
    assert error["loc"][1] == field
    assert "must be" in error["msg"]
