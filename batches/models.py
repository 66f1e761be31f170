"""The plan as data: ordered batches, their planned PRs and the gates that decide readiness."""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from batches.signals import batch_approved, batch_marked_ready
from portal.links import https_or_blank
from portal.roles import Actor


class GovernanceError(Exception):
    """A lifecycle move the plan's rules do not allow. ``str()`` is a sentence for people."""


class Plan(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    purpose = models.TextField(blank=True)
    principles = models.JSONField(default=list, blank=True, help_text="[{title, text}] in plan order")
    cadence = models.TextField(blank=True)
    stakeholder_checkpoint = models.TextField(blank=True)
    metrics = models.JSONField(default=list, blank=True, help_text="Metric names the plan tracks")
    next_steps = models.JSONField(default=list, blank=True)
    max_prs_per_batch = models.PositiveSmallIntegerField(default=3)
    source_name = models.CharField(max_length=255, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    # Integration settings, per plan (editable in the admin; secrets stay in the environment).
    github_repository = models.CharField(
        max_length=200, blank=True, help_text="owner/name of the repository the plan's PRs live in"
    )
    render_service_ids = models.JSONField(default=list, blank=True, help_text='e.g. ["srv-abc123"]')
    sentry_organization = models.CharField(max_length=100, blank=True)
    sentry_project = models.CharField(max_length=100, blank=True)
    sentry_environment = models.CharField(max_length=100, blank=True)
    ai_reviewer_check_name = models.CharField(
        max_length=200, blank=True, help_text="Check run / status context the AI reviewer posts, e.g. claude-review"
    )
    ai_reviewer_bot_login = models.CharField(max_length=100, blank=True, help_text="e.g. claude[bot]")
    ai_review_timeout_minutes = models.PositiveIntegerField(
        default=60, help_text="After this long with no AI review on the head commit, the reviewer counts as unavailable"
    )
    # Whether every batch gets a deploy / observability gate the plan does not
    # spell out. None means "automatic": on once the provider is configured.
    deploy_gate_every_batch = models.BooleanField(
        null=True, blank=True, help_text="Every batch needs a Render deploy gate (empty: when Render services are set)"
    )
    observability_gate_every_batch = models.BooleanField(
        null=True, blank=True, help_text="Every batch needs a Sentry gate (empty: when a Sentry project is set)"
    )
    # The plan's AI-assisted review principle: a linked PR changing a file that matches
    # one of these globs needs an AI review, even where its batch's gates do not name it.
    critical_paths = models.JSONField(
        default=list,
        blank=True,
        help_text='Path globs whose changes need an AI review, e.g. ["backend/app/routers/**", "**/auth/**"]',
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("pages:plan", kwargs={"slug": self.slug})

    @property
    def has_render_services(self) -> bool:
        return any(isinstance(s, str) and s.strip() for s in self.render_service_ids or [])

    @property
    def has_sentry_project(self) -> bool:
        return bool(self.sentry_organization.strip() and self.sentry_project.strip())

    @property
    def wants_deploy_gates(self) -> bool:
        """Does every batch get a deploy gate the plan does not name? Automatic: when Render is configured."""
        if self.deploy_gate_every_batch is None:
            return self.has_render_services
        return self.deploy_gate_every_batch

    @property
    def wants_observability_gates(self) -> bool:
        """Does every batch get a Sentry gate the plan does not name? Automatic: when Sentry is configured."""
        if self.observability_gate_every_batch is None:
            return self.has_sentry_project
        return self.observability_gate_every_batch


class BatchState(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    READY_FOR_REVIEW = "ready_for_review", "Ready for review"
    APPROVED = "approved", "Approved"


class Batch(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    target_pr_count = models.PositiveSmallIntegerField()
    target_date = models.DateField(
        null=True, blank=True, help_text="The plan's milestone for this batch, if it gives one"
    )
    goals = models.JSONField(default=list, blank=True)
    key_tasks = models.JSONField(
        default=list, blank=True, help_text="[{text, pr_numbers, files}] as written in the plan"
    )
    state = models.CharField(max_length=20, choices=BatchState, default=BatchState.PLANNED)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ready_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plan_id", "number"]
        verbose_name_plural = "batches"
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="batch_number_unique_in_plan")]

    def __str__(self) -> str:
        return f"Batch {self.number} – {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("pages:batch", kwargs={"slug": self.plan.slug, "number": self.number})

    # -- lifecycle ---------------------------------------------------------------

    # The predecessor, when a caller loaded it already (not a field): see previous_batch().
    _previous_batch: Batch | None

    def previous_batch(self) -> Batch | None:
        # The plan overview hands every batch its predecessor (with gates
        # prefetched) so that fifty batches cost no extra queries.
        if hasattr(self, "_previous_batch"):
            return self._previous_batch
        return self.plan.batches.filter(number__lt=self.number).order_by("-number").first()

    def predecessor_blockers(self) -> list[str]:
        """Why the plan's cadence says this batch must wait for the one before it; empty when it need not.

        The cadence: "do not start Batch N+1 until Batch N passes smoke tests and
        documentation updates are merged". An approved predecessor qualifies; so
        does one whose every CI gate and docs gate really passes. A waiver does
        not count here: it lets its own batch become ready, but it is not a pass.
        """
        previous = self.previous_batch()
        if previous is None or previous.state == BatchState.APPROVED:
            return []
        if previous.state == BatchState.PLANNED:
            return [f"Batch {previous.number} has not started yet."]
        blockers = []
        # Filtered in Python so a prefetched ``gates`` is used (a batch has a handful of gates).
        gates = [g for g in previous.gates.all() if g.kind in (GateKind.CI, GateKind.DOCS)]
        for kind, label in ((GateKind.CI, "CI"), (GateKind.DOCS, "docs")):
            not_passing = [g for g in gates if g.kind == kind and g.state != GateState.PASSING]
            if not not_passing:
                continue
            waived = sum(1 for g in not_passing if g.is_waived)
            count = len(not_passing)
            sentence = (
                f"Waiting for Batch {previous.number}: {count} {label} gate{'s' if count != 1 else ''} not passing"
            )
            if waived:
                sentence += f" ({waived} waived, and a waiver is not a pass)"
            blockers.append(sentence + ".")
        return blockers

    def start_blockers(self) -> list[str]:
        """Why this batch may not start yet, in plain words; empty when it may (without an override)."""
        if self.state != BatchState.PLANNED:
            return [f"Batch {self.number} is already {self.get_state_display().lower()}."]
        return self.predecessor_blockers()

    def start(self, *, by: Actor, override_reason: str = "") -> None:
        """Start the batch. If the cadence says wait, only a release manager's written override starts it.

        The override is recorded (who, why, what it overrode) on this batch's
        history, pointing at the predecessor so both batches show it.
        """
        reason = (override_reason or "").strip()
        with transaction.atomic():
            locked = Batch.objects.select_for_update().get(pk=self.pk)
            if locked.state != BatchState.PLANNED:
                raise GovernanceError(f"Batch {self.number} is already {locked.get_state_display().lower()}.")
            blockers = locked.predecessor_blockers()
            if blockers and not reason:
                raise GovernanceError(
                    f"Batch {self.number} cannot start. " + " ".join(blockers) + " A release manager can start it "
                    "anyway with an override and a written reason."
                )
            self._transition(BatchState.IN_PROGRESS, started_at=timezone.now(), started_by=by)
            if blockers:
                BatchEvent.objects.create(
                    batch=self,
                    action=BatchEventAction.STARTED_WITH_OVERRIDE,
                    by=by,
                    reason=reason,
                    detail=" ".join(blockers),
                    related_batch=locked.previous_batch(),
                )
            else:
                BatchEvent.objects.create(batch=self, action=BatchEventAction.STARTED, by=by)

    def readiness_blockers(self) -> list[str]:
        """What keeps this batch from being ready for review: every gate must pass or be waived."""
        return [gate.blocking_sentence() for gate in self.gates.all() if not gate.is_satisfied]

    def ready_blockers(self) -> list[str]:
        """Why "mark ready" would be refused now; empty when it would succeed."""
        if self.state != BatchState.IN_PROGRESS:
            return [
                f"Only a batch in progress can be marked ready; Batch {self.number} is "
                f"{self.get_state_display().lower()}."
            ]
        return self.readiness_blockers()

    def mark_ready(self, *, by: Actor) -> None:
        with transaction.atomic():
            locked = Batch.objects.select_for_update().get(pk=self.pk)
            blockers = locked.ready_blockers()
            if blockers:
                if locked.state != BatchState.IN_PROGRESS:
                    raise GovernanceError(blockers[0])
                raise GovernanceError(f"Batch {self.number} is not ready. " + " ".join(blockers))
            self._transition(BatchState.READY_FOR_REVIEW, ready_at=timezone.now())
            event = BatchEvent.objects.create(batch=self, action=BatchEventAction.MARKED_READY, by=by)
            batch_marked_ready.send_robust(sender=Batch, batch=self, event=event)

    def approve_blockers(self) -> list[str]:
        """Why "approve" would be refused now. Gates are checked again: one may have turned since "ready"."""
        if self.state != BatchState.READY_FOR_REVIEW:
            return [
                f"Only a batch that is ready for review can be approved; Batch {self.number} is "
                f"{self.get_state_display().lower()}."
            ]
        return self.readiness_blockers()

    def approve(self, *, by: Actor) -> None:
        with transaction.atomic():
            locked = Batch.objects.select_for_update().get(pk=self.pk)
            blockers = locked.approve_blockers()
            if blockers:
                if locked.state != BatchState.READY_FOR_REVIEW:
                    raise GovernanceError(blockers[0])
                raise GovernanceError(f"Batch {self.number} cannot be approved now. " + " ".join(blockers))
            self._transition(BatchState.APPROVED, approved_at=timezone.now(), approved_by=by)
            event = BatchEvent.objects.create(batch=self, action=BatchEventAction.APPROVED, by=by)
            batch_approved.send_robust(sender=Batch, batch=self, event=event)

    def send_back_refusal(self) -> str | None:
        """Why "send back" would be refused now; None when it may."""
        if self.state != BatchState.READY_FOR_REVIEW:
            return (
                f"Only a batch that is ready for review can be sent back; Batch {self.number} is "
                f"{self.get_state_display().lower()}."
            )
        return None

    def send_back(self, *, by: Actor, reason: str) -> BatchEvent:
        """The review sends the batch back to in progress, with a written reason.

        It must be marked ready, and reviewed, again before it can be approved.
        """
        reason = (reason or "").strip()
        if not reason:
            raise GovernanceError("Write why the batch is being sent back.")
        with transaction.atomic():
            locked = Batch.objects.select_for_update().get(pk=self.pk)
            refusal = locked.send_back_refusal()
            if refusal:
                raise GovernanceError(refusal)
            self._transition(BatchState.IN_PROGRESS, from_state=BatchState.READY_FOR_REVIEW, ready_at=None)
            return BatchEvent.objects.create(batch=self, action=BatchEventAction.SENT_BACK, by=by, reason=reason)

    def _transition(self, new_state: str, *, from_state: str | None = None, **fields) -> None:
        # A conditional update: the row only moves if nobody moved it since we read it.
        expected = from_state or self._expected_from(new_state)
        updated = Batch.objects.filter(pk=self.pk, state=expected).update(
            state=new_state, updated_at=timezone.now(), **fields
        )
        if updated != 1:
            raise GovernanceError(f"Batch {self.number} changed while you were looking at it; reload and try again.")
        self.refresh_from_db()

    @staticmethod
    def _expected_from(new_state: str) -> str:
        expected: dict[str, str] = {
            BatchState.IN_PROGRESS: BatchState.PLANNED,
            BatchState.READY_FOR_REVIEW: BatchState.IN_PROGRESS,
            BatchState.APPROVED: BatchState.READY_FOR_REVIEW,
        }
        return expected[new_state]


class BatchEventAction(models.TextChoices):
    STARTED = "started", "Started"
    STARTED_WITH_OVERRIDE = "started_override", "Started with an override"
    MARKED_READY = "marked_ready", "Marked ready for review"
    APPROVED = "approved", "Approved"
    SENT_BACK = "sent_back", "Sent back by the review"
    GATE_ADDED = "gate_added", "Gate added by the plan settings"
    GATE_REMOVED = "gate_removed", "Gate removed by the plan settings"
    CRITICAL_GATE_ADDED = "critical_added", "AI-review gate added by the critical-path rule"
    CRITICAL_GATE_CHANGED = "critical_changed", "Critical-path AI-review gate now covers other PRs"
    CRITICAL_GATE_REMOVED = "critical_removed", "AI-review gate removed: no PR touches a critical path"


class BatchEvent(models.Model):
    """Append-only history of a batch: lifecycle moves, overrides, gates added or removed by settings."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20, choices=BatchEventAction)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True, help_text="Overrides and send-backs: the release manager's written reason")
    detail = models.TextField(blank=True, help_text="Overrides: what the cadence said at the time")
    related_batch = models.ForeignKey(
        Batch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="overridden_by_events",
        help_text="Overrides: the predecessor whose cadence rule was overridden",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["batch_id", "created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action="started_override") | ~Q(reason=""), name="batch_override_has_reason"
            ),
            models.CheckConstraint(condition=~Q(action="sent_back") | ~Q(reason=""), name="batch_send_back_has_reason"),
        ]

    def __str__(self) -> str:
        return f"Batch {self.batch_id}: {self.get_action_display()}"


class PlannedPR(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="prs")
    number = models.PositiveIntegerField(help_text="The plan's own PR number, e.g. 3 for “PR #3”")
    task = models.TextField(blank=True)
    files = models.JSONField(default=list, blank=True)

    # The real pull request on GitHub, once linked.
    github_repository = models.CharField(max_length=200, blank=True)
    github_number = models.PositiveIntegerField(null=True, blank=True)
    github_url = models.URLField(blank=True)
    head_sha = models.CharField(max_length=40, blank=True)
    github_state = models.CharField(max_length=20, blank=True, help_text="open / closed")
    draft = models.BooleanField(default=False)
    merged_at = models.DateTimeField(null=True, blank=True)
    merge_commit_sha = models.CharField(max_length=40, blank=True)
    changed_files = models.JSONField(default=list, blank=True)
    head_committed_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # When what the portal shows of it last changed (a sync that finds nothing new leaves it):
    # open pages follow it (pages/live.py), the sync scheduler follows last_synced_at.
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch_id", "number"]
        verbose_name = "planned PR"
        constraints = [models.UniqueConstraint(fields=["batch", "number"], name="pr_number_unique_in_batch")]

    def __str__(self) -> str:
        return f"PR #{self.number}"

    @property
    def is_linked(self) -> bool:
        return bool(self.github_repository and self.github_number)

    @property
    def github_link(self) -> str:
        """``github_url`` if it may be an href (https only), else ``""``: rows written before the check too."""
        return https_or_blank(self.github_url)

    @property
    def is_merged(self) -> bool:
        return self.merged_at is not None


class GateKind(models.TextChoices):
    CI = "ci", "CI"
    AI_REVIEW = "ai_review", "AI review"
    MANUAL = "manual", "Manual"
    DEPLOY = "deploy", "Deploy"
    OBSERVABILITY = "observability", "Observability"
    DOCS = "docs", "Docs"


class GateState(models.TextChoices):
    PENDING = "pending", "Pending"
    PASSING = "passing", "Passing"
    FAILING = "failing", "Failing"
    STALE = "stale", "Stale"
    NEEDS_CONFIG = "needs_config", "Needs configuration"
    REVIEWER_UNAVAILABLE = "reviewer_unavailable", "Reviewer unavailable"
    # Never stored in Gate.state (which keeps what the gate evaluated to): it is
    # what Gate.status shows while a release manager's waiver stands.
    WAIVED = "waived", "Waived"


# How a gate that does not pass reads in a blocker sentence: “CI gate “pytest” is failing.”
_BLOCKING_PHRASES: dict[str, str] = {
    GateState.PENDING: "is pending",
    GateState.FAILING: "is failing",
    GateState.STALE: "is stale: its provider could not be read",
    GateState.NEEDS_CONFIG: "needs configuration",
    GateState.REVIEWER_UNAVAILABLE: "has no review: the reviewer is unavailable",
}


class GateOrigin(models.TextChoices):
    PLAN = "plan", "Named by the plan"
    SETTINGS = "settings", "Required by the plan settings for every batch"
    CRITICAL_PATH = "critical", "Required by the critical-path rule"


class WaiverError(GovernanceError):
    """A waiver or its revocation was refused; nothing was written. ``str()`` is for people."""


class GateScope(models.TextChoices):
    BATCH = "batch", "Whole batch"
    PRS = "prs", "Named PRs"


class Gate(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="gates")
    key = models.SlugField(max_length=50, help_text="Stable identity within the batch, kept across re-imports")
    kind = models.CharField(max_length=20, choices=GateKind)
    label = models.TextField(help_text="As written in the plan, e.g. the CI command")
    position = models.PositiveSmallIntegerField(default=0)
    origin = models.CharField(
        max_length=10, choices=GateOrigin, default=GateOrigin.PLAN, help_text="Why the batch has this gate"
    )
    scope = models.CharField(max_length=10, choices=GateScope, default=GateScope.BATCH)
    prs = models.ManyToManyField(PlannedPR, blank=True, related_name="gates")
    check_name = models.CharField(
        max_length=200, blank=True, help_text="CI gates: the check run name or status context (fnmatch pattern)"
    )
    doc_files = models.JSONField(default=list, blank=True, help_text="Docs gates: files the batch must change")

    state = models.CharField(max_length=25, choices=GateState, default=GateState.PENDING)
    last_known_state = models.CharField(
        max_length=25, choices=GateState, blank=True, help_text="While stale: the state before the error"
    )
    detail = models.TextField(blank=True, help_text="What explains the state: which check, which error")
    detail_url = models.URLField(blank=True, max_length=500)
    source = models.CharField(max_length=200, blank=True, help_text="Where the state came from")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # When its state, detail, link or source last changed: an evaluation that finds the same
    # leaves it, so open pages (pages/live.py) are not rendered again for every poll of GitHub.
    changed_at = models.DateTimeField(null=True, blank=True)
    waived_at = models.DateTimeField(null=True, blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    waiver_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["batch_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "key"], name="gate_key_unique_in_batch"),
            models.CheckConstraint(
                condition=Q(waived_at__isnull=True) | ~Q(waiver_reason=""), name="gate_waiver_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"

    @property
    def is_waived(self) -> bool:
        return self.waived_at is not None

    @property
    def is_satisfied(self) -> bool:
        """Does the gate let its own batch become ready? Passing, or waived."""
        return self.state == GateState.PASSING or self.is_waived

    @property
    def status(self) -> str:
        """What people see: "waived" while a waiver stands over a gate that does not pass, else the state."""
        if self.is_waived and self.state != GateState.PASSING:
            return GateState.WAIVED
        return self.state

    def get_status_display(self) -> str:
        return GateState(self.status).label

    def blocking_sentence(self) -> str:
        """The gate as a blocker, in plain words."""
        phrase = _BLOCKING_PHRASES.get(self.state, f"is {self.get_state_display().lower()}")
        sentence = f"{self.get_kind_display()} gate “{self.label}” {phrase}"
        if self.kind == GateKind.MANUAL and self.detail:
            sentence += f" ({self.detail.rstrip('.')})"
        return sentence + "."

    # -- waivers: the one place their rule lives -----------------------------------

    def waiver_refusal(self) -> str | None:
        """Why this gate may not be waived right now; None when it may.

        A waiver is for a gate that cannot tell the truth right now (the AI
        reviewer is rate limited or down, a provider is unreachable): a passing
        gate has nothing to waive and a failing one is a real finding to fix.
        Reads ``self.batch``.
        """
        if self.kind == GateKind.MANUAL:
            return "Manual gates are signed off item by item, not waived."
        if self.is_waived:
            return "This gate is already waived."
        if self.state == GateState.PASSING:
            return "This gate is passing; there is nothing to waive."
        if self.state == GateState.FAILING:
            return "This gate is failing: that is a finding to fix, not to waive."
        if self.batch.state not in (BatchState.IN_PROGRESS, BatchState.READY_FOR_REVIEW):
            return (
                f"Batch {self.batch.number} is {self.batch.get_state_display().lower()}; "
                "only the gates of a batch in progress can be waived."
            )
        return None

    @property
    def can_be_waived(self) -> bool:
        return self.waiver_refusal() is None

    def revocation_refusal(self) -> str | None:
        """Why this gate's waiver may not be revoked right now; None when it may."""
        if not self.is_waived:
            return "This gate is not waived."
        if self.batch.state == BatchState.APPROVED:
            return f"Batch {self.batch.number} is approved; its waivers stay as they were approved."
        return None

    def waive(self, *, by: Actor, reason: str) -> None:
        """Waive the gate with a written reason, recorded in its append-only history. Raises WaiverError."""
        reason = (reason or "").strip()
        if not reason:
            raise WaiverError("Write why the gate is being waived.")
        with transaction.atomic():
            locked = Gate.objects.select_for_update(of=("self",)).select_related("batch").get(pk=self.pk)
            refusal = locked.waiver_refusal()
            if refusal:
                raise WaiverError(refusal)
            now = timezone.now()
            Gate.objects.filter(pk=self.pk).update(waived_at=now, waived_by=by, waiver_reason=reason)
            GateEvent.objects.create(
                gate=locked,
                action=GateEventAction.WAIVED,
                state=locked.state,
                previous_state=locked.state,
                by=by,
                reason=reason,
            )
        self.waived_at, self.waived_by, self.waiver_reason = now, by, reason

    def revoke_waiver(self, *, by: Actor, reason: str) -> None:
        """Withdraw the gate's waiver; the gate counts by its own state again. Raises WaiverError."""
        reason = (reason or "").strip()
        if not reason:
            raise WaiverError("Write why the waiver is being revoked.")
        with transaction.atomic():
            locked = Gate.objects.select_for_update(of=("self",)).select_related("batch").get(pk=self.pk)
            refusal = locked.revocation_refusal()
            if refusal:
                raise WaiverError(refusal)
            self._clear_waiver()
            GateEvent.objects.create(
                gate=locked,
                action=GateEventAction.WAIVER_REVOKED,
                state=locked.state,
                previous_state=locked.state,
                by=by,
                reason=reason,
            )

    def lift_waiver_if_failing(self, *, state: str) -> bool:
        """A waiver covers a gate that could not report; a real failure arriving later lifts it.

        Called by the evaluation before it stores ``state``. True when a waiver was lifted.
        """
        if not self.is_waived or state != GateState.FAILING:
            return False
        self._clear_waiver()
        GateEvent.objects.create(
            gate=self,
            action=GateEventAction.WAIVER_LIFTED,
            state=state,
            previous_state=self.state,
            detail=(
                "The AI reviewer reported findings, so the waiver no longer applies."
                if self.kind == GateKind.AI_REVIEW
                else "The gate reported a failure, so the waiver no longer applies."
            ),
        )
        return True

    def _clear_waiver(self) -> None:
        Gate.objects.filter(pk=self.pk).update(waived_at=None, waived_by=None, waiver_reason="")
        self.waived_at, self.waived_by, self.waiver_reason = None, None, ""

    @property
    def detail_link(self) -> str:
        """``detail_url`` if it may be an href (https only), else ``""``: rows written before the check too."""
        return https_or_blank(self.detail_url)

    def record_result(self, *, state: str, detail: str = "", detail_url: str = "", source: str = "") -> bool:
        """Store a freshly evaluated state. Returns True when the state changed."""
        if state == GateState.WAIVED:
            raise ValueError("A gate is waived by Gate.waive(), never evaluated as waived.")
        now = timezone.now()
        changed = state != self.state
        fields = {
            "state": state,
            "detail": detail,
            "detail_url": https_or_blank(detail_url),
            "source": source,
            "last_checked_at": now,
        }
        if changed:
            fields["state_changed_at"] = now
        if any(getattr(self, name) != value for name, value in fields.items() if name != "last_checked_at"):
            fields["changed_at"] = now
        Gate.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)
        return changed

    def record_error(self, *, error: str) -> None:
        """An evaluation failed: mark the gate stale, remember what it last knew, show the error.

        A stale gate is not satisfied, so an error can never make a batch ready.
        """
        if self.state != GateState.STALE:
            self.last_known_state = self.state
        now = timezone.now()
        fields: dict = {
            "state": GateState.STALE,
            "last_known_state": self.last_known_state,
            "detail": error,
            "last_checked_at": now,
        }
        if (self.state, self.detail) != (GateState.STALE, error):
            fields["changed_at"] = now
        Gate.objects.filter(pk=self.pk).update(**fields)
        self.state = GateState.STALE
        self.detail = error


class GateEventAction(models.TextChoices):
    STATE_CHANGED = "state_changed", "State changed"
    WAIVED = "waived", "Waived"
    WAIVER_LIFTED = "waiver_lifted", "Waiver lifted"
    WAIVER_REVOKED = "waiver_revoked", "Waiver revoked"


class GateEvent(models.Model):
    """Append-only history of a gate: state changes from evaluation, waivers and their lifting."""

    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20, choices=GateEventAction)
    state = models.CharField(max_length=25, choices=GateState, help_text="The gate's state after the event")
    previous_state = models.CharField(max_length=25, choices=GateState, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True, help_text="Waivers: the release manager's written reason")
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["gate_id", "created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(action="waived") | ~Q(reason=""), name="gate_event_waiver_has_reason"),
            models.CheckConstraint(
                condition=~Q(action="waiver_revoked") | ~Q(reason=""), name="gate_event_revocation_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gate_id} {self.action} → {self.state}"


class ConditionalCache(models.Model):
    """The last 200 response per provider URL, so a conditional request's 304 can reuse its body.

    GitHub does not count a 304 against the rate limit, so an idle sync costs nothing.
    """

    url = models.CharField(max_length=1000, unique=True)
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    link = models.TextField(blank=True, help_text="The response's Link header: a 304 may omit it")
    body = models.TextField()
    fetched_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One row per GitHub delivery id: GitHub re-sends the same id on redelivery, so replays are ignored."""

    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=50)
    received_at = models.DateTimeField(default=timezone.now)
    pr_count = models.PositiveIntegerField(default=0, help_text="Planned PRs the delivery queued for re-evaluation")
    # The outbox: the work the delivery asks for, written with its id in one transaction, and when a
    # task claimed it. Unprocessed rows are queued again by the sweep (batches.tasks.webhook_outbox_drain).
    pr_ids = models.JSONField(default=list, blank=True, help_text="Planned PR ids to re-evaluate")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["received_at"], name="webhook_outbox_pending", condition=models.Q(processed_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"
