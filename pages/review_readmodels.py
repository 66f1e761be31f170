"""What the review pages show: the review session, the release checklist, the summary comment.

Like ``pages.readmodels``: a fixed number of queries whatever the plan's size,
and every control computed from the rule its action applies
(``open_refusal``, ``decision_refusal``), so the page says what will happen
before the click.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet

from batches.models import Batch, Gate, Plan
from portal.roles import Role
from reviews.history import SessionView, sessions_for
from reviews.models import Decision, ReleaseCheckItem, ReleaseChecklist, ReleaseCheckRevision
from reviews.services import checklist_items_for, decision_refusal, open_refusal

# The decision form's words: what the review does (the record says what it did).
DECISION_CHOICES = [
    (Decision.APPROVED, "Approve"),
    (Decision.APPROVED_WITH_FOLLOW_UPS, "Approve with follow-ups"),
    (Decision.SENT_BACK, "Send back"),
]


def review_batches() -> QuerySet[Batch]:
    """Batches with what the review rules read (gates, for ``approve_blockers``)."""
    return Batch.objects.select_related("plan", "approved_by").prefetch_related(
        Prefetch("gates", queryset=Gate.objects.select_related("waived_by"))
    )


@dataclass
class ChecklistRow:
    item: ReleaseCheckItem
    confirmation: object = None  # ReviewConfirmation | None
    error: str = ""
    note_value: str = ""
    attendee_value: str = ""

    @property
    def pk(self) -> int:
        return self.item.pk


@dataclass
class DecisionOption:
    value: str
    label: str
    refusal: str | None


@dataclass
class ReviewBoard:
    batch: Batch
    sessions: list[SessionView]
    checklist: list[ChecklistRow]
    open_refusal: str | None
    options: list[DecisionOption] = field(default_factory=list)
    users: list[User] = field(default_factory=list)

    @property
    def current(self) -> SessionView | None:
        return self.sessions[-1] if self.sessions else None

    @property
    def open_session(self) -> SessionView | None:
        current = self.current
        return current if current is not None and current.is_open else None

    @property
    def earlier(self) -> list[SessionView]:
        return self.sessions[:-1]

    @property
    def headings(self) -> list[tuple[str, list[ChecklistRow]]]:
        return _by_heading(self.checklist, lambda row: row.item.heading)

    @property
    def confirmed_count(self) -> int:
        return sum(1 for row in self.checklist if row.confirmation is not None)


def _by_heading(rows, heading_of) -> list[tuple[str, list]]:
    groups: list[tuple[str, list]] = []
    for row in rows:
        heading = heading_of(row)
        if not groups or groups[-1][0] != heading:
            groups.append((heading, []))
        groups[-1][1].append(row)
    return groups


def review_board(batch: Batch, *, with_users: bool = False) -> ReviewBoard:
    """``batch`` from :func:`review_batches`. Sessions, checklist and the decision options."""
    sessions = sessions_for([batch.pk]).get(batch.pk, [])
    current = sessions[-1] if sessions else None
    open_session = current if current is not None and current.is_open else None
    shown = open_session or current
    items = checklist_items_for(batch)
    rows = [ChecklistRow(item, shown.confirmations.get(item.pk) if shown else None) for item in items]
    board = ReviewBoard(
        batch=batch,
        sessions=sessions,
        checklist=rows,
        open_refusal=open_refusal(batch, open_session=open_session.session if open_session else None),
    )
    if open_session is not None:
        confirmed = set(open_session.confirmations)
        board.options = [
            DecisionOption(
                value,
                label,
                decision_refusal(batch=batch, decided=False, decision=value, confirmed=confirmed, items=items),
            )
            for value, label in DECISION_CHOICES
        ]
        if with_users:
            board.users = list(
                User.objects.filter(is_active=True, groups__name__in=Role.values).distinct().order_by("username")
            )
    return board


def checklist_row(board: ReviewBoard, item_pk: int) -> ChecklistRow | None:
    return next((row for row in board.checklist if row.item.pk == item_pk), None)


# -- the plan's checklist page --------------------------------------------------------------


@dataclass
class ChecklistPage:
    plan: Plan
    checklist: ReleaseChecklist | None
    items: list[ReleaseCheckItem]
    retired: list[ReleaseCheckItem]

    @property
    def headings(self) -> list[tuple[str, list[ReleaseCheckItem]]]:
        return _by_heading(self.items, lambda item: item.heading)


def checklist_page(plan: Plan) -> ChecklistPage:
    """The plan's checklist with every item's history: three queries."""
    checklist = ReleaseChecklist.objects.filter(plan=plan).first()
    items: list[ReleaseCheckItem] = []
    if checklist is not None:
        items = list(
            checklist.items.order_by("position", "pk").prefetch_related(
                Prefetch(
                    "revisions", queryset=ReleaseCheckRevision.objects.select_related("by").order_by("created_at", "pk")
                )
            )
        )
    return ChecklistPage(
        plan=plan,
        checklist=checklist,
        items=[i for i in items if not i.retired],
        retired=[i for i in items if i.retired],
    )
