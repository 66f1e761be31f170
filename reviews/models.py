"""The stakeholder review that closes a batch: the plan's release checklist, review sessions, summary comments.

Everything here is append-only, like sign-offs: a checklist item keeps every
revision of its words, a session's attendees, confirmations and decision are
rows only ever inserted, and each summary comment posted to GitHub is recorded
once per pull request.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from batches.models import Batch, Plan, PlannedPR


class ReleaseChecklist(models.Model):
    """A plan's release checklist, e.g. imported from the team's PRODUCTION_DEPLOYMENT_GUIDE.md."""

    plan = models.OneToOneField(Plan, on_delete=models.CASCADE, related_name="release_checklist")
    source_name = models.CharField(max_length=255, blank=True, help_text="The file it was last imported from")
    source_sha256 = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Release checklist of {self.plan}"

    def get_absolute_url(self) -> str:
        return reverse("pages:checklist", kwargs={"slug": self.plan.slug})


class ReleaseCheckItem(models.Model):
    """One ``- [ ] item`` of the checklist. Never deleted: a removed item is retired, its history kept.

    ``heading`` and ``text`` are the current words; every change appends a
    :class:`ReleaseCheckRevision`.
    """

    checklist = models.ForeignKey(ReleaseChecklist, on_delete=models.CASCADE, related_name="items")
    heading = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    position = models.PositiveIntegerField(default=0)
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["checklist_id", "position", "pk"]

    def __str__(self) -> str:
        return self.text


class RevisionAction(models.TextChoices):
    ADDED = "added", "Added"
    EDITED = "edited", "Edited"
    RETIRED = "retired", "Removed"
    RESTORED = "restored", "Restored"


class ReleaseCheckRevision(models.Model):
    """An item's history: the words it had after each change, who made it and how (file or portal)."""

    item = models.ForeignKey(ReleaseCheckItem, on_delete=models.PROTECT, related_name="revisions")
    action = models.CharField(max_length=10, choices=RevisionAction)
    heading = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    previous_text = models.TextField(blank=True)
    source = models.CharField(max_length=255, help_text="“portal”, or the file name of an import")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["item_id", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.text}"


class ReviewSession(models.Model):
    """One end-of-batch review meeting. Open until its :class:`ReviewDecision` is recorded."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="review_sessions")
    number = models.PositiveIntegerField(help_text="1 for the batch's first review, 2 after a send-back…")
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["batch_id", "number"]
        constraints = [models.UniqueConstraint(fields=["batch", "number"], name="review_number_unique_in_batch")]

    def __str__(self) -> str:
        return f"Review {self.number} of batch {self.batch_id}"


class ReviewAttendee(models.Model):
    """Someone in the room: a portal user, or a name typed in (a stakeholder without an account)."""

    session = models.ForeignKey(ReviewSession, on_delete=models.CASCADE, related_name="attendees")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(max_length=150)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session_id", "added_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["session", "name"], name="review_attendee_once"),
        ]

    def __str__(self) -> str:
        return self.name


class ReviewConfirmation(models.Model):
    """A checklist item confirmed in a session by a named attendee, with a note. Once per item and session."""

    session = models.ForeignKey(ReviewSession, on_delete=models.CASCADE, related_name="confirmations")
    item = models.ForeignKey(ReleaseCheckItem, on_delete=models.PROTECT, related_name="confirmations")
    item_text = models.TextField(help_text="The item's words when it was confirmed")
    attendee = models.ForeignKey(ReviewAttendee, on_delete=models.PROTECT, related_name="confirmations")
    note = models.TextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session_id", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["session", "item"], name="review_item_confirmed_once"),
            models.CheckConstraint(condition=~Q(note=""), name="review_confirmation_has_note"),
        ]

    def __str__(self) -> str:
        return f"{self.item_text} – {self.attendee}"


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    APPROVED_WITH_FOLLOW_UPS = "approved_follow_ups", "Approved with follow-ups"
    SENT_BACK = "sent_back", "Sent back"


class ReviewDecision(models.Model):
    """How a session ended; exactly one per session, never changed."""

    session = models.OneToOneField(ReviewSession, on_delete=models.CASCADE, related_name="decision")
    decision = models.CharField(max_length=20, choices=Decision)
    reason = models.TextField(blank=True, help_text="Send-backs: why")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(decision="sent_back") | ~Q(reason=""), name="review_send_back_reason"),
        ]

    def __str__(self) -> str:
        return self.get_decision_display()

    @property
    def approves(self) -> bool:
        return self.decision != Decision.SENT_BACK


class FollowUp(models.Model):
    """Work an approval with follow-ups leaves open, each with its owner."""

    decision = models.ForeignKey(ReviewDecision, on_delete=models.CASCADE, related_name="follow_ups")
    text = models.TextField()
    owner = models.CharField(max_length=150)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["decision_id", "position", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(text="") & ~Q(owner=""), name="follow_up_has_text_and_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.text} ({self.owner})"


class SummaryComment(models.Model):
    """The batch's summary, posted as a comment on one of its pull requests. One per PR, ever.

    Remembered so that a retry never posts twice; the comment also carries a
    hidden marker so a comment whose answer was lost is found before posting.
    """

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="summary_comments")
    pr = models.ForeignKey(PlannedPR, on_delete=models.PROTECT, related_name="summary_comments")
    github_repository = models.CharField(max_length=200)
    github_number = models.PositiveIntegerField()
    comment_id = models.BigIntegerField()
    html_url = models.URLField(max_length=500)
    body = models.TextField(help_text="What was posted")
    found_existing = models.BooleanField(default=False, help_text="Found on GitHub by its marker, not posted now")
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    posted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["batch_id", "pr__number"]
        constraints = [models.UniqueConstraint(fields=["batch", "pr"], name="summary_comment_once_per_pr")]

    def __str__(self) -> str:
        return self.html_url
