"""Defence in depth: a SubmitOrder written straight to the stream trades only what the accounts
file lets trade, within the bridge's own hard limits (whatever the executor decided)."""

from __future__ import annotations

import os

from rebalancer_testkit.bridge_commands import (
    ACCOUNT,
    OTHER_ACCOUNT,
    emulator_orders,
    eventually,
    new_plan,
    order_events,
    submit,
    types_of,
    write_accounts_file,
)


async def refusal(redis_url: str, coid: str):  # type: ignore[no-untyped-def]
    events = await eventually(lambda: order_events(redis_url, coid), message="an answer")
    assert types_of(events) == ["OrderRejected"], types_of(events)
    return events[0]


async def test_an_order_for_a_dry_run_account_is_refused_and_never_reaches_ib(
    emulator, start_bridge, publish, redis_url, tmp_path
):
    accounts = write_accounts_file(
        tmp_path / "accounts.yaml", {ACCOUNT: "auto", OTHER_ACCOUNT: "dry_run"}
    )
    service = await start_bridge(accounts_file=accounts)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, account=OTHER_ACCOUNT))
    rejected = await refusal(redis_url, coid)
    assert rejected.reason.startswith("dry_run_account")
    assert rejected.field == "account_id"
    assert emulator_orders(emulator, coid) == []


async def test_without_an_accounts_file_no_order_is_placed(
    emulator, start_bridge, publish, redis_url, monkeypatch
):
    monkeypatch.delenv("REBALANCER_ACCOUNTS_FILE", raising=False)
    service = await start_bridge(accounts_file=None)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid))
    rejected = await refusal(redis_url, coid)
    assert rejected.reason.startswith("not_tradable")
    assert "REBALANCER_ACCOUNTS_FILE" in rejected.reason
    assert emulator_orders(emulator, coid) == []


async def test_the_accounts_file_is_read_again_when_it_changes_and_fails_closed(
    emulator, start_bridge, publish, redis_url, tmp_path
):
    path = write_accounts_file(tmp_path / "accounts.yaml", {ACCOUNT: "auto"})
    service = await start_bridge(accounts_file=path)
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    first = f"{new_plan()}.0.0"
    await publish(submit(first))
    await eventually(lambda: emulator_orders(emulator, first), message="first order at IB")

    write_accounts_file(path, {ACCOUNT: "dry_run"})
    os.utime(path, (1, 1))  # a new modification time even within the clock's resolution
    second = f"{new_plan()}.0.0"
    await publish(submit(second))
    assert (await refusal(redis_url, second)).reason.startswith("dry_run_account")

    path.write_text("accounts: [ {id: 'unclosed\n")
    os.utime(path, (2, 2))
    third = f"{new_plan()}.0.0"
    await publish(submit(third))
    rejected = await refusal(redis_url, third)
    assert rejected.reason.startswith("not_tradable")
    assert "cannot be used" in rejected.reason
    assert emulator_orders(emulator, second) == emulator_orders(emulator, third) == []


async def test_a_market_order_without_any_price_is_refused_as_its_value_cannot_be_checked(
    emulator, start_bridge, publish, redis_url
):
    emulator.faults.nan_prices(True)
    service = await start_bridge()
    await eventually(lambda: service.bridge.gate.is_open, message="reconciled")
    coid = f"{new_plan()}.0.0"
    await publish(submit(coid, symbol="QQQ"))
    rejected = await refusal(redis_url, coid)
    assert rejected.reason.startswith("no_price")
    assert emulator_orders(emulator, coid) == []
