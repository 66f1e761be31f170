"""Waivers: Gate.waive, revoke_waiver, waiver_refusal and lifting by findings (the views: tests/pages/test_gates.py).

Gate states come from the fake providers through a sync, never written directly.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from batches.models import GateEvent, GateEventAction, GateKind, GateState, WaiverError
from batches.sync import batch_sync
from pages.readmodels import gate_tally
from tests.batches.conftest import REPO, SHA1, SHA2, ai_check
from tests.factories import ChecklistItemFactory


def url(gate, name="gate-waive"):
    return reverse(f"pages:{name}", kwargs={"pk": gate.pk})


pytestmark = pytest.mark.django_db


def test_waiving_records_who_and_why_and_shows_as_waived(ai_gate, release_manager):
    ai_gate.waive(by=release_manager, reason="  Claude is rate limited all morning  ")
    ai_gate.refresh_from_db()
    assert ai_gate.is_satisfied
    assert ai_gate.status == GateState.WAIVED
    assert ai_gate.get_status_display() == "Waived"
    assert ai_gate.state == GateState.REVIEWER_UNAVAILABLE  # what it evaluated to is kept
    assert (ai_gate.waived_by, ai_gate.waiver_reason) == (release_manager, "Claude is rate limited all morning")
    event = GateEvent.objects.get(action=GateEventAction.WAIVED)
    assert (event.by, event.reason, event.state) == (
        release_manager,
        "Claude is rate limited all morning",
        GateState.REVIEWER_UNAVAILABLE,
    )


def test_a_waived_gate_has_its_own_count_in_the_tally(batch, ai_gate, release_manager):
    before = gate_tally(batch.gates.all())
    ai_gate.waive(by=release_manager, reason="reviewer down")
    after = gate_tally(batch.gates.all())
    assert (before.waived, after.waived) == (0, 1)
    assert after.failing == before.failing - 1  # reviewer-unavailable counted as failing before
    assert after.outstanding == before.outstanding - 1
    assert ("waived", 1, 20.0) in after.segments()


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_reason_is_refused_and_nothing_changes(ai_gate, release_manager, reason):
    with pytest.raises(WaiverError, match="Write why the gate is being waived"):
        ai_gate.waive(by=release_manager, reason=reason)
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived
    assert not GateEvent.objects.filter(action=GateEventAction.WAIVED).exists()


@pytest.mark.parametrize(
    ("conclusion", "message"),
    [("failure", "a finding to fix"), ("success", "nothing to waive")],
)
def test_failing_or_passing_gates_cannot_be_waived(batch, open_prs, release_manager, conclusion, message):
    ai_check(open_prs, conclusion)
    batch_sync(batch=batch)
    gate = batch.gates.get(kind=GateKind.AI_REVIEW)
    assert gate.waiver_refusal() is not None
    with pytest.raises(WaiverError, match=message):
        gate.waive(by=release_manager, reason="because")


def test_manual_gates_and_planned_batches_cannot_be_waived(batch, plan, release_manager):
    manual = ChecklistItemFactory(gate__batch=batch).gate
    with pytest.raises(WaiverError, match="signed off item by item"):
        manual.waive(by=release_manager, reason="trust me")
    from tests.factories import BatchFactory, GateFactory

    later = GateFactory(batch=BatchFactory(plan=plan, number=2), kind=GateKind.CI, state=GateState.NEEDS_CONFIG)
    with pytest.raises(WaiverError, match="only the gates of a batch in progress can be waived"):
        later.waive(by=release_manager, reason="not yet")


def test_findings_after_a_waiver_lift_it(batch, ai_gate, open_prs, release_manager):
    ai_gate.waive(by=release_manager, reason="reviewer down")
    open_prs.github_reviews(REPO, 11, [{"login": "claude[bot]", "state": "CHANGES_REQUESTED", "commit_id": SHA1}])
    batch_sync(batch=batch)
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived
    assert ai_gate.status == GateState.FAILING
    actions = list(ai_gate.events.values_list("action", flat=True))
    assert actions[-3:] == [GateEventAction.WAIVED, GateEventAction.WAIVER_LIFTED, GateEventAction.STATE_CHANGED]
    assert "reported findings" in ai_gate.events.get(action=GateEventAction.WAIVER_LIFTED).detail


def test_a_real_failure_lifts_any_waiver(batch, open_prs, release_manager):
    """A stale CI gate (GitHub down) is waived; when CI then reports a failure the waiver goes."""
    open_prs.raw(f"/github/repos/{REPO}/commits/{SHA1}/check-runs", "down", status=503)
    batch_sync(batch=batch)
    ci = batch.gates.get(kind=GateKind.CI)
    assert ci.state == GateState.STALE
    ci.waive(by=release_manager, reason="GitHub incident, see githubstatus.com")
    for sha in (SHA1, SHA2):
        open_prs.github_checks(REPO, sha, [{"name": "pytest", "status": "completed", "conclusion": "failure"}])
    batch_sync(batch=batch)
    ci.refresh_from_db()
    assert (ci.state, ci.is_waived) == (GateState.FAILING, False)


def test_a_gate_that_passes_after_its_waiver_shows_passing(batch, ai_gate, open_prs, release_manager):
    ai_gate.waive(by=release_manager, reason="reviewer down")
    ai_check(open_prs, "success")
    batch_sync(batch=batch)
    ai_gate.refresh_from_db()
    assert (ai_gate.status, ai_gate.is_waived) == (GateState.PASSING, True)


def test_revoking_a_waiver_is_audited_and_the_gate_counts_again(ai_gate, release_manager):
    ai_gate.waive(by=release_manager, reason="reviewer down")
    with pytest.raises(WaiverError, match="Write why the waiver is being revoked"):
        ai_gate.revoke_waiver(by=release_manager, reason=" ")
    ai_gate.revoke_waiver(by=release_manager, reason="Claude is back; let it review")
    ai_gate.refresh_from_db()
    assert not ai_gate.is_waived
    assert ai_gate.status == GateState.REVIEWER_UNAVAILABLE
    assert not ai_gate.is_satisfied
    event = ai_gate.events.get(action=GateEventAction.WAIVER_REVOKED)
    assert (event.by, event.reason) == (release_manager, "Claude is back; let it review")
    with pytest.raises(WaiverError, match="not waived"):
        ai_gate.revoke_waiver(by=release_manager, reason="again")


# -- views -------------------------------------------------------------------------------
