"""Which accounts ``rebalancer rebalance`` means, and which plans its prompts approve."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebalancer_cli.choose import ChoiceError, choose_accounts
from rebalancer_cli.flows import ConfirmMode, _approvals
from rebalancer_testkit.samples import sample_of
from shared.contracts.plans import PlanProposed


def accounts_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    return path


def test_the_default_account_or_the_only_one_or_a_sentence(tmp_path: Path) -> None:
    one = accounts_file(tmp_path, "accounts:\n  - id: DU1\n")
    assert choose_accounts([], None, one, None) == ["DU1"]
    marked = accounts_file(tmp_path, "default_account: DU2\naccounts:\n  - id: DU1\n  - id: DU2\n")
    assert choose_accounts([], None, marked, None) == ["DU2"]
    assert choose_accounts(["DU9"], None, marked, None) == ["DU9"]
    assert choose_accounts([], "g", marked, None) == []
    several = accounts_file(tmp_path, "accounts:\n  - id: DU1\n  - id: DU2\n")
    with pytest.raises(ChoiceError, match="several accounts \\(DU1, DU2\\) and no default_account"):
        choose_accounts([], None, several, None)
    unknown = accounts_file(tmp_path, "default_account: DU3\naccounts:\n  - id: DU1\n")
    with pytest.raises(ChoiceError, match="default_account: 'DU3' is not one of the accounts"):
        choose_accounts([], None, unknown, None)
    with pytest.raises(ChoiceError, match=r"`rebalancer import settings\.ini` writes"):
        choose_accounts([], None, Path("settings.ini"), None)


def plan(plan_id: str, account: str) -> PlanProposed:
    found = sample_of("PlanProposed")
    assert isinstance(found, PlanProposed)
    return found.model_copy(update={"plan_id": plan_id, "account_id": account})


def test_per_account_asks_each_plan_global_asks_once_yes_asks_nobody() -> None:
    plans = [plan("p1", "DU1"), plan("p2", "DU2")]
    asked: list[list[str]] = []

    def answer(*replies: bool):  # type: ignore[no-untyped-def]
        queue = list(replies)

        def confirm(batch: list[PlanProposed]) -> bool:
            asked.append([p.account_id for p in batch])
            return queue.pop(0)

        return confirm

    assert _approvals(plans, False, answer(False, True), ConfirmMode.PER_ACCOUNT) == {"p2"}
    assert asked == [["DU1"], ["DU2"]]
    asked.clear()
    assert _approvals(plans, False, answer(True), ConfirmMode.GLOBAL) == {"p1", "p2"}
    assert asked == [["DU1", "DU2"]]
    asked.clear()
    assert _approvals(plans, False, answer(False), ConfirmMode.GLOBAL) == set()
    assert _approvals(plans, True, answer(), ConfirmMode.GLOBAL) == {"p1", "p2"}
    assert _approvals(plans, False, None, ConfirmMode.PER_ACCOUNT) == set()
    assert asked == [["DU1", "DU2"]]
