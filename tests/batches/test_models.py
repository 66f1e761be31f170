from __future__ import annotations

import pytest

from batches.models import BatchState, GateKind, GateState, GovernanceError


def pass_gates(batch, *kinds):
    batch.gates.filter(kind__in=kinds).update(state=GateState.PASSING)


def test_batch_two_cannot_start_while_batch_one_is_not_done(sample_plan, release_manager):
    batch1, batch2 = sample_plan.batches.order_by("number")[:2]
    with pytest.raises(GovernanceError, match="Batch 1 has not started yet"):
        batch2.start(by=release_manager)
    batch1.start(by=release_manager)
    with pytest.raises(GovernanceError) as excinfo:
        batch2.start(by=release_manager)
    assert str(excinfo.value) == "Batch 2 cannot start. Waiting for Batch 1: 1 CI gate not passing."
    batch2.refresh_from_db()
    assert batch2.state == BatchState.PLANNED
    assert batch2.started_at is None


def test_batch_two_starts_once_batch_one_passes_ci_and_docs(sample_plan, release_manager):
    batch1, batch2 = sample_plan.batches.order_by("number")[:2]
    batch1.start(by=release_manager)
    pass_gates(batch1, GateKind.CI, GateKind.DOCS)
    batch2.start(by=release_manager)
    batch2.refresh_from_db()
    assert batch2.state == BatchState.IN_PROGRESS
    assert batch2.started_by == release_manager
    assert batch2.started_at is not None


def test_docs_gate_also_blocks_the_next_batch(sample_plan, release_manager):
    batch2, batch3 = sample_plan.batches.filter(number__in=[2, 3]).order_by("number")
    batch2.state = BatchState.IN_PROGRESS
    batch2.save()
    pass_gates(batch2, GateKind.CI)
    with pytest.raises(GovernanceError, match="1 docs gate not passing"):
        batch3.start(by=release_manager)


def test_full_lifecycle_and_illegal_moves(sample_plan, release_manager):
    batch1 = sample_plan.batches.get(number=1)
    with pytest.raises(GovernanceError, match="Only a batch in progress can be marked ready"):
        batch1.mark_ready(by=release_manager)
    batch1.start(by=release_manager)
    with pytest.raises(GovernanceError, match="already in progress"):
        batch1.start(by=release_manager)
    with pytest.raises(GovernanceError, match=r"is not ready.*CI gate .* is needs configuration"):
        batch1.mark_ready(by=release_manager)
    with pytest.raises(GovernanceError, match="Only a batch that is ready for review can be approved"):
        batch1.approve(by=release_manager)
    batch1.gates.update(state=GateState.PASSING)
    batch1.mark_ready(by=release_manager)
    batch1.approve(by=release_manager)
    batch1.refresh_from_db()
    assert batch1.state == BatchState.APPROVED
    assert batch1.approved_by == release_manager
    # An approved predecessor lets the next batch start whatever its gates say.
    batch1.gates.update(state=GateState.FAILING)
    sample_plan.batches.get(number=2).start(by=release_manager)


def test_a_waived_gate_counts_as_satisfied(sample_plan, release_manager):
    from django.utils import timezone

    gate = sample_plan.batches.get(number=1).gates.get(kind=GateKind.AI_REVIEW)
    gate.state = GateState.REVIEWER_UNAVAILABLE
    assert not gate.is_satisfied
    gate.waived_at, gate.waived_by, gate.waiver_reason = timezone.now(), release_manager, "Reviewer down all day"
    gate.save()
    assert gate.is_satisfied


def test_an_error_never_makes_a_gate_pass(sample_plan):
    gate = sample_plan.batches.get(number=1).gates.get(kind=GateKind.CI)
    gate.record_result(state=GateState.PASSING, detail="pytest: success")
    gate.record_error(error="GitHub answered 502")
    gate.refresh_from_db()
    assert gate.state == GateState.STALE
    assert gate.last_known_state == GateState.PASSING
    assert gate.detail == "GitHub answered 502"
    assert not gate.is_satisfied
    gate.record_error(error="GitHub answered 502 again")
    gate.refresh_from_db()
    assert gate.last_known_state == GateState.PASSING
