"""The batch lifecycle and the plan's cadence, reached through the product's own actions only."""

from __future__ import annotations

import pytest

from batches.models import BatchEvent, BatchEventAction, BatchState, GateKind, GateState, GovernanceError
from tests.journey import REPO, head_sha

pytestmark = pytest.mark.django_db


def test_batch_two_cannot_start_while_batch_one_is_not_done(journey):
    batch1, batch2 = journey.batch(1), journey.batch(2)
    with pytest.raises(GovernanceError, match="Batch 1 has not started yet"):
        batch2.start(by=journey.release_manager)
    batch1.start(by=journey.release_manager)
    with pytest.raises(GovernanceError) as excinfo:
        batch2.start(by=journey.release_manager)
    assert str(excinfo.value) == (
        "Batch 2 cannot start. Waiting for Batch 1: 1 CI gate not passing. A release manager can start it anyway "
        "with an override and a written reason."
    )
    batch2.refresh_from_db()
    assert batch2.state == BatchState.PLANNED
    assert batch2.started_at is None


def test_batch_two_starts_once_batch_one_passes_ci_and_docs(journey):
    batch1, batch2 = journey.batch(1), journey.batch(2)
    batch1.start(by=journey.release_manager)
    journey.open_prs(batch1)
    journey.report(batch1, ai=None)  # CI green; the AI reviewer has not answered yet
    journey.sync(batch1)
    batch2.start(by=journey.release_manager)
    batch2.refresh_from_db()
    assert batch2.state == BatchState.IN_PROGRESS
    assert batch2.started_by == journey.release_manager
    assert [e.action for e in batch2.events.all()] == [BatchEventAction.STARTED]


def test_docs_gate_also_blocks_the_next_batch(journey):
    batch2 = journey.approve(journey.batch(1)) and journey.batch(2)
    batch2.start(by=journey.release_manager)
    journey.open_prs(batch2)
    journey.report(batch2)  # CI green, but nothing merged: the docs are not updated yet
    journey.sync(batch2)
    assert batch2.gates.get(kind=GateKind.CI).state == GateState.PASSING
    with pytest.raises(GovernanceError, match="1 docs gate not passing"):
        journey.batch(3).start(by=journey.release_manager)
    journey.merge(batch2)
    journey.sync(batch2)
    journey.batch(3).start(by=journey.release_manager)


def test_full_lifecycle_and_illegal_moves(journey):
    rm = journey.release_manager
    batch1 = journey.batch(1)
    with pytest.raises(GovernanceError, match="Only a batch in progress can be marked ready"):
        batch1.mark_ready(by=rm)
    batch1.start(by=rm)
    with pytest.raises(GovernanceError, match="already in progress"):
        batch1.start(by=rm)
    with pytest.raises(GovernanceError, match=r"is not ready.*CI gate .* needs configuration\."):
        batch1.mark_ready(by=rm)
    with pytest.raises(GovernanceError, match="Only a batch that is ready for review can be approved"):
        batch1.approve(by=rm)
    journey.pass_everything(batch1)
    batch1.mark_ready(by=rm)
    batch1.approve(by=rm)
    batch1.refresh_from_db()
    assert batch1.state == BatchState.APPROVED
    assert batch1.approved_by == rm
    assert [e.action for e in batch1.events.all()] == ["started", "marked_ready", "approved"]
    # An approved predecessor lets the next batch start whatever its gates say afterwards.
    journey.report(batch1, ci="failure")
    journey.sync(batch1)
    journey.batch(2).start(by=rm)


def test_approval_checks_the_gates_again(journey):
    rm = journey.release_manager
    batch1 = journey.batch(1)
    batch1.start(by=rm)
    journey.pass_everything(batch1)
    batch1.mark_ready(by=rm)
    journey.report(batch1, ci="failure")  # a re-run fails while the review is being arranged
    journey.sync(batch1)
    with pytest.raises(GovernanceError, match=r"cannot be approved now.*CI gate .* is failing"):
        batch1.approve(by=rm)
    assert journey.batch(1).state == BatchState.READY_FOR_REVIEW


def test_an_error_never_makes_a_gate_pass(journey):
    batch1 = journey.batch(1)
    batch1.start(by=journey.release_manager)
    journey.open_prs(batch1)
    journey.report(batch1)
    journey.sync(batch1)
    ci = batch1.gates.get(kind=GateKind.CI)
    assert ci.state == GateState.PASSING
    journey.fake.raw(f"/github/repos/{REPO}/commits/{head_sha(1)}/check-runs", "bad gateway", status=502)
    journey.fake.raw(f"/github/repos/{REPO}/pulls/101", "bad gateway", status=502)
    journey.sync(batch1)
    ci.refresh_from_db()
    assert ci.state == GateState.STALE
    assert ci.last_known_state == GateState.PASSING
    assert "GitHub is unavailable (HTTP 502)" in ci.detail
    assert not ci.is_satisfied
    journey.sync(batch1)
    ci.refresh_from_db()
    assert ci.last_known_state == GateState.PASSING


# -- waivers and the cadence -----------------------------------------------------------


@pytest.fixture
def batch1_with_waivers(journey):
    """Batch 1 ready with its AI review waived (the reviewer timed out) and its CI gate unconfigured and waived."""
    rm = journey.release_manager
    batch1 = journey.batch(1)
    batch1.start(by=rm)
    ci = batch1.gates.get(kind=GateKind.CI)
    from batches.plan_settings import gate_check_names_configure

    gate_check_names_configure(plan=journey.plan, check_names={ci.pk: ""})  # nobody knows the check's name yet
    journey.open_prs(batch1)
    journey.report(batch1, ci=None, ai="timed_out")
    journey.sync(batch1)
    journey.sign_checklist(batch1)
    for gate in batch1.gates.exclude(kind=GateKind.MANUAL):
        gate.refresh_from_db()
        gate.waive(by=rm, reason=f"{gate.get_kind_display()} cannot report today")
    return batch1


def test_a_waiver_lets_its_own_batch_become_ready_but_not_the_next_one_start(journey, batch1_with_waivers):
    rm = journey.release_manager
    batch1 = batch1_with_waivers
    statuses = {g.kind: g.status for g in batch1.gates.all()}
    assert statuses == {GateKind.CI: "waived", GateKind.AI_REVIEW: "waived", GateKind.MANUAL: "passing"}
    batch1.mark_ready(by=rm)
    with pytest.raises(GovernanceError, match=r"1 CI gate not passing \(1 waived, and a waiver is not a pass\)"):
        journey.batch(2).start(by=rm)


def test_an_override_starts_the_next_batch_and_is_recorded_on_both(journey, batch1_with_waivers):
    rm = journey.release_manager
    batch2 = journey.batch(2)
    with pytest.raises(GovernanceError):
        batch2.start(by=rm, override_reason="   ")
    batch2.start(by=rm, override_reason="Ops need the Sentry DSN fix before the freeze")
    batch2.refresh_from_db()
    assert batch2.state == BatchState.IN_PROGRESS
    event = BatchEvent.objects.get(action=BatchEventAction.STARTED_WITH_OVERRIDE)
    assert (event.batch, event.related_batch, event.by) == (batch2, batch1_with_waivers, rm)
    assert event.reason == "Ops need the Sentry DSN fix before the freeze"
    assert event.detail == "Waiting for Batch 1: 1 CI gate not passing (1 waived, and a waiver is not a pass)."
