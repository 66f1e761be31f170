"""Manual gates' checklists, the append-only sign-off history and the evidence behind it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.db.models import Q
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

from batches.models import Gate


class ChecklistItem(models.Model):
    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="items")
    key = models.SlugField(max_length=50, help_text="Stable identity within the gate, kept across re-imports")
    text = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)
    evidence_required = models.BooleanField(default=False)

    class Meta:
        ordering = ["gate_id", "position"]
        constraints = [models.UniqueConstraint(fields=["gate", "key"], name="item_key_unique_in_gate")]

    def __str__(self) -> str:
        return self.text


class SignOff(models.Model):
    """One event in a checklist item's history. Rows are only ever inserted.

    The item's current state is its latest tick, untick or reset event
    (``signoffs.itemstate.item_state``). ``sequence`` numbers the item's events;
    the unique constraint on (item, sequence) is the database's guarantee that
    two concurrent writers cannot both think they wrote event N.

    People tick, untick and note. A plan re-import appends the other two: a
    *reset* when the words someone ticked changed (or evidence became required),
    so the item must be signed again, and an *amended* record for other changes
    to an item that has history. Those carry the importing user when there is
    one (a release manager in the browser) and none from the command line.
    """

    class Action(models.TextChoices):
        TICK = "tick", "Ticked"
        UNTICK = "untick", "Unticked"
        NOTE = "note", "Noted"
        RESET = "reset", "Reset by plan re-import"
        AMENDED = "amended", "Changed by plan re-import"

    STATE_ACTIONS = (Action.TICK, Action.UNTICK, Action.RESET)
    USER_ACTIONS = (Action.TICK, Action.UNTICK, Action.NOTE)

    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="events")
    sequence = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=Action)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="signoffs"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item_id", "sequence"]
        verbose_name = "sign-off event"
        constraints = [
            models.UniqueConstraint(fields=["item", "sequence"], name="signoff_sequence_unique_per_item"),
            # Only the plan re-import's records may lack a person.
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(action__in=["reset", "amended"]), name="signoff_user_signs"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.user or 'plan re-import'} – {self.item}"


def _evidence_name(instance: Evidence, filename: str) -> str:
    # Never a user-controlled path: a random name and the extension of the format we encoded.
    return f"{uuid.uuid4().hex}.{instance.format_extension}"


def _thumbnail_name(instance: Evidence, filename: str) -> str:
    return f"thumbs/{uuid.uuid4().hex}.webp"


class _EvidenceStorage(LazyObject):
    """``storages["evidence"]``, looked up when first used rather than at import.

    A callable ``storage=`` is called once, when the model class is built; a
    plain lookup there would pin whatever STORAGES said at import time, so a
    changed setting (the per-test folder, a bucket configured later) would be
    ignored. This proxy resolves on first use and forgets on a settings change,
    as Django's own ``default_storage`` does.
    """

    def _setup(self) -> None:
        from django.core.files.storage import storages

        self._wrapped = storages["evidence"]


evidence_storage = _EvidenceStorage()


@receiver(setting_changed)
def _forget_evidence_storage(*, setting: str, **kwargs) -> None:
    if setting in ("STORAGES", "MEDIA_ROOT"):
        evidence_storage._wrapped = empty  # type: ignore[assignment]  # LazyObject's own "not set up" marker


def _evidence_storage():
    return evidence_storage


class Evidence(models.Model):
    """A screenshot attached to a checklist item. Never deleted; a replacement points back."""

    class Format(models.TextChoices):
        PNG = "PNG", "PNG"
        JPEG = "JPEG", "JPEG"
        WEBP = "WEBP", "WebP"

    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="evidence")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    original_name = models.CharField(max_length=255, help_text="Shown to people only; never used as a path")
    format = models.CharField(max_length=10, choices=Format)
    file = models.FileField(storage=_evidence_storage, upload_to=_evidence_name, max_length=200)
    thumbnail = models.FileField(storage=_evidence_storage, upload_to=_thumbnail_name, max_length=200, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    original_size = models.PositiveBigIntegerField()
    stored_size = models.PositiveBigIntegerField()
    original_sha256 = models.CharField(max_length=64)
    stored_sha256 = models.CharField(max_length=64)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["item_id", "uploaded_at", "pk"]
        verbose_name_plural = "evidence"
        constraints = [
            models.CheckConstraint(condition=~Q(replaces=models.F("pk")), name="evidence_not_self_replacing"),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.format}, {self.width}×{self.height})"

    @property
    def format_extension(self) -> str:
        return {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[self.format]

    @property
    def content_type(self) -> str:
        return {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[self.format]

    @property
    def is_current(self) -> bool:
        return not hasattr(self, "replaced_by") or self.replaced_by is None
