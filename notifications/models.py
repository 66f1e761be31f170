"""Per-plan notification settings and the delivery log: one row per event and channel, never sent twice."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone

from batches.models import Plan


class NotificationEvent(models.TextChoices):
    GATE_FAILING = "gate_failing", "A gate turns failing"
    BATCH_READY = "batch_ready", "A batch becomes ready for review"
    REVIEW_DECISION = "review_decision", "A review decision is recorded"
    GATE_STALE = "gate_stale", "A gate has been stale for longer than the threshold"


class Channel(models.TextChoices):
    SLACK = "slack", "Slack"
    EMAIL = "email", "Email"


class PlanNotifications(models.Model):
    """What a plan announces, and where. Off until a release manager turns it on."""

    plan = models.OneToOneField(Plan, on_delete=models.CASCADE, related_name="notification_settings")
    enabled = models.BooleanField(default=False)
    events = models.JSONField(default=list, blank=True, help_text="NotificationEvent values to announce")
    # A secret: whoever has it can post to the channel. Pages show it masked (``slack_webhook_hint``).
    slack_webhook_url = models.URLField(max_length=500, blank=True)
    email_recipients = models.JSONField(default=list, blank=True, help_text="Addresses that get every message")
    stale_after_minutes = models.PositiveIntegerField(
        default=60, help_text="A gate stale for longer than this is announced (once per stale spell)"
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "plan notification settings"
        verbose_name_plural = "plan notification settings"

    def __str__(self) -> str:
        return f"Notifications for {self.plan}"

    def announces(self, event: str) -> bool:
        return self.enabled and event in self.events and bool(self.channels())

    def channels(self) -> list[str]:
        found: list[str] = []
        if self.slack_webhook_url:
            found.append(Channel.SLACK)
        if self.email_recipients:
            found.append(Channel.EMAIL)
        return found

    @property
    def slack_webhook_hint(self) -> str:
        """The webhook URL as pages show it: the host and the last four characters, never the secret path."""
        return webhook_hint(self.slack_webhook_url)


def webhook_hint(url: str) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…{url[-4:]}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed; will retry"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Not sent"


class Delivery(models.Model):
    """One message to one channel. The unique (event key, channel) is the claim that it is sent at most once.

    A row is written in the same transaction as the event it announces, before
    anything is sent; a second attempt to record the same event finds the row
    and sends nothing. Each send attempt claims the row first (a conditional
    update from pending/retrying to sending), so two workers never send it twice.
    """

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=20, choices=NotificationEvent)
    event_key = models.CharField(max_length=200, help_text="Identifies the event, e.g. gate-event:42")
    channel = models.CharField(max_length=10, choices=Channel)
    subject = models.CharField(max_length=300)
    text = models.TextField()
    url = models.URLField(max_length=500, help_text="The page the message links to")
    recipients = models.JSONField(default=list, blank=True, help_text="Email: the addresses when it was recorded")
    status = models.CharField(max_length=10, choices=DeliveryStatus, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["event_key", "channel"], name="delivery_once_per_event")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.subject}"
