"""One fold of events.plans.v1 for every reader, and the operator's approval precondition."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rebalancer_testkit.samples import sample_of
from shared import operator
from shared.contracts.base import utc_now
from shared.plans.view import HaltView, PlanStatus, fold, fold_all, fold_halt


def view_after(*names: str):  # type: ignore[no-untyped-def]
    return fold_all(sample_of(name) for name in ("PlanProposed", *names))["pl-abc"]


@pytest.mark.parametrize(
    ("names", "status"),
    [
        ((), PlanStatus.PROPOSED),
        (("PlanDryRunReported",), PlanStatus.DRY_RUN),
        (("PlanAwaitingApproval",), PlanStatus.AWAITING_APPROVAL),
        (("PlanAwaitingApproval", "PlanApproved"), PlanStatus.APPROVED),
        (("PlanApproved", "PlanExecutionStarted", "PlanCompleted"), PlanStatus.COMPLETED),
        (("PlanAwaitingApproval", "PlanExpired"), PlanStatus.EXPIRED),
        (("PlanApproved", "PlanExecutionStarted", "PlanFailed"), PlanStatus.FAILED),
    ],
)
def test_every_decision_shows_in_the_view(names: tuple[str, ...], status: PlanStatus) -> None:
    view = view_after(*names)
    assert view.status == status
    assert view.history[-1] == status.value


def test_a_final_state_is_never_rewound_by_a_late_or_redelivered_event() -> None:
    done = view_after("PlanDryRunReported")
    for late in ("PlanProposed", "PlanAwaitingApproval", "PlanApproved", "PlanDryRunReported"):
        assert fold(done, sample_of(late)) is done


def test_the_view_keeps_why_reports_results_and_who_approved() -> None:
    dry = view_after("PlanDryRunReported")
    assert dry.why == "the trigger asked for a dry run"
    report = sample_of("PlanDryRunReported", report_paths=("/r/rebalance_pre_x.csv",))
    assert fold_all([sample_of("PlanProposed"), report])["pl-abc"].report_paths == (
        "/r/rebalance_pre_x.csv",
    )
    completed = view_after("PlanApproved", "PlanExecutionStarted", "PlanCompleted")
    assert completed.approved_by == "auto"
    assert completed.filled_legs == 1
    assert completed.as_json()["status"] == "completed"


def test_a_rejection_without_a_plan_is_keyed_by_its_allocation() -> None:
    no_plan = sample_of("PlanRejected", plan_id=None)
    [(key, view)] = fold_all([no_plan]).items()
    assert key == view.plan_id == "al-1"
    assert view.status == PlanStatus.REJECTED
    assert view.reasons


def test_the_kill_switch_is_the_last_halt_or_resume() -> None:
    halted = fold_halt(HaltView(), sample_of("HaltTrading"))
    assert (halted.halted, halted.reason) == (True, "market turmoil")
    assert fold_halt(halted, sample_of("ResumeTrading")) == HaltView()
    assert fold_halt(halted, sample_of("ApprovePlan")) is halted


@pytest.mark.parametrize(
    ("names", "says"),
    [
        ((), "has not decided on it yet"),
        (("PlanDryRunReported",), "is dry_run, not awaiting approval: it is a dry run"),
        (("PlanApproved",), "is approved already"),
        (("PlanAwaitingApproval", "PlanExpired"), "expired before it was approved"),
    ],
)
def test_an_approval_is_refused_with_the_status_and_what_to_do(
    names: tuple[str, ...], says: str
) -> None:
    refused = operator.approval_refused("pl-abc", view_after(*names))
    assert refused is not None
    assert says in refused


def test_only_a_plan_awaiting_approval_may_be_approved() -> None:
    assert operator.approval_refused("pl-abc", view_after("PlanAwaitingApproval")) is None
    assert "no plan 'pl-x' is known" in (operator.approval_refused("pl-x", None) or "")


def test_operator_commands_share_one_ttl_policy() -> None:
    before = utc_now()
    for command in (
        operator.approve("p", source="cli", by="me"),
        operator.cancel("p", source="cli", by="me"),
        operator.halt("why", source="cli", by="me"),
        operator.resume(source="cli", by="me"),
        operator.request_rebalance(source="cli", accounts=["DU1"]),
    ):
        assert command.valid_until - before >= operator.COMMAND_TTL - timedelta(seconds=1)
    short = operator.approve("p", source="notifier", by="api", ttl=timedelta(seconds=30))
    assert short.valid_until - before <= timedelta(seconds=31)
    deduped = operator.request_rebalance(source="cli", accounts=["A", "A", "B"])
    assert deduped.account_ids == ("A", "B")
