"""What the plan overview and the batch review pages show, loaded in a fixed number of queries.

Views call these; templates only read the attributes set here, so no template
ever triggers a query per row (a plan of 50 batches costs what a plan of 4 does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F, Prefetch, QuerySet
from django.urls import reverse

from batches.models import Batch, BatchState, Gate, GateKind, GateState, Plan, PlannedPR
from signoffs.models import ChecklistItem, Evidence, SignOff
from signoffs.roles import Role, user_can, user_roles

# -- permissions as the templates need them ------------------------------------


def permissions_for(user) -> dict[str, bool]:
    """Which controls to show. Only for hiding controls: every view checks again itself."""
    return {
        "tick": user_can(user, "tick"),
        "upload": user_can(user, "upload_evidence"),
        "change_state": user_can(user, "change_batch_state"),
        "link_pr": user_can(user, "link_pr"),
        "import_plan": user_can(user, "import_plan"),
        "waive": user_can(user, "waive_gate"),
    }


# -- gate tallies and verdicts ---------------------------------------------------


@dataclass
class GateTally:
    passing: int = 0
    failing: int = 0
    stale: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.passing + self.failing + self.stale + self.pending

    @property
    def outstanding(self) -> int:
        return self.total - self.passing

    def segments(self) -> list[tuple[str, int, float]]:
        """(name, count, percent) for the progress bar, zero-count segments left out."""
        total = self.total or 1
        return [
            (name, count, round(100 * count / total, 2))
            for name, count in (
                ("passing", self.passing),
                ("failing", self.failing),
                ("stale", self.stale),
                ("pending", self.pending),
            )
            if count
        ]


def gate_bucket(gate: Gate) -> str:
    """The progress-bar bucket of one gate. A waiver counts as passing: the gate no longer blocks."""
    if gate.is_satisfied:
        return "passing"
    if gate.state in (GateState.FAILING, GateState.REVIEWER_UNAVAILABLE):
        return "failing"
    if gate.state == GateState.STALE:
        return "stale"
    return "pending"  # pending and needs-configuration: nothing known yet


def gate_tally(gates) -> GateTally:
    tally = GateTally()
    for gate in gates:
        bucket = gate_bucket(gate)
        setattr(tally, bucket, getattr(tally, bucket) + 1)
    return tally


@dataclass
class Verdict:
    tone: str  # good / warn / bad / neutral: a CSS modifier
    headline: str
    detail: str = ""


def batch_verdict(batch: Batch, tally: GateTally) -> Verdict:
    """The one-line answer a stakeholder wants on the projector."""
    if batch.state == BatchState.APPROVED:
        who = batch.approved_by.get_username() if batch.approved_by_id else "a release manager"
        when = f" on {batch.approved_at:%d %b %Y}" if batch.approved_at else ""
        return Verdict("good", "Approved", f"Approved by {who}{when}.")
    if batch.state == BatchState.READY_FOR_REVIEW:
        return Verdict("good", "Ready for review", f"All {tally.total} gates are passing or waived.")
    if batch.state == BatchState.PLANNED:
        return Verdict("neutral", "Not started", "This batch has not started yet.")
    if tally.outstanding == 0:
        return Verdict("good", "All gates passing", "Waiting for a release manager to mark it ready.")
    tone = "bad" if tally.failing else "warn"
    plural = "s" if tally.outstanding != 1 else ""
    parts = [f"{n} {name}" for name, n, _ in tally.segments() if name != "passing"]
    return Verdict(
        tone, "Not ready", f"{tally.outstanding} of {tally.total} gate{plural} outstanding: {', '.join(parts)}."
    )


def batch_blockers(batch: Batch) -> list[str]:
    """What stands in the batch's way right now, in the model's own words."""
    if batch.state == BatchState.PLANNED:
        return batch.start_blockers()
    if batch.state == BatchState.IN_PROGRESS:
        return batch.readiness_blockers()
    return []


@dataclass
class NextAction:
    text: str
    # A lifecycle button for release managers.
    button_label: str = ""
    button_url: str = ""


def _button(batch: Batch, text: str, url_name: str, label: str) -> NextAction:
    url = reverse(url_name, kwargs={"slug": batch.plan.slug, "number": batch.number})
    return NextAction(text, label, url)


def next_action(batch: Batch, user, blockers: list[str]) -> NextAction | None:
    """What the viewer, given their role, should do next for this batch (None: nothing)."""
    roles = user_roles(user)
    state = batch.state
    if Role.RELEASE_MANAGER in roles:
        if state == BatchState.PLANNED:
            if blockers:
                return NextAction("Wait for the blockers to clear, then start it.")
            return _button(batch, "Start this batch.", "batches:batch-start", f"Start Batch {batch.number}")
        if state == BatchState.IN_PROGRESS:
            if blockers:
                return NextAction("Chase the outstanding gates.")
            return _button(batch, "Mark it ready for review.", "batches:batch-ready", "Mark ready")
        if state == BatchState.READY_FOR_REVIEW:
            return _button(
                batch, "Hold the review and approve it.", "batches:batch-approve", f"Approve Batch {batch.number}"
            )
        return None
    if state != BatchState.IN_PROGRESS:
        if state == BatchState.READY_FOR_REVIEW and Role.STAKEHOLDER in roles:
            return NextAction("Review it: open presenting mode.")
        return None
    manual_open = [g for g in batch.gates.all() if g.kind == GateKind.MANUAL and not g.is_satisfied]
    if Role.ENGINEER in roles and manual_open:
        return NextAction("Tick the manual checklist items you have verified.")
    if Role.OPS in roles and any(i.evidence_required for g in manual_open for i in g.items.all()):
        return NextAction("Upload the dashboard screenshots the checklist asks for.")
    return None


# -- plan overview ---------------------------------------------------------------


@dataclass
class BatchSummary:
    batch: Batch
    tally: GateTally
    blockers: list[str]
    action: NextAction | None
    verdict: Verdict = field(init=False)

    def __post_init__(self):
        self.verdict = batch_verdict(self.batch, self.tally)


def plan_summaries(plan: Plan, user) -> list[BatchSummary]:
    """Every batch of ``plan`` in order, with tallies, blockers and next actions: three queries."""
    items = ChecklistItem.objects.only("pk", "gate_id", "evidence_required")
    gates = Gate.objects.prefetch_related(Prefetch("items", queryset=items))
    batches = list(
        plan.batches.order_by("number")
        .select_related("approved_by")
        .prefetch_related(Prefetch("gates", queryset=gates))
    )
    previous = None
    summaries = []
    for batch in batches:
        batch.plan = plan
        batch._previous_batch = previous  # read by Batch.previous_batch()
        previous = batch
        blockers = batch_blockers(batch)
        summaries.append(
            BatchSummary(batch, gate_tally(batch.gates.all()), blockers, next_action(batch, user, blockers))
        )
    return summaries


# -- batch review ----------------------------------------------------------------


def review_batches() -> QuerySet[Batch]:
    """Batches with everything the review page shows prefetched: a fixed number of queries.

    The planned PRs come joined to the gates that name them (one row per PR and
    gate, ``gate_link`` null for a PR no gate names), which saves a query on the
    page people keep open and poll; ``review_for`` untangles the rows.
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
                Prefetch("items", queryset=review_items())
            ),
        ),
    )


def review_items() -> QuerySet[ChecklistItem]:
    return ChecklistItem.objects.prefetch_related(
        Prefetch("events", queryset=SignOff.objects.select_related("user").order_by("sequence")),
        Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by").order_by("uploaded_at", "pk")),
    )


def item_decorate(item: ChecklistItem, error: str = "", note: str = "") -> ChecklistItem:
    """Derive the item's state from its prefetched history (``is_ticked`` would query per item)."""
    item.history = list(item.events.all())
    state_events = [e for e in item.history if e.action in SignOff.STATE_ACTIONS]
    item.state_event = state_events[-1] if state_events else None
    item.ticked = item.state_event is not None and item.state_event.action == SignOff.Action.TICK
    evidence = list(item.evidence.all())
    replaced = {e.replaces_id for e in evidence if e.replaces_id}
    item.current_evidence = [e for e in evidence if e.pk not in replaced]
    item.error = error
    item.note_value = note
    return item


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
class Review:
    """Everything the review and presenting pages render for one batch."""

    batch: Batch
    prs: list[PlannedPR]
    gates: list[Gate]
    manual_gates: list[Gate]
    tally: GateTally
    verdict: Verdict
    blockers: list[str]
    action: NextAction | None

    @property
    def waivable_gates(self) -> list[Gate]:
        """Gates a release manager may waive (``gate_waive`` has the final word)."""
        return [
            g
            for g in self.gates
            if g.kind != GateKind.MANUAL and not g.is_waived and g.state not in (GateState.PASSING, GateState.FAILING)
        ]


def review_for(batch: Batch, user) -> Review:
    """``batch`` must come from ``review_batches()``."""
    if batch.state == BatchState.PLANNED:
        previous_batch_for(batch)
    prs: dict[int, PlannedPR] = {}
    prs_of_gate: dict[int, list[PlannedPR]] = {}
    for row in batch.pr_rows:
        pr = prs.setdefault(row.pk, row)
        if row.gate_link is not None:
            prs_of_gate.setdefault(row.gate_link, []).append(pr)
    gates = list(batch.gates.all())
    for gate in gates:
        gate.bucket = gate_bucket(gate)
        gate.scope_prs = prs_of_gate.get(gate.pk, [])
        for item in gate.items.all():
            item_decorate(item)
    tally = gate_tally(gates)
    blockers = batch_blockers(batch)
    return Review(
        batch=batch,
        prs=list(prs.values()),
        gates=gates,
        manual_gates=[g for g in gates if g.kind == GateKind.MANUAL],
        tally=tally,
        verdict=batch_verdict(batch, tally),
        blockers=blockers,
        action=next_action(batch, user, blockers),
    )
