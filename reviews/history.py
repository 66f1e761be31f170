"""A batch's review sessions with everything shown about them, loaded in a fixed number of queries.

The review page, presenting mode, the summary comment and the sign-off record
all read sessions through :func:`sessions_for`, so each costs the same few
queries however many attendees, confirmations and follow-ups there are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Prefetch

from batches.models import Batch
from reviews.models import FollowUp, ReviewAttendee, ReviewConfirmation, ReviewDecision, ReviewSession
from signoffs.audit import RecordSection, SectionRow


@dataclass
class SessionView:
    """One session as pages and documents show it."""

    session: ReviewSession
    attendees: list[ReviewAttendee]
    confirmations: dict[int, ReviewConfirmation]  # item id -> its confirmation
    decision: ReviewDecision | None
    follow_ups: list[FollowUp] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.decision is None

    @property
    def number(self) -> int:
        return self.session.number


def sessions_for(batch_ids: Iterable[int]) -> dict[int, list[SessionView]]:
    """Batch id -> its sessions, oldest first: four queries for any number of batches."""
    sessions = (
        ReviewSession.objects.filter(batch_id__in=list(batch_ids))
        .select_related("opened_by", "decision__decided_by")
        .prefetch_related(
            Prefetch(
                "attendees",
                queryset=ReviewAttendee.objects.select_related("user", "added_by").order_by("added_at", "pk"),
            ),
            Prefetch(
                "confirmations",
                queryset=ReviewConfirmation.objects.select_related("attendee", "recorded_by").order_by(
                    "created_at", "pk"
                ),
            ),
            "decision__follow_ups",
        )
        .order_by("batch_id", "number")
    )
    result: dict[int, list[SessionView]] = {}
    for session in sessions:
        decision = session.decision if _has_decision(session) else None
        result.setdefault(session.batch_id, []).append(
            SessionView(
                session=session,
                attendees=list(session.attendees.all()),
                confirmations={c.item_id: c for c in session.confirmations.all()},
                decision=decision,
                follow_ups=list(decision.follow_ups.all()) if decision else [],
            )
        )
    return result


def _has_decision(session: ReviewSession) -> bool:
    try:
        session.decision  # noqa: B018 (select_related filled it, or knows there is none: no query)
    except ReviewDecision.DoesNotExist:
        return False
    return True


def record_section(batch: Batch) -> RecordSection:
    """The stakeholder review's section of the batch's sign-off record (registered in ``reviews.apps``)."""
    rows: list[SectionRow] = []
    for view in sessions_for([batch.pk]).get(batch.pk, []):
        name = f"Review {view.number}"
        rows.append(SectionRow(name, "Opened", _who(view.session.opened_by), view.session.opened_at))
        for attendee in view.attendees:
            detail = "portal user" if attendee.user_id else "name typed in"
            rows.append(
                SectionRow(name, f"Attendee: {attendee.name}", _who(attendee.added_by), attendee.added_at, detail)
            )
        for confirmation in view.confirmations.values():
            rows.append(
                SectionRow(
                    name,
                    f"Confirmed: {confirmation.item_text}",
                    f"{confirmation.attendee.name} (recorded by {_who(confirmation.recorded_by)})",
                    confirmation.created_at,
                    confirmation.note,
                )
            )
        if view.decision:
            rows.append(
                SectionRow(
                    name,
                    f"Decision: {view.decision.get_decision_display()}",
                    _who(view.decision.decided_by),
                    view.decision.decided_at,
                    view.decision.reason,
                )
            )
            for follow_up in view.follow_ups:
                rows.append(SectionRow(name, f"Follow-up: {follow_up.text}", follow_up.owner, None, "owner"))
    return RecordSection(
        title="Stakeholder review",
        columns=("Review", "Event", "By", "At", "Detail"),
        rows=rows,
        empty="no review yet",
        csv_record="review",
    )


def _who(user) -> str:
    if user is None:
        return ""
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()
