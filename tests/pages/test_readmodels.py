"""pages.readmodels, directly: tallies, verdicts, the lifecycle control, next actions, query counts.

States come from the fake providers, ticks and lifecycle calls (tests/journey.py).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batches.models import GateKind, GateState
from pages.readmodels import (
    batch_move,
    batch_verdict,
    board_batches,
    board_for,
    gate_bucket,
    gate_tally,
    home_statuses,
    next_action,
    plan_roadmap,
    plan_summaries,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def board(journey, number: int, user):
    return board_for(board_batches().get(plan=journey.plan, number=number), user)


def test_each_gate_status_lands_in_its_bucket(journey):
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    journey.open_prs(batch)
    journey.report(batch, ci="failure", ai="timed_out")
    journey.sync(batch)
    buckets = {g.kind: gate_bucket(g) for g in batch.gates.all()}
    assert buckets == {GateKind.CI: "failing", GateKind.AI_REVIEW: "failing", GateKind.MANUAL: "pending"}
    ai = batch.gates.get(kind=GateKind.AI_REVIEW)
    ai.waive(by=journey.release_manager, reason="reviewer down")
    tally = gate_tally(batch.gates.all())
    assert (tally.passing, tally.waived, tally.failing, tally.stale, tally.pending) == (0, 1, 1, 0, 1)
    assert tally.outstanding == 2
    assert [name for name, _, _ in tally.segments()] == ["waived", "failing", "pending"]


def test_verdicts_follow_the_lifecycle(journey):
    rm = journey.release_manager
    batch = journey.batch(1)
    assert batch_verdict(batch, gate_tally(batch.gates.all())).headline == "Not started"
    batch.start(by=rm)
    verdict = batch_verdict(batch, gate_tally(batch.gates.all()))
    assert (verdict.tone, verdict.headline) == ("warn", "Not ready")
    assert verdict.detail == "3 of 3 gates outstanding: 3 pending."
    journey.pass_everything(batch)
    assert batch_verdict(batch, gate_tally(batch.gates.all())).headline == "All gates passing"
    batch.mark_ready(by=rm)
    assert batch_verdict(batch, gate_tally(batch.gates.all())).detail == "All 3 gates passing or waived."
    batch.approve(by=rm)
    batch.refresh_from_db()
    verdict = batch_verdict(batch, gate_tally(batch.gates.all()))
    assert (verdict.tone, verdict.headline) == ("good", "Approved")
    assert verdict.detail.startswith("Approved by rita on ")


def test_the_move_offered_carries_the_rules_refusals(journey):
    batch2 = journey.batch(2)
    move = batch_move(batch2)
    assert (move.name, move.enabled, move.overridable) == ("start", False, True)
    assert move.refusals == ["Batch 1 has not started yet."]
    batch1 = journey.approve(journey.batch(1))
    assert batch_move(batch1) is None
    move = batch_move(journey.batch(2))
    assert (move.name, move.enabled) == ("start", True)


def test_next_action_per_role(journey, stakeholder, ops):
    rm, engineer = journey.release_manager, journey.engineer
    batch = journey.batch(1)
    assert next_action(batch, rm, batch_move(batch), []).button_label == "Start Batch 1"
    assert next_action(batch, engineer, batch_move(batch), []) is None
    batch.start(by=rm)
    b = board(journey, 1, engineer)
    assert b.action.text.startswith("Tick what you have verified: “Options expiration dropdown")
    assert board(journey, 1, ops).action is None  # nothing needs a screenshot in batch 1
    assert board(journey, 1, rm).action.text == "Chase the outstanding gates."
    journey.pass_everything(batch)
    batch.mark_ready(by=rm)
    assert board(journey, 1, stakeholder).action.text == "Review it: open presenting mode."
    assert board(journey, 1, engineer).action is None


def test_the_board_shows_overrides_on_both_batches(journey):
    journey.batch(1).start(by=journey.release_manager)
    journey.batch(2).start(by=journey.release_manager, override_reason="hotfix")
    second = board(journey, 2, journey.engineer)
    first = board(journey, 1, journey.engineer)
    assert second.started_with_override.reason == "hotfix"
    assert first.started_with_override is None
    assert [e.reason for e in first.overridden_by] == ["hotfix"]


def test_summaries_cost_the_same_queries_for_3_and_50_batches(small_plan, big_plan, django_assert_max_num_queries):
    viewer = UserFactory(username="viewer", role="engineer")
    with CaptureQueriesContext(connection) as small:
        summaries = plan_summaries(small_plan, viewer)
    assert len(summaries) == 3
    with django_assert_max_num_queries(len(small)):
        summaries = plan_summaries(big_plan, viewer)
    assert len(summaries) == 50
    assert {s.batch.state for s in summaries} == {"approved", "in_progress", "planned"}
    assert any(s.tally.stale for s in summaries)


def test_the_board_of_a_batch_reads_its_gates_and_items_in_a_fixed_number_of_queries(
    big_plan, engineer, django_assert_max_num_queries
):
    batch = board_batches().get(plan=big_plan, number=25)
    with django_assert_max_num_queries(2):  # the predecessor for the cadence, the override events
        b = board_for(batch, engineer)
    assert len(b.gates) == 8
    assert [len(row.items) for row in b.manual_gates] == [2, 2]
    assert b.tally.total == 8
    assert GateState.WAIVED not in {g.status for g in b.gates}


# -- the home status and the roadmap --------------------------------------------------


def test_the_current_batch_is_the_first_started_one_not_yet_approved(sample_plan, release_manager):
    sample_plan.batches.get(number=1).start(by=release_manager)
    sample_plan.batches.get(number=3).start(by=release_manager, override_reason="Front-end team is idle")
    (status,) = home_statuses([sample_plan])
    assert status.batch.number == 1
    assert status.headline == "Batch 1 in progress, blocked"
    assert status.blockers == sample_plan.batches.get(number=1).ready_blockers()


def test_a_plan_whose_batches_are_all_approved_says_so(journey):
    for number in (1, 2, 3, 4):
        journey.approve(journey.batch(number))
    (status,) = home_statuses([journey.plan])
    assert (status.batch, status.tone, status.headline) == (None, "good", "Every batch approved")


def test_the_roadmap_orders_by_plan_and_numbers_the_actual_starts(sample_plan, release_manager):
    sample_plan.batches.get(number=2).start(by=release_manager, override_reason="Sentry first")
    sample_plan.batches.get(number=1).start(by=release_manager)
    roadmap = plan_roadmap(sample_plan)
    assert [(r.batch.number, r.planned_position, r.actual_position) for r in roadmap.rows] == [
        (1, 1, 2),
        (2, 2, 1),
        (3, 3, None),
        (4, 4, None),
    ]
    assert [r.out_of_order for r in roadmap.rows] == [True, True, False, False]
    assert roadmap.rows[1].override.reason == "Sentry first"
    assert not roadmap.in_planned_order
    assert roadmap.ai_review_principle["title"] == "AI-Assisted Review"
    assert all(0 <= r.bar_offset <= 100 and r.review_offset <= 100.5 for r in roadmap.rows)


def test_the_overview_asks_by_each_items_latest_tick_or_untick(journey):
    """plan_summaries reads only an item's latest state sign-off: a later untick reopens it, a note does not."""
    from signoffs.models import ChecklistItem
    from signoffs.services import signoff_record

    engineer = journey.engineer
    batch = journey.batch(1)
    batch.start(by=journey.release_manager)
    item = ChecklistItem.objects.get(gate__batch=batch)

    def asked() -> str | None:
        summary = next(s for s in plan_summaries(journey.plan, engineer) if s.batch.pk == batch.pk)
        return summary.action.text if summary.action else None

    assert asked().startswith("Tick what you have verified")
    signoff_record(item=item, user=engineer, action="tick", note="")
    signoff_record(item=item, user=engineer, action="note", note="seen on staging")
    assert asked() is None
    signoff_record(item=item, user=engineer, action="untick", note="")
    assert asked().startswith("Tick what you have verified")
    signoff_record(item=item, user=engineer, action="tick", note="")
    assert asked() is None
