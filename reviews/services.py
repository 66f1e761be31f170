"""Review sessions: open one on a ready batch, record who attends and what they confirm, decide.

The decision is where a batch is approved now: an approval goes through
``Batch.approve`` (the governance rule: every gate passing or waived, checked
again), a send-back through ``Batch.send_back``. A sent-back batch is in
progress again, so it must be marked ready and reviewed in a new session
before it can be approved. Every row here is only ever inserted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max

from batches.models import Batch, BatchState, GovernanceError
from batches.signals import review_decision_recorded
from portal.roles import Actor
from reviews.models import (
    Decision,
    FollowUp,
    ReleaseCheckItem,
    ReviewAttendee,
    ReviewConfirmation,
    ReviewDecision,
    ReviewSession,
)

NOTE_MAX_LENGTH = 2_000
NAME_MAX_LENGTH = 150
MAX_FOLLOW_UPS = 20


class ReviewError(Exception):
    """A review action the rules refuse; nothing was written. ``str()`` is for people."""


def attendee_name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def checklist_items_for(batch: Batch) -> list[ReleaseCheckItem]:
    """The plan's current checklist: what a review of ``batch`` confirms."""
    return list(
        ReleaseCheckItem.objects.filter(checklist__plan_id=batch.plan_id, retired=False).order_by("position", "pk")
    )


# -- what the page asks before the click ----------------------------------------------


def open_refusal(batch: Batch, *, open_session: ReviewSession | None = None) -> str | None:
    """Why a review of ``batch`` cannot be opened now; None when it can (or one is open: it continues)."""
    if open_session is not None:
        return None
    if batch.state == BatchState.APPROVED:
        return f"Batch {batch.number} is approved; its review is over."
    if batch.state != BatchState.READY_FOR_REVIEW:
        return (
            f"Batch {batch.number} is {batch.get_state_display().lower()}: a review opens once a release manager "
            "marks it ready for review."
        )
    return None


def decision_refusal(
    *, batch: Batch, decided: bool, decision: str, confirmed: set[int], items: Iterable[ReleaseCheckItem]
) -> str | None:
    """Why ``decision`` cannot be recorded in ``session`` now; None when it can.

    ``confirmed`` holds the ids of the items confirmed in the session. Approval
    also needs what ``Batch.approve`` needs (its own refusal is shown as is).
    """
    if decided:
        return "This review has already decided."
    if decision not in Decision.values:
        return "Choose approve, approve with follow-ups, or send back."
    if batch.state != BatchState.READY_FOR_REVIEW:
        return f"Batch {batch.number} is {batch.get_state_display().lower()}, not ready for review."
    if decision == Decision.SENT_BACK:
        return None
    missing = [item for item in items if item.pk not in confirmed]
    if missing:
        count = len(missing)
        return f"{count} checklist item{'s are' if count != 1 else ' is'} not confirmed yet: “{missing[0].text}”" + (
            f" and {count - 1} more." if count > 1 else "."
        )
    blockers = batch.approve_blockers()
    if blockers:
        return f"Batch {batch.number} cannot be approved now. " + " ".join(blockers)
    return None


# -- actions -----------------------------------------------------------------------------


def _open_session(batch: Batch) -> ReviewSession | None:
    return ReviewSession.objects.filter(batch=batch, decision__isnull=True).order_by("-number").first()


def review_open(*, batch: Batch, by: Actor) -> ReviewSession:
    """Open a review of ``batch`` (ready for review), or return the one already open."""
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        existing = _open_session(locked)
        if existing is not None:
            return existing
        refusal = open_refusal(locked)
        if refusal:
            raise ReviewError(refusal)
        number = (locked.review_sessions.aggregate(n=Max("number"))["n"] or 0) + 1
        session = ReviewSession.objects.create(batch=locked, number=number, opened_by=by)
        # The release manager running it is in the room.
        ReviewAttendee.objects.create(session=session, user=by, name=attendee_name(by), added_by=by)
        return session


def _locked_open(session: ReviewSession) -> ReviewSession:
    locked = ReviewSession.objects.select_for_update().select_related("batch__plan").get(pk=session.pk)
    if ReviewDecision.objects.filter(session=locked).exists():
        raise ReviewError(f"Review {locked.number} of Batch {locked.batch.number} has decided; it is closed.")
    return locked


def review_attendee_add(
    *, session: ReviewSession, by: Actor, user: User | None = None, name: str = ""
) -> ReviewAttendee:
    """Add a portal user, or a typed name, to the session's attendees."""
    name = " ".join((name or "").split())
    if user is None and not name:
        raise ReviewError("Choose a portal user or type the attendee's name.")
    if user is not None:
        name = attendee_name(user)
    if len(name) > NAME_MAX_LENGTH:
        raise ReviewError(f"Keep the name under {NAME_MAX_LENGTH} characters.")
    try:
        with transaction.atomic():
            locked = _locked_open(session)
            same = locked.attendees.filter(name__iexact=name).first()
            if same is not None:
                raise ReviewError(f"{same.name} is already on the attendee list.")
            return ReviewAttendee.objects.create(session=locked, user=user, name=name, added_by=by)
    except IntegrityError as exc:  # the same name added at the same moment
        raise ReviewError(f"{name} is already on the attendee list.") from exc


def review_confirm(
    *, session: ReviewSession, item: ReleaseCheckItem, attendee: ReviewAttendee, note: str, by: Actor
) -> ReviewConfirmation:
    """Record that ``attendee`` confirmed ``item`` in the session, with a note. Once per item."""
    note = (note or "").strip()
    if not note:
        raise ReviewError("Write a note: what was checked, and how.")
    if len(note) > NOTE_MAX_LENGTH:
        raise ReviewError(f"Keep the note under {NOTE_MAX_LENGTH:,} characters (it has {len(note):,}).")
    try:
        with transaction.atomic():
            locked = _locked_open(session)
            if attendee.session_id != locked.pk:
                raise ReviewError("Choose someone on this review's attendee list.")
            if item.retired or item.checklist.plan_id != locked.batch.plan_id:
                raise ReviewError("That item is not on this plan's release checklist.")
            previous = locked.confirmations.filter(item=item).select_related("attendee").first()
            if previous is not None:
                raise ReviewError(f"Already confirmed by {previous.attendee.name}.")
            return ReviewConfirmation.objects.create(
                session=locked, item=item, item_text=item.text, attendee=attendee, note=note, recorded_by=by
            )
    except IntegrityError as exc:  # confirmed by someone else at the same moment
        raise ReviewError("Someone confirmed this item at the same moment; reload the page.") from exc


@dataclass(frozen=True)
class FollowUpInput:
    text: str
    owner: str


def review_decide(
    *,
    session: ReviewSession,
    decision: str,
    by: Actor,
    reason: str = "",
    follow_ups: Iterable[FollowUpInput] = (),
) -> ReviewDecision:
    """End the session with a decision; approving approves the batch, sending back returns it to in progress.

    All or nothing: a refused approval (a gate turned, an item unconfirmed)
    writes no decision. The ``review_decision_recorded`` signal goes out in the
    same transaction (notifications send after the commit).
    """
    reason = (reason or "").strip()
    cleaned = [FollowUpInput(" ".join(f.text.split()), " ".join(f.owner.split())) for f in follow_ups]
    cleaned = [f for f in cleaned if f.text or f.owner]
    if decision == Decision.SENT_BACK and not reason:
        raise ReviewError("Write why the batch is sent back: the team reads it to know what to fix.")
    if decision == Decision.APPROVED_WITH_FOLLOW_UPS:
        if not cleaned:
            raise ReviewError("Add at least one follow-up, each with an owner.")
        for f in cleaned:
            if not f.text or not f.owner:
                raise ReviewError("Every follow-up needs both what is to be done and who owns it.")
        if len(cleaned) > MAX_FOLLOW_UPS:
            raise ReviewError(f"At most {MAX_FOLLOW_UPS} follow-ups.")
    elif cleaned and decision != Decision.SENT_BACK:
        raise ReviewError("Follow-ups go with “approve with follow-ups”.")
    try:
        with transaction.atomic():
            batch = Batch.objects.select_for_update().select_related("plan").get(pk=session.batch_id)
            locked = _locked_open(session)
            items = checklist_items_for(batch)
            confirmed = set(locked.confirmations.values_list("item_id", flat=True))
            refusal = decision_refusal(batch=batch, decided=False, decision=decision, confirmed=confirmed, items=items)
            if refusal:
                raise ReviewError(refusal)
            if decision == Decision.SENT_BACK:
                batch.send_back(by=by, reason=reason)
            else:
                batch.approve(by=by)
            row = ReviewDecision.objects.create(
                session=locked,
                decision=decision,
                reason=reason if decision == Decision.SENT_BACK else "",
                decided_by=by,
            )
            for position, f in enumerate(cleaned if decision == Decision.APPROVED_WITH_FOLLOW_UPS else []):
                FollowUp.objects.create(decision=row, text=f.text, owner=f.owner, position=position)
            note = reason or "; ".join(f"{f.text} (owner: {f.owner})" for f in row.follow_ups.all())
            review_decision_recorded.send_robust(
                sender=ReviewSession,
                batch=batch,
                decision=row.get_decision_display().lower(),
                by=by,
                key=f"review-session-{locked.pk}",
                note=note,
            )
            return row
    except GovernanceError as exc:
        raise ReviewError(str(exc)) from exc
    except IntegrityError as exc:  # another decision landed at the same moment
        raise ReviewError("This review decided at the same moment elsewhere; reload the page.") from exc
