"""Review sessions: who may open one when, attendees, confirmations, and the three decisions."""

from __future__ import annotations

import re

import pytest

from batches.models import BatchEvent, BatchState
from batches.signals import review_decision_recorded
from reviews.models import Decision, ReviewConfirmation, ReviewDecision, ReviewSession
from reviews.services import (
    FollowUpInput,
    ReviewError,
    checklist_items_for,
    review_attendee_add,
    review_confirm,
    review_decide,
    review_open,
)


def _confirm_all(session, attendee, by):
    for item in checklist_items_for(session.batch):
        review_confirm(session=session, item=item, attendee=attendee, note="Seen on the projector", by=by)


def test_a_review_opens_only_on_a_ready_batch(journey, checklist):
    batch = journey.batch(1)
    with pytest.raises(ReviewError, match=r"^Batch 1 is planned: a review opens once a release manager marks it"):
        review_open(batch=batch, by=journey.release_manager)
    batch.start(by=journey.release_manager)
    with pytest.raises(ReviewError, match=r"^Batch 1 is in progress"):
        review_open(batch=batch, by=journey.release_manager)
    assert not ReviewSession.objects.exists()


def test_opening_twice_continues_the_open_review(ready_batch, release_manager):
    first = review_open(batch=ready_batch, by=release_manager)
    again = review_open(batch=ready_batch, by=release_manager)
    assert first.pk == again.pk
    assert first.number == 1
    # Whoever opened it attends.
    assert [a.name for a in first.attendees.all()] == ["rita"]


def test_attendees_are_portal_users_or_typed_names_once_each(ready_batch, release_manager, stakeholder):
    session = review_open(batch=ready_batch, by=release_manager)
    review_attendee_add(session=session, by=release_manager, user=stakeholder)
    review_attendee_add(session=session, by=release_manager, name="  Priya   Raman ")
    with pytest.raises(ReviewError, match=re.escape("Priya Raman is already on the attendee list.")):
        review_attendee_add(session=session, by=release_manager, name="priya raman")
    with pytest.raises(ReviewError, match=re.escape("Choose a portal user or type the attendee's name.")):
        review_attendee_add(session=session, by=release_manager, name="   ")
    assert [(a.name, a.user) for a in session.attendees.order_by("pk")] == [
        ("rita", release_manager),
        ("stan", stakeholder),
        ("Priya Raman", None),
    ]


def test_a_confirmation_needs_a_note_and_an_attendee_of_this_review(ready_batch, release_manager):
    session = review_open(batch=ready_batch, by=release_manager)
    seat = session.attendees.get()
    item = checklist_items_for(ready_batch)[0]
    with pytest.raises(ReviewError, match="Write a note"):
        review_confirm(session=session, item=item, attendee=seat, note="  ", by=release_manager)
    review_confirm(session=session, item=item, attendee=seat, note="CI run 4411 green", by=release_manager)
    with pytest.raises(ReviewError, match=re.escape("Already confirmed by rita.")):
        review_confirm(session=session, item=item, attendee=seat, note="again", by=release_manager)
    confirmation = ReviewConfirmation.objects.get()
    assert (confirmation.item_text, confirmation.note) == (item.text, "CI run 4411 green")


def test_approval_waits_for_every_checklist_item(ready_batch, release_manager):
    session = review_open(batch=ready_batch, by=release_manager)
    first = checklist_items_for(ready_batch)[0]
    review_confirm(session=session, item=first, attendee=session.attendees.get(), note="ok", by=release_manager)
    with pytest.raises(ReviewError, match=r"^7 checklist items are not confirmed yet: “Environment variables"):
        review_decide(session=session, decision=Decision.APPROVED, by=release_manager)
    ready_batch.refresh_from_db()
    assert ready_batch.state == BatchState.READY_FOR_REVIEW
    assert not ReviewDecision.objects.exists()


def test_approve_with_follow_ups_approves_through_the_governance_rule_and_unblocks_the_next_batch(ready_batch, journey):
    rm = journey.release_manager
    announced = []
    review_decision_recorded.connect(lambda sender, **kw: announced.append(kw), weak=False, dispatch_uid="t")
    try:
        session = review_open(batch=ready_batch, by=rm)
        _confirm_all(session, session.attendees.get(), rm)
        with pytest.raises(
            ReviewError, match=re.escape("Every follow-up needs both what is to be done and who owns it.")
        ):
            review_decide(
                session=session, decision=Decision.APPROVED_WITH_FOLLOW_UPS, by=rm, follow_ups=[FollowUpInput("x", "")]
            )
        decision = review_decide(
            session=session,
            decision=Decision.APPROVED_WITH_FOLLOW_UPS,
            by=rm,
            follow_ups=[FollowUpInput("Re-run the Sentry check", "olga"), FollowUpInput("", "")],
        )
    finally:
        review_decision_recorded.disconnect(dispatch_uid="t")
    ready_batch.refresh_from_db()
    assert ready_batch.state == BatchState.APPROVED
    assert ready_batch.approved_by == rm
    assert [(f.text, f.owner) for f in decision.follow_ups.all()] == [("Re-run the Sentry check", "olga")]
    assert journey.batch(2).start_blockers() == []
    [event] = announced
    assert (event["decision"], event["key"], event["note"]) == (
        "approved with follow-ups",
        f"review-session-{session.pk}",
        "Re-run the Sentry check (owner: olga)",
    )
    # Append-only: the decided review takes nothing more.
    with pytest.raises(ReviewError, match="has decided; it is closed"):
        review_attendee_add(session=session, by=rm, name="Late comer")


def test_approval_is_refused_when_a_gate_turned_and_nothing_is_written(ready_batch, journey):
    rm = journey.release_manager
    session = review_open(batch=ready_batch, by=rm)
    _confirm_all(session, session.attendees.get(), rm)
    journey.report(ready_batch, ci="failure")
    journey.sync(ready_batch)
    with pytest.raises(ReviewError, match=r"^Batch 1 cannot be approved now\. CI gate"):
        review_decide(session=session, decision=Decision.APPROVED, by=rm)
    assert not ReviewDecision.objects.exists()
    # It can still be sent back.
    review_decide(session=session, decision=Decision.SENT_BACK, by=rm, reason="CI broke on main")
    ready_batch.refresh_from_db()
    assert ready_batch.state == BatchState.IN_PROGRESS


def test_a_sent_back_batch_must_be_reviewed_again_before_approval(ready_batch, journey):
    rm = journey.release_manager
    session = review_open(batch=ready_batch, by=rm)
    with pytest.raises(ReviewError, match="Write why the batch is sent back"):
        review_decide(session=session, decision=Decision.SENT_BACK, by=rm, reason=" ")
    review_decide(session=session, decision=Decision.SENT_BACK, by=rm, reason="The smoke tests were not run")
    ready_batch.refresh_from_db()
    assert ready_batch.state == BatchState.IN_PROGRESS
    assert ready_batch.ready_at is None
    event = BatchEvent.objects.filter(batch=ready_batch).last()
    assert (event.action, event.reason) == ("sent_back", "The smoke tests were not run")
    # The old review is closed: it cannot approve now, nor later.
    with pytest.raises(ReviewError, match="has decided; it is closed"):
        review_decide(session=session, decision=Decision.APPROVED, by=rm)
    # No new review until it is ready again...
    with pytest.raises(ReviewError, match="Batch 1 is in progress"):
        review_open(batch=ready_batch, by=rm)
    ready_batch.mark_ready(by=rm)
    again = review_open(batch=ready_batch, by=rm)
    assert again.number == 2
    assert again.pk != session.pk
    # ...and that new review confirms the checklist afresh before it approves.
    with pytest.raises(ReviewError, match="not confirmed yet"):
        review_decide(session=again, decision=Decision.APPROVED, by=rm)
    _confirm_all(again, again.attendees.get(), rm)
    review_decide(session=again, decision=Decision.APPROVED, by=rm)
    ready_batch.refresh_from_db()
    assert ready_batch.state == BatchState.APPROVED
