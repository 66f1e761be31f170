"""Page read-models: what the plan overview and a batch's pages show, loaded in a fixed number of queries.

Views call these; templates only read the attributes set here, so no template
ever triggers a query per row (a plan of 50 batches costs what a plan of 4 does).
Every control a page offers is computed from the same rule the action itself
applies (``Batch.start_blockers``, ``Gate.waiver_refusal``, ``tick_refusal``…),
so the page says what will happen before the click.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import F, Max, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from batches.models import (
    Batch,
    BatchEvent,
    BatchEventAction,
    BatchState,
    Gate,
    GateKind,
    GateState,
    Plan,
    PlannedPR,
)
from portal.roles import AnyUser, Role, user_can, user_roles
from reviews.models import ReviewSession
from signoffs.itemstate import ItemState, item_state
from signoffs.models import ChecklistItem, Evidence, SignOff
from signoffs.services import tick_refusal

# -- permissions as the templates need them ------------------------------------


def permissions_for(user: AnyUser) -> dict[str, bool]:
    """Which controls to show. Only for hiding controls: every view checks again itself."""
    return {
        "tick": user_can(user, "tick"),
        "upload": user_can(user, "upload_evidence"),
        "change_state": user_can(user, "change_batch_state"),
        "link_pr": user_can(user, "link_pr"),
        "import_plan": user_can(user, "import_plan"),
        "manage_lockouts": user_can(user, "manage_lockouts"),
        "waive": user_can(user, "waive_gate"),
        "configure": user_can(user, "configure_plan"),
        "run_review": user_can(user, "run_review"),
        "edit_checklist": user_can(user, "edit_checklist"),
        "post_summary": user_can(user, "post_summary"),
    }


def open_review_batch_ids(batch_ids: list[int]) -> set[int]:
    """Which of these batches have a review session open (one query)."""
    return set(
        ReviewSession.objects.filter(batch_id__in=batch_ids, decision__isnull=True).values_list("batch_id", flat=True)
    )


# -- gate tallies and verdicts ---------------------------------------------------

BUCKETS = ("passing", "waived", "failing", "stale", "pending")


@dataclass
class GateTally:
    passing: int = 0
    waived: int = 0
    failing: int = 0
    stale: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in BUCKETS)

    @property
    def outstanding(self) -> int:
        """Gates that keep the batch from being ready: neither passing nor waived."""
        return self.total - self.passing - self.waived

    def segments(self) -> list[tuple[str, int, float]]:
        """(name, count, percent) for the progress bar, zero-count segments left out."""
        total = self.total or 1
        return [
            (name, getattr(self, name), round(100 * getattr(self, name) / total, 2))
            for name in BUCKETS
            if getattr(self, name)
        ]


def gate_bucket(gate: Gate) -> str:
    """The progress-bar bucket of one gate. A waived gate has its own: it no longer blocks, but it did not pass."""
    status = gate.status
    if status == GateState.PASSING:
        return "passing"
    if status == GateState.WAIVED:
        return "waived"
    if status in (GateState.FAILING, GateState.REVIEWER_UNAVAILABLE):
        return "failing"
    if status == GateState.STALE:
        return "stale"
    return "pending"  # pending and needs-configuration: nothing known yet


def gate_tally(gates: Iterable[Gate]) -> GateTally:
    tally = GateTally()
    for gate in gates:
        bucket = gate_bucket(gate)
        setattr(tally, bucket, getattr(tally, bucket) + 1)
    return tally


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class Verdict:
    tone: str  # good / warn / bad / neutral: a CSS modifier
    headline: str
    detail: str = ""


def batch_verdict(batch: Batch, tally: GateTally) -> Verdict:
    """The one-line answer a stakeholder wants on the projector."""
    waived = f" ({tally.waived} waived)" if tally.waived else ""
    if batch.state == BatchState.APPROVED:
        who = batch.approved_by.get_username() if batch.approved_by else "a release manager"
        when = f" on {batch.approved_at:%d %b %Y}" if batch.approved_at else ""
        also = f" {_count(tally.waived, 'gate')} waived." if tally.waived else ""
        return Verdict("good", "Approved", f"Approved by {who}{when}.{also}")
    if batch.state == BatchState.READY_FOR_REVIEW:
        if tally.outstanding:
            return Verdict(
                "bad",
                "Ready for review, but a gate turned",
                f"{tally.outstanding} of {_count(tally.total, 'gate')} no longer passing: approval waits for them.",
            )
        return Verdict("good", "Ready for review", f"All {_count(tally.total, 'gate')} passing or waived{waived}.")
    if batch.state == BatchState.PLANNED:
        return Verdict("neutral", "Not started", "This batch has not started yet.")
    if tally.outstanding == 0:
        return Verdict(
            "good",
            "All gates passing" if not tally.waived else "All gates passing or waived",
            f"Waiting for a release manager to mark it ready{waived}.",
        )
    tone = "bad" if tally.failing else "warn"
    parts = [f"{n} {name}" for name, n, _ in tally.segments() if name not in ("passing", "waived")]
    return Verdict(
        tone,
        "Not ready",
        f"{tally.outstanding} of {_count(tally.total, 'gate')} outstanding: {', '.join(parts)}.",
    )


def batch_blockers(batch: Batch) -> list[str]:
    """What stands in the batch's way right now, in the model's own words."""
    if batch.state == BatchState.PLANNED:
        return batch.start_blockers()
    if batch.state in (BatchState.IN_PROGRESS, BatchState.READY_FOR_REVIEW):
        return batch.readiness_blockers()
    return []


# -- the lifecycle control -------------------------------------------------------


@dataclass
class Move:
    """The release manager's next lifecycle button: enabled, or disabled with the reasons it would be refused."""

    name: str  # start / ready / review
    label: str
    url: str
    refusals: list[str]

    @property
    def enabled(self) -> bool:
        return not self.refusals

    @property
    def overridable(self) -> bool:
        """A blocked start may go ahead on a release manager's written override (the cadence rule only)."""
        return self.name == "start" and bool(self.refusals)


def batch_move(batch: Batch, *, review_open: bool = False) -> Move | None:
    """The lifecycle move a batch in this state offers (None once approved).

    ``review_open``: a review session of the batch is open (the move continues it).
    """
    kwargs = {"slug": batch.plan.slug, "number": batch.number}
    if batch.state == BatchState.PLANNED:
        return Move(
            "start",
            f"Start Batch {batch.number}",
            reverse("pages:batch-start", kwargs=kwargs),
            batch.start_blockers(),
        )
    if batch.state == BatchState.IN_PROGRESS:
        return Move(
            "ready", "Mark ready for review", reverse("pages:batch-ready", kwargs=kwargs), batch.ready_blockers()
        )
    if batch.state == BatchState.READY_FOR_REVIEW:
        # Approval is the review's decision: the move opens the review (or goes back to the open one).
        # It is never disabled: a review may also send the batch back.
        return Move(
            "review",
            "Continue review" if review_open else "Open review",
            reverse("pages:review-open", kwargs=kwargs),
            [],
        )
    return None


@dataclass
class NextAction:
    text: str
    # A lifecycle button for release managers.
    button_label: str = ""
    button_url: str = ""


def next_action(batch: Batch, user: AnyUser, move: Move | None, checklist: list[ItemRow]) -> NextAction | None:
    """What the viewer, given their role, should do next for this batch (None: nothing).

    Computed from the same rules as the buttons: it never asks for something
    the action would refuse, nor for an item that is already ticked.
    """
    roles = user_roles(user)
    state = batch.state
    if Role.RELEASE_MANAGER in roles and move is not None:
        if move.enabled:
            text = {
                "start": "Start this batch.",
                "ready": "Mark it ready for review.",
                "review": "Hold the review: confirm the release checklist with the attendees and decide.",
            }[move.name]
            return NextAction(text, move.label, move.url)
        if move.name == "start":
            return NextAction("Wait for the previous batch, or start this one with a written override.")
        return NextAction("Chase the outstanding gates.")
    if state == BatchState.READY_FOR_REVIEW and Role.STAKEHOLDER in roles:
        return NextAction("Review it: open presenting mode.")
    if state != BatchState.IN_PROGRESS:
        return None
    open_items = [row for row in checklist if not row.state.done]
    tickable = [row for row in open_items if not row.state.ticked and not row.state.needs_evidence]
    needs_file = [row for row in open_items if row.state.needs_evidence]
    if Role.ENGINEER in roles and tickable:
        return NextAction(f"Tick what you have verified: {_quoted(tickable)}.")
    if Role.OPS in roles and needs_file:
        return NextAction(f"Upload the screenshot for {_quoted(needs_file)}.")
    if Role.ENGINEER in roles and needs_file:
        return NextAction(f"Waiting for ops to upload the screenshot for {_quoted(needs_file)}; then tick it.")
    return None


def _quoted(rows: list[ItemRow], limit: int = 2) -> str:
    shown = [f"“{row.item.text}”" for row in rows[:limit]]
    if len(rows) > limit:
        shown.append(f"{len(rows) - limit} more")
    return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]


# -- checklist items ---------------------------------------------------------------


class _Forwards:
    """A row reads like its model in templates (``row.pk``, ``row.label``): unknown names go to the model."""

    _model_field = ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_model_field":
            raise AttributeError(name)
        return getattr(getattr(self, self._model_field), name)


@dataclass
class ItemRow(_Forwards):
    """A checklist item as its row shows it: its state, and what its controls would do."""

    item: ChecklistItem
    state: ItemState
    tick_refusal: str | None = None
    untick_refusal: str | None = None
    upload_refusal: str | None = None
    error: str = ""
    note_value: str = ""
    _model_field = "item"

    @property
    def history(self) -> list[SignOff]:
        return self.state.history

    @property
    def state_event(self) -> SignOff | None:
        return self.state.state_event

    @property
    def ticked(self) -> bool:
        return self.state.ticked

    @property
    def current_evidence(self) -> list[Evidence]:
        return self.state.current_evidence


def item_row(item: ChecklistItem, batch: Batch, error: str = "", note: str = "") -> ItemRow:
    """The item's row: its state from its prefetched history, and its controls' refusals."""
    state = item_state(item)
    approved = batch.state == BatchState.APPROVED
    return ItemRow(
        item=item,
        state=state,
        tick_refusal=tick_refusal(batch_state=batch.state, batch_number=batch.number, state=state),
        untick_refusal=f"Batch {batch.number} is approved; its sign-offs are final." if approved else None,
        upload_refusal=f"Batch {batch.number} is approved; its evidence is final." if approved else None,
        error=error,
        note_value=note,
    )


@dataclass
class GateRow(_Forwards):
    """A gate as the pages show it: its bucket, the PRs it covers, its checklist rows."""

    gate: Gate
    bucket: str
    scope_prs: list[PlannedPR] = field(default_factory=list)
    items: list[ItemRow] = field(default_factory=list)
    _model_field = "gate"


def board_items() -> QuerySet[ChecklistItem]:
    return ChecklistItem.objects.prefetch_related(
        Prefetch("events", queryset=SignOff.objects.select_related("user").order_by("sequence")),
        Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by").order_by("uploaded_at", "pk")),
    )


# -- plan overview ---------------------------------------------------------------


@dataclass
class BatchSummary:
    batch: Batch
    tally: GateTally
    blockers: list[str]
    action: NextAction | None
    overrides: list[BatchEvent]
    verdict: Verdict = field(init=False)

    def __post_init__(self) -> None:
        self.verdict = batch_verdict(self.batch, self.tally)


def _overrides() -> QuerySet[BatchEvent]:
    return BatchEvent.objects.filter(action=BatchEventAction.STARTED_WITH_OVERRIDE).select_related(
        "by", "batch", "related_batch"
    )


def plan_summaries(plan: Plan, user: AnyUser) -> list[BatchSummary]:
    """Every batch of ``plan`` in order, with tallies, blockers and next actions: a fixed number of queries."""
    # Only a batch in progress asks anyone to tick or upload (``next_action``): the other
    # batches' items, their sign-offs and evidence are not read, so they are not loaded, and
    # of an item's history only its latest tick or untick decides it. Loaded apart from the
    # gates, not as a prefetch through them: a prefetch builds a cache on each of the plan's
    # ~550 gates, which cost more than everything else on the page (profiled: 6,500 querysets).
    open_items = ChecklistItem.objects.filter(gate__batch__plan=plan, gate__batch__state=BatchState.IN_PROGRESS)
    latest = (
        SignOff.objects.filter(item__in=open_items, action__in=SignOff.STATE_ACTIONS)
        .order_by()
        .values("item_id")
        .annotate(last=Max("pk"))
        .values("last")
    )
    items_of_gate: dict[int, list[ChecklistItem]] = {}
    for item in open_items.only("pk", "gate_id", "evidence_required", "text").prefetch_related(
        Prefetch("events", queryset=SignOff.objects.filter(pk__in=latest).select_related("user")),
        Prefetch("evidence", queryset=Evidence.objects.only("pk", "item_id", "replaces_id")),
    ):
        items_of_gate.setdefault(item.gate_id, []).append(item)
    gates = Gate.objects.select_related("waived_by")
    batches = list(
        plan.batches.order_by("number")
        .select_related("approved_by")
        .prefetch_related(Prefetch("gates", queryset=gates))
    )
    overrides: dict[int, list[BatchEvent]] = {}
    for event in _overrides().filter(batch__plan=plan):
        overrides.setdefault(event.batch_id, []).append(event)
        if event.related_batch_id:
            overrides.setdefault(event.related_batch_id, []).append(event)
    ready = [b.pk for b in batches if b.state == BatchState.READY_FOR_REVIEW]
    reviewing = open_review_batch_ids(ready) if ready else set()
    previous = None
    summaries = []
    for batch in batches:
        batch.plan = plan
        batch._previous_batch = previous  # read by Batch.previous_batch()
        previous = batch
        checklist = [
            ItemRow(item=item, state=item_state(item))
            for gate in batch.gates.all()
            if gate.kind == GateKind.MANUAL
            for item in items_of_gate.get(gate.pk, [])
        ]
        move = batch_move(batch, review_open=batch.pk in reviewing)
        summaries.append(
            BatchSummary(
                batch,
                gate_tally(batch.gates.all()),
                batch_blockers(batch),
                next_action(batch, user, move, checklist),
                overrides.get(batch.pk, []),
            )
        )
    return summaries


# -- batch review ----------------------------------------------------------------


def board_batches() -> QuerySet[Batch]:
    """Batches with everything the review page shows prefetched: a fixed number of queries.

    The planned PRs come joined to the gates that name them (one row per PR and
    gate, ``gate_link`` null for a PR no gate names), which saves a query on the
    page people keep open and poll; ``board_for`` untangles the rows.
    """
    return Batch.objects.select_related("plan", "approved_by", "started_by").prefetch_related(
        Prefetch(
            "prs",
            queryset=PlannedPR.objects.annotate(gate_link=F("gates__id")).order_by("number"),
            to_attr="pr_rows",
        ),
        Prefetch(
            "gates",
            queryset=Gate.objects.select_related("waived_by").prefetch_related(
                Prefetch("items", queryset=board_items())
            ),
        ),
    )


def previous_batch_for(batch: Batch) -> None:
    """Load the predecessor with its gates in two queries, for ``start_blockers``."""
    previous = (
        Batch.objects.filter(plan_id=batch.plan_id, number__lt=batch.number)
        .order_by("-number")
        .prefetch_related("gates")
        .first()
    )
    batch._previous_batch = previous


@dataclass
class BatchBoard:
    """Everything a batch's page and presenting mode render for it."""

    batch: Batch
    prs: list[PlannedPR]
    gates: list[GateRow]
    manual_gates: list[GateRow]
    tally: GateTally
    verdict: Verdict
    blockers: list[str]
    move: Move | None
    action: NextAction | None
    overrides: list[BatchEvent]

    @property
    def waivable_gates(self) -> list[GateRow]:
        """Gates a release manager may waive now (the gate decides: ``Gate.waiver_refusal``)."""
        return [row for row in self.gates if row.gate.can_be_waived]

    @property
    def revocable_gates(self) -> list[GateRow]:
        return [row for row in self.gates if row.gate.revocation_refusal() is None]

    @property
    def started_with_override(self) -> BatchEvent | None:
        return next((e for e in self.overrides if e.batch_id == self.batch.pk), None)

    @property
    def overridden_by(self) -> list[BatchEvent]:
        """Overrides that started a later batch before this one passed."""
        return [e for e in self.overrides if e.related_batch_id == self.batch.pk]


def board_for(batch: Batch, user: AnyUser) -> BatchBoard:
    """``batch`` must come from ``board_batches()``."""
    if batch.state == BatchState.PLANNED:
        previous_batch_for(batch)
    prs: dict[int, PlannedPR] = {}
    prs_of_gate: dict[int, list[PlannedPR]] = {}
    pr_rows: list[PlannedPR] = batch.pr_rows  # type: ignore[attr-defined]  # the to_attr prefetch above
    for row in pr_rows:
        pr = prs.setdefault(row.pk, row)
        gate_link: int | None = row.gate_link  # type: ignore[attr-defined]  # annotated by the prefetch
        if gate_link is not None:
            prs_of_gate.setdefault(gate_link, []).append(pr)
    gates = []
    for gate in batch.gates.all():
        gate.batch = batch  # the waiver rules read it; no query
        items = [item_row(item, batch) for item in gate.items.all()]
        gates.append(GateRow(gate=gate, bucket=gate_bucket(gate), scope_prs=prs_of_gate.get(gate.pk, []), items=items))
    tally = gate_tally(row.gate for row in gates)
    reviewing = batch.state == BatchState.READY_FOR_REVIEW and bool(open_review_batch_ids([batch.pk]))
    move = batch_move(batch, review_open=reviewing)
    overrides = list(_overrides().filter(Q(batch=batch) | Q(related_batch=batch)))
    manual = [row for row in gates if row.gate.kind == GateKind.MANUAL]
    return BatchBoard(
        batch=batch,
        prs=list(prs.values()),
        gates=gates,
        manual_gates=manual,
        tally=tally,
        verdict=batch_verdict(batch, tally),
        blockers=batch_blockers(batch),
        move=move,
        action=next_action(batch, user, move, [item for row in manual for item in row.items]),
        overrides=overrides,
    )


# -- roadmap -------------------------------------------------------------------------


@dataclass
class RoadmapRow:
    """A batch on the roadmap: where the plan puts it, when it really started, got ready and was approved."""

    batch: Batch
    planned_position: int
    actual_position: int | None  # the order batches really started in; None until it starts
    override: BatchEvent | None
    # The timeline bar, in percent of the span from the first start to now: in progress, then in review.
    bar_offset: float = 0.0
    work_width: float = 0.0
    review_width: float = 0.0

    @property
    def review_offset(self) -> float:
        return self.bar_offset + self.work_width

    @property
    def target_date(self) -> date | None:
        return self.batch.target_date

    @property
    def days_late(self) -> int:
        """Days past the plan's milestone: when approved, or today while it is not. 0 when on time or none."""
        if self.batch.target_date is None:
            return 0
        done = timezone.localdate(self.batch.approved_at) if self.batch.approved_at else timezone.localdate()
        return max((done - self.batch.target_date).days, 0)

    @property
    def out_of_order(self) -> bool:
        return self.actual_position is not None and self.actual_position != self.planned_position


@dataclass
class Roadmap:
    plan: Plan
    rows: list[RoadmapRow]
    first_start: datetime | None  # where the timeline begins

    @property
    def has_milestones(self) -> bool:
        return any(row.target_date for row in self.rows)

    @property
    def in_planned_order(self) -> bool:
        return not any(row.out_of_order for row in self.rows)

    @property
    def ai_review_principle(self) -> dict | None:
        """The principle the critical-path rule comes from."""
        return next(
            (p for p in self.plan.principles or [] if "review" in f"{p.get('title', '')} {p.get('text', '')}".lower()),
            None,
        )


def _percent(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole > 0 else 0.0


def plan_roadmap(plan: Plan) -> Roadmap:
    """Every batch of ``plan`` in planned order with its actual dates: two queries, whatever the plan's size."""
    # Goals and tasks are JSON the roadmap never shows: not decoding them is most of a 50-batch page's ORM time.
    batches = list(plan.batches.order_by("number").defer("goals", "key_tasks"))
    overrides = {
        e.batch_id: e
        for e in BatchEvent.objects.filter(batch__plan=plan, action=BatchEventAction.STARTED_WITH_OVERRIDE).order_by(
            "created_at"
        )
    }
    started = sorted((b for b in batches if b.started_at), key=lambda b: (b.started_at, b.number))
    actual = {b.pk: position for position, b in enumerate(started, start=1)}
    now = timezone.now()
    first = started[0].started_at if started else None
    span = (now - first).total_seconds() if first else 0.0
    rows = []
    for position, batch in enumerate(batches, start=1):
        batch.plan = plan
        row = RoadmapRow(batch, position, actual.get(batch.pk), overrides.get(batch.pk))
        if first and batch.started_at:
            ready = batch.ready_at or batch.approved_at
            end = batch.approved_at or now
            row.bar_offset = _percent((batch.started_at - first).total_seconds(), span)
            row.work_width = max(_percent(((ready or end) - batch.started_at).total_seconds(), span), 0.5)
            row.review_width = _percent((end - ready).total_seconds(), span) if ready else 0.0
        rows.append(row)
    return Roadmap(plan=plan, rows=rows, first_start=first)


# -- home: where each plan stands ------------------------------------------------------


@dataclass
class PlanStatus:
    """The home page's line for a plan: its current batch, and whether it is ready, blocked or in review."""

    plan: Plan
    batch: Batch | None  # None: every batch approved (or none planned)
    tone: str  # good / warn / bad / neutral
    headline: str
    blockers: list[str] = field(default_factory=list)


def _current_batch_ids(rows: list[tuple[int, int, str]]) -> tuple[int | None, int | None]:
    """(current, its predecessor) among one plan's (pk, number, state) in order.

    The current batch is the first started one not yet approved, else the first planned one.
    """
    started = [r for r in rows if r[2] in (BatchState.IN_PROGRESS, BatchState.READY_FOR_REVIEW)]
    planned = [r for r in rows if r[2] == BatchState.PLANNED]
    candidates = started or planned
    if not candidates:
        return None, None
    current = candidates[0]
    earlier = [r for r in rows if r[1] < current[1]]
    return current[0], earlier[-1][0] if earlier else None


def plan_status(plan: Plan, batch: Batch | None) -> PlanStatus:
    """What the current batch waits for, from the rule its next move applies (``batch_move``)."""
    if batch is None:
        return PlanStatus(plan, None, "good", "Every batch approved")
    move = batch_move(batch)
    refusals = move.refusals if move else []
    label = f"Batch {batch.number}"
    if batch.state == BatchState.PLANNED:
        if refusals:
            return PlanStatus(plan, batch, "warn", f"{label} blocked: it cannot start yet", refusals)
        return PlanStatus(plan, batch, "neutral", f"{label} ready to start")
    if batch.state == BatchState.IN_PROGRESS:
        if refusals:
            return PlanStatus(plan, batch, "bad", f"{label} in progress, blocked", refusals)
        return PlanStatus(plan, batch, "good", f"{label} ready: every gate passing or waived")
    if refusals:
        return PlanStatus(plan, batch, "bad", f"{label} in review, blocked: a gate turned", refusals)
    return PlanStatus(plan, batch, "good", f"{label} in review")


def home_statuses(plans: Sequence[Plan]) -> list[PlanStatus]:
    """Each plan's status: three queries whatever the number of plans and batches.

    Only the current batch and its predecessor (the cadence reads its gates) are loaded with their gates.
    """
    rows: dict[int, list[tuple[int, int, str]]] = {}
    batch_rows = Batch.objects.filter(plan__in=plans).order_by("plan_id", "number")
    for pk, plan_id, number, state in batch_rows.values_list("pk", "plan_id", "number", "state"):
        rows.setdefault(plan_id, []).append((pk, number, state))
    wanted = {plan.pk: _current_batch_ids(rows.get(plan.pk, [])) for plan in plans}
    ids = [pk for pair in wanted.values() for pk in pair if pk is not None]
    loaded = {b.pk: b for b in Batch.objects.filter(pk__in=ids).prefetch_related("gates")}
    statuses = []
    for plan in plans:
        current_id, previous_id = wanted[plan.pk]
        batch = loaded.get(current_id) if current_id else None
        if batch is not None:
            batch.plan = plan
            batch._previous_batch = loaded.get(previous_id) if previous_id else None
        statuses.append(plan_status(plan, batch))
    return statuses
